"""The SQLite adapter's events text: the once-built C encoder writes exactly ``_dumps``'s text."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from kato.storage import sqlite_kb

events = st.lists(
    st.lists(st.text(min_size=1), min_size=1, max_size=4).map(tuple), min_size=1, max_size=6
).map(tuple)


@given(events)
def test_events_text_is_the_compact_json_dumps_writes(value: tuple[tuple[str, ...], ...]) -> None:
    text = sqlite_kb._events_json(value)
    assert text == sqlite_kb._dumps(value)
    assert json.loads(text) == [list(event) for event in value]


def test_escapes_are_those_of_json_dumps() -> None:
    value = (('q"b\\s', "\n\t\x00\x1f"), ("é€😀\u2028",))
    assert sqlite_kb._events_json(value) == (
        '[["q\\"b\\\\s","\\n\\t\\u0000\\u001f"],["é€😀\u2028"]]'
    )
