"""``Session.encoded_size_bound`` never undercounts: the cap check skips the exact size on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.sessions.models import Session

symbols = st.text(max_size=12)  # any characters: ASCII, escaped controls, BMP and astral
events = st.lists(st.lists(symbols, min_size=1, max_size=4), max_size=30)


@settings(max_examples=200, deadline=None)
@given(stm=events, metadata=st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_bound_is_at_least_the_exact_size(stm: list[list[str]], metadata: dict[str, str]) -> None:
    session = Session.new("node-a", 3600, metadata)
    session.state.stm = stm
    assert session.encoded_size_bound() >= session.encoded_size()


def test_bound_holds_for_the_widest_escapes() -> None:
    session = Session.new("node-a", 3600)
    # An astral character is 12 bytes escaped (the worst case per character); a symbol made
    # only of them reaches the per-character bound exactly.
    session.state.stm = [["\U0001f600" * 5], ['"\\', "\x00"]]
    assert session.encoded_size_bound() >= session.encoded_size()


@settings(max_examples=200, deadline=None)
@given(timestamps=st.lists(st.floats(allow_nan=True), min_size=3, max_size=3))
def test_bound_holds_for_the_widest_timestamps(timestamps: list[float]) -> None:
    session = Session.new("node-a", 3600)
    session.created_at, session.expires_at, session.last_accessed = timestamps
    session.state.stm = [["a"]]
    assert session.encoded_size_bound() >= session.encoded_size()
    session.created_at = session.expires_at = session.last_accessed = -2.2250738585072014e-308
    assert session.encoded_size_bound() >= session.encoded_size()
