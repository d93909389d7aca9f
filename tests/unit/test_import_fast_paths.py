"""The import path's shortcuts change nothing observable: ``json_line`` answers what
``json.loads`` answers (value or error message), the spool's frames read back every value
in order, and ``import_lines`` refuses each bad line with the message it gave before them
(kato/service/knowledge_base.py, kato/service/spool.py)."""

from __future__ import annotations

import json
from itertools import islice

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
