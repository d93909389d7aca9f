"""The import path's shortcuts change nothing observable: ``_json_line`` answers what
``json.loads`` answers (value or error message) and the spool's frames read back every value
in order (kato/service/knowledge_base.py, kato/service/spool.py)."""

from __future__ import annotations

import json
from itertools import islice

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.service import spool as spool_module
from kato.service.knowledge_base import _json_line
from kato.service.spool import Spool

LINES: list[bytes | str] = [
    b'{"name":"PTRN|ab","events":[["a","b"]],"frequency":1}',
    b'{"a": 1} ',  # whitespace after: json.loads skips it
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
def test_json_line_answers_what_json_loads_answers(raw: bytes | str) -> None:
    assert repr(_outcome(_json_line, raw)) == repr(_outcome(json.loads, raw))


@given(st.binary(max_size=40).map(lambda tail: b"{" + tail) | st.text(max_size=40))
def test_json_line_equals_json_loads_on_any_input(raw: bytes | str) -> None:
    assert repr(_outcome(_json_line, raw)) == repr(_outcome(json.loads, raw))


json_objects = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=6,
    ),
    max_size=4,
)


@given(json_objects, st.booleans())
def test_json_line_decodes_encoded_objects_alike(value: dict[str, object], ascii: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii).encode("utf-8", "surrogatepass")
    assert repr(_outcome(_json_line, raw)) == repr(_outcome(json.loads, raw))


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
