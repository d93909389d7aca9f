"""The events text the SQLite store keeps: the compiled ASCII writer and the once-built
stdlib encoder both write exactly the text ``json.dumps`` writes with the store's options."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.core import _hashcore, events_text


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


ascii_symbols = st.text(st.characters(max_codepoint=0x7F), max_size=8)
any_symbols = st.text(st.characters(codec=None), max_size=8)


@given(st.lists(st.lists(ascii_symbols, max_size=4).map(tuple), max_size=6).map(tuple))
def test_the_compiled_writer_writes_json_dumps_text_for_ascii(
    value: tuple[tuple[str, ...]],
) -> None:
    assert _hashcore.ascii_events_json(value) == _dumps(value)


@given(st.lists(st.lists(any_symbols, max_size=4), max_size=6))
def test_every_path_writes_json_dumps_text(value: list[list[str]]) -> None:
    assert events_text.events_json(value) == _dumps(value)
    assert events_text.pure_events_json(value) == _dumps(value)


def test_escapes_are_those_of_json_dumps() -> None:
    value = (('q"b\\s', "\n\t\x00\x1f\x7f\b\f\r"), ("plain",))
    expected = '[["q\\"b\\\\s","\\n\\t\\u0000\\u001f\x7f\\b\\f\\r"],["plain"]]'
    assert _hashcore.ascii_events_json(value) == expected == _dumps(value)
    long = ((("x" * 300),) * 5,)  # beyond the 512-byte stack buffer
    assert _hashcore.ascii_events_json(long) == _dumps(long)


def test_other_symbols_are_left_to_the_stdlib_encoder() -> None:
    class Text(str):
        """Not an exact str."""

    for value in ((("é€😀\u2028",),), ((Text("a"),),), (("a", "日本"),), (("a", 2),)):
        assert _hashcore.ascii_events_json(value) is None
        assert events_text.events_json(value) == _dumps(value)


@pytest.mark.parametrize("bad", [1, [1], [None]])
def test_non_events_are_refused(bad: object) -> None:
    with pytest.raises(TypeError):
        _hashcore.ascii_events_json(bad)  # type: ignore[arg-type]
