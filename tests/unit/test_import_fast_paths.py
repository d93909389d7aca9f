"""The import path's shortcuts change nothing observable: ``json_line`` answers what
``json.loads`` answers (value or error message), the spool's frames read back every value
in order, and ``import_lines`` refuses each bad line with the message it gave before them
(kato/service/knowledge_base.py, kato/service/spool.py)."""

from __future__ import annotations

import json
import math
import random
import sys
from itertools import islice
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.core.errors import ValidationError
from kato.core.hashing import pattern_hash
from kato.core.json_line import json_line
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.service import spool as spool_module
from kato.service.knowledge_base import export_lines, import_lines
from kato.service.spool import Spool

LINES: list[bytes | str] = [
    b'{"name":"PTRN|ab","events":[["a","b"]],"frequency":1}',
    b'{"a": 1} ',  # whitespace after: json.loads skips it
    b'{"a": 1}\n',
    b'{"a": 1}\r\n\t ',
    b'{"a": 1}\x0b',  # not JSON whitespace
    '{"a": 1}\u2028',
    b' {"a": 1}',
    b'{"a": 1}\r',
    b'{"a": 1} {"b": 2}',  # extra data
    b'{"a": 1',  # truncated
    b"{",
    b"{}",
    b'{"a": NaN, "b": -Infinity, "c": 1e999, "d": 123456789012345678901234567890}',
    b'{"s": "\\ud800 \\u00e9 \xc3\xa9 \\n"}',  # escapes, a lone surrogate, UTF-8
    b'{"s": "\xff"}',  # not UTF-8
    b'{"s": "\xed\xa0\x80"}',  # an encoded surrogate: surrogatepass accepts it
    b"\xef\xbb\xbf{}",  # UTF-8 BOM
    '{"a": 1}'.encode("utf-16"),
    '{"a": 1}'.encode("utf-32-le"),
    b"{\x00",
    b"[1, 2]",
    b'"text"',
    b"nul",
    '{"a": "é"}',
    '{"a": 1} x',
    "\ufeff{}",
    bytearray(b'{"a": [1, 2]}'),
]


def _outcome(call, raw):  # type: ignore[no-untyped-def]
    try:
        return "value", call(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("raw", LINES)
def testjson_line_answers_what_json_loads_answers(raw: bytes | str) -> None:
    assert repr(_outcome(json_line, raw)) == repr(_outcome(json.loads, raw))


@given(st.binary(max_size=40).map(lambda tail: b"{" + tail) | st.text(max_size=40))
def testjson_line_equals_json_loads_on_any_input(raw: bytes | str) -> None:
    assert repr(_outcome(json_line, raw)) == repr(_outcome(json.loads, raw))


json_objects = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=6,
    ),
    max_size=4,
)


@given(json_objects, st.booleans(), st.sampled_from(["", "\n", "\r\n", " \t", "\x0c", " x"]))
def testjson_line_decodes_encoded_objects_alike(
    value: dict[str, object], ascii: bool, after: str
) -> None:
    raw = (json.dumps(value, ensure_ascii=ascii) + after).encode("utf-8", "surrogatepass")
    assert repr(_outcome(json_line, raw)) == repr(_outcome(json.loads, raw))


# -- json_line against json.loads on generated lines -----------------------------------------
# Tokens where jiter (json_line's parser) and json.loads could disagree: random nested objects
# mix them, mostly valid ones (json.loads reads them, jiter some), now and then one json.loads
# refuses, and some lines are damaged after.
_NUMBERS = [
    "0",
    "-0",
    "-0.0",
    "0.0",
    "0e0",
    "-0E-0",
    "1E2",
    "1e+2",
    "123e-2",
    "0.1",
    "0.2",
    "0.3",
    "5e-324",
    "2.4e-324",
    "1e-400",
    "1e400",
    "-1e400",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "9007199254740993",
    "9007199254740993.0",
    "1.0000000000000002",
    "0.30000000000000004",
    "NaN",
    "Infinity",
    "-Infinity",
    "123456789012345678901234567890",
    "9" * 4300,
    "-" + "9" * 4300,
    "9" * 4301,
    "1" * 400 + ".5",
    "1." + "0" * 500,
]
_BAD_NUMBERS = [
    "01",
    "-01",
    "00",
    "1.",
    ".5",
    "+1",
    "1e",
    "1.5e+",
    "-",
    "--1",
    "nan",
    "-NaN",
    "Infinityx",
    "NaNa",
    "inf",
    "tru",
    "nul",
]
_STRING_PARTS = [
    "a",
    "é",
    "日本",
    "😀",
    "\\n",
    "\\t",
    "\\/",
    "\\\\",
    '\\"',
    "\\u0000",
    "\\u00e9",
    "\\ud83d\\ude00",
    "\\uDBFF\\uDFFF",
    "\\ud800",
    "\\uD800",
    "\\udc00",
    "\\udc00\\ud800",
    "\\ud800\\u0041",
    "\\ud800x",
    "\x7f",
    "\u2028",
    "\ufeff",
]
_BAD_STRING_PARTS = ["\\u", "\\u12", "\\x", "\\U0041", "\t", "\x01", "\x1f"]
_AFTER = ["", " ", "\n", "\r\n", "\t", " \t\r\n", "\x0b", "\x0c", "\x00", "\xa0", " x", ",", "}"]


def _digits(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(low, high)))


def _number(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.02:
        return rng.choice(_BAD_NUMBERS)
    if choice < 0.3:
        return rng.choice(_NUMBERS)
    if choice < 0.65:  # any double, as repr writes it or to 1-25 significant digits
        bits = rng.getrandbits(52)
        value = float.fromhex(f"{rng.choice('+-')}0x1.{bits:013x}p{rng.randint(-1074, 1023)}")
        return repr(value) if rng.random() < 0.5 else f"{value:.{rng.randint(0, 24)}e}"
    text = rng.choice(["", "-"]) + (_digits(rng, 1, 30).lstrip("0") or "0")
    if rng.random() < 0.5:
        text += "." + _digits(rng, 1, 25)
    if rng.random() < 0.5:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 330))
    return text


def _string(rng: random.Random) -> str:
    parts = [rng.choice(_STRING_PARTS) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.02:
        parts.append(rng.choice(_BAD_STRING_PARTS))
    return '"' + "".join(parts) + '"'


def _value(rng: random.Random, depth: int) -> str:
    kind = rng.random()
    if kind < 0.3:
        return _number(rng)
    if kind < 0.5 or depth > 3:
        return rng.choice([_string(rng), "true", "false", "null"])
    if kind < 0.75:
        return "[" + ",".join(_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    return _object(rng, depth + 1)


def _object(rng: random.Random, depth: int = 0) -> str:
    keys = [_string(rng) for _ in range(rng.randint(0, 3))]
    if keys and rng.random() < 0.2:
        keys.append(keys[0])  # a duplicate key: json.loads keeps the last value
    space = rng.choice(["", " ", "\t", "\n", "\r"])
    return "{" + ",".join(f"{key}{space}:{space}{_value(rng, depth)}" for key in keys) + "}"


def _generated_line(rng: random.Random) -> bytes | str:
    text = _object(rng)
    shape = rng.random()
    if shape < 0.03:  # nested around jiter's limit of 200 and json.loads's recursion limit
        depth = rng.choice([199, 200, 201, 999, 1000, 3000])
        text = '{"a":' + "[" * depth + "]" * depth + "}"
    elif shape < 0.08 and len(text) > 2:  # a character cut out or doubled
        cut = rng.randrange(1, len(text))
        text = text[:cut] + text[cut + rng.choice([1, -1]) :]
    if rng.random() < 0.1:
        text += rng.choice(_AFTER)
    elif rng.random() < 0.5:
        text += "\n"  # as a file's line ends
    if rng.random() < 0.02:
        text = rng.choice(["\ufeff", " "]) + text
    if rng.random() < 0.3:
        return text  # as a text-mode file reads it (a lone surrogate escaped, never raw)
    data = text.encode("utf-8")
    if rng.random() < 0.03:  # bytes json.loads decodes with surrogatepass, or refuses
        at = rng.randrange(1, len(data) + 1)
        wrong = rng.choice([b"\xed\xa0\x80", b"\xff", b"\xc0\x80", b"\xe2\x82"])
        data = data[:at] + wrong + data[at:]
    return data


def _strict(value: Any) -> Any:
    """``value`` with every type spelled out: 1, 1.0 and True differ, so do 0.0 and -0.0;
    nan equals nan; keys in their order."""
    if isinstance(value, dict):
        return ("dict", [(key, _strict(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_strict(item) for item in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def _strict_outcome(raw: bytes | str) -> tuple[str, Any]:
    try:
        return "value", _strict(json.loads(raw))
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        return type(error).__name__, str(error)


def _strict_json_line(raw: bytes | str) -> tuple[str, Any]:
    try:
        return "value", _strict(json_line(raw))
    except (ValueError, RecursionError) as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("seed", range(4))
def test_json_line_equals_json_loads_on_generated_lines(seed: int) -> None:
    rng = random.Random(seed)
    lines = [_generated_line(rng) for _ in range(5000)]
    differ = [raw for raw in lines if _strict_json_line(raw) != _strict_outcome(raw)]
    assert differ == []
    outcomes = {_strict_outcome(raw)[0] for raw in lines}
    assert {"value", "JSONDecodeError", "UnicodeDecodeError", "RecursionError"} <= outcomes


@pytest.mark.parametrize("limit", [0, 640, 4299, 4300, 5000])
def test_json_line_follows_the_integer_digit_limit(limit: int) -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(limit)
    try:
        for digits in (639, 641, 4299, 4300, 4301, 5001):
            raw = b'{"n": ' + b"7" * digits + b"}"
            assert _strict_json_line(raw) == _strict_outcome(raw)
    finally:
        sys.set_int_max_str_digits(previous)


def test_spool_reads_back_every_frame_in_order_and_appends_after_a_partial_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(spool_module, "_FRAME", 3)
    with Spool() as spool:
        for number in range(7):
            spool.append((number, [f"s{number}"], {"k": (number,)}))
        expected = [(n, [f"s{n}"], {"k": (n,)}) for n in range(7)]
        assert len(spool) == 7
        assert list(spool) == expected
        assert list(islice(spool, 4)) == expected[:4]  # stopped inside the second frame
        spool.append("last")
        assert list(spool) == [*expected, "last"]
        assert list(spool) == [*expected, "last"]  # as often as needed
        assert len(spool) == 8


def test_an_empty_spool_reads_nothing() -> None:
    with Spool() as spool:
        assert list(spool) == []
        assert len(spool) == 0


# -- import_lines: refused lines and their messages -------------------------------------------

HEADER = b'{"format":"kato-kb","version":1}'
AB = "PTRN|" + pattern_hash([["a"], ["b"]])
SYMBOL = b'{"symbol":"a","frequency":1,"pattern_member_frequency":1}'


def _pattern(**fields: object) -> bytes:
    return json.dumps({"name": AB, "events": [["a"], ["b"]], "frequency": 1} | fields).encode()


def _imported(lines: list[bytes]) -> int | str:
    """What a replace import into a fresh node answers: the count, or the refusal's message."""
    try:
        return import_lines(Node("n", InMemoryKnowledgeBase()), lines, "replace", 5, 10)
    except ValidationError as error:
        return error.message


_EVENTS = (
    "line 2: events must be a list of non-empty lists of symbols (non-empty strings of at"
    " most max_symbol_length = 10 characters)"
)
_HASH = "is not the hash of its events (PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135)"
_KEYS = "line 2: a pattern line has name, events, frequency and optionally emotives, metadata"
# The messages of the import path before its shortcuts (measured on main, fa5c03b).
REFUSED: dict[str, tuple[list[bytes], str]] = {
    "not json": (
        [HEADER, b"{oops"],
        "line 2: not JSON (Expecting property name enclosed in double quotes: line 1 column 2"
        " (char 1))",
    ),
    "extra data": (
        [HEADER, b'{"a": 1} x'],
        "line 2: not JSON (Extra data: line 1 column 10 (char 9))",
    ),
    "not utf-8": (
        [HEADER, b'{"name": "\xff"}'],
        "line 2: not JSON ('utf-8' codec can't decode byte 0xff in position 10: invalid start"
        " byte)",
    ),
    "utf-16": ([HEADER, '{"a": 1}'.encode("utf-16")], _KEYS + " (unknown: a)"),
    "nul": (
        [HEADER, b"{\x00"],
        "line 2: not JSON (Expecting property name enclosed in double quotes: line 1 column 2"
        " (char 1))",
    ),
    "array": ([HEADER, b"[1]"], "line 2: not a JSON object"),
    "missing key": ([HEADER, b'{"name": "x"}'], _KEYS),
    "unknown key": ([HEADER, _pattern(colour=1)], _KEYS + " (unknown: colour)"),
    "events not list": ([HEADER, _pattern(events="ab")], _EVENTS),
    "events empty": ([HEADER, _pattern(events=[])], _EVENTS),
    "empty event": ([HEADER, _pattern(events=[["a"], []])], _EVENTS),
    "number symbol": ([HEADER, _pattern(events=[["a"], [1]])], _EVENTS),
    "empty symbol": ([HEADER, _pattern(events=[["a"], [""]])], _EVENTS),
    "long symbol": ([HEADER, _pattern(events=[["a"], ["x" * 11]])], _EVENTS),
    "one symbol": (
        [HEADER, _pattern(events=[["a"]], name="PTRN|" + pattern_hash([["a"]]))],
        "line 2: a pattern holds at least 2 symbols (§3.2)",
    ),
    "wrong hash": (
        [HEADER, _pattern(name="PTRN|" + "0" * 40)],
        "line 2: name 'PTRN|0000000000000000000000000000000000000000' " + _HASH,
    ),
    "name not str": ([HEADER, _pattern(name=5)], "line 2: name 5 " + _HASH),
    "double prefix": (
        [HEADER, _pattern(name="PTRN|" + AB)],
        "line 2: name 'PTRN|PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135' " + _HASH,
    ),
    "negative frequency": (
        [HEADER, _pattern(frequency=-1)],
        "line 2: frequency must be an integer ≥ 0",
    ),
    "bool frequency": (
        [HEADER, _pattern(frequency=True)],
        "line 2: frequency must be an integer ≥ 0",
    ),
    "emotives not list": (
        [HEADER, _pattern(emotives={"joy": 1})],
        "line 2: emotives must be a list of objects",
    ),
    "bad emotive": (
        [HEADER, _pattern(emotives=[{"joy": "x"}])],
        "line 2: emotives[0] must map non-empty names to finite numbers within ±1e+300",
    ),
    "long window": (
        [HEADER, _pattern(emotives=[{"joy": 1}] * 101)],
        "line 2: emotives list has 101 entries, more than persistence 100",
    ),
    "bad metadata": (
        [HEADER, _pattern(metadata={"k": 1})],
        "line 2: metadata must map names to lists of strings",
    ),
    "blank": ([HEADER, b""], "line 2: empty line"),
    "spaces": ([HEADER, b"   "], "line 2: empty line"),
    "duplicate": (
        [HEADER, _pattern(), _pattern()],
        "line 3: pattern PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135 appears twice"
        " (first on line 2)",
    ),
    "after symbols": ([HEADER, SYMBOL, _pattern()], "line 3: pattern line after the symbol lines"),
    "symbol twice": ([HEADER, SYMBOL, SYMBOL], "line 3: symbol 'a' appears twice"),
    "bad header": (
        [b'{"format":"x"}'],
        'line 1: header must be {"format": "kato-kb", "version": 1, ...}',
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_refused_line_gets_the_message_it_always_got(case: str) -> None:
    lines, message = REFUSED[case]
    assert _imported(lines) == message


def test_accepted_lines_store_what_they_always_stored() -> None:
    # A line the shortcut hands to json.loads (CRLF, leading space), one it takes (UTF-8,
    # escapes, emotives, metadata) and a bare-digest name; export shows what was stored.
    events = [["é", "日本"], ["tab\t", 'say "hi"']]
    rich = json.dumps(
        {
            "name": pattern_hash(events),
            "events": events,
            "frequency": 3,
            "emotives": [{"joy": 0.5}],
            "metadata": {"k": ["b", "a", "b"]},
        },
        ensure_ascii=False,
    ).encode()
    node = Node("n", InMemoryKnowledgeBase())
    assert import_lines(node, [HEADER, _pattern() + b"\r", rich], "replace", 5, 10) == 2
    stored = [json.loads(line) for line in "".join(export_lines(node)).splitlines()[1:3]]
    assert {
        "name": "PTRN|" + pattern_hash(events),
        "events": events,
        "frequency": 3,
        "emotives": [{"joy": 0.5}],
        "metadata": {"k": ["a", "b"]},
    } in stored
    assert _imported([HEADER, b" " + _pattern(name=AB.removeprefix("PTRN|"))]) == 1
