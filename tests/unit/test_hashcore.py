"""The compiled pattern identity (kato/core/_hashcore.c) equals the pure definition (§1.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.core import _hashcore, hashing
from kato.core.hashing import pure_pattern_hash

# Any text, including quotes, backslashes, control and non-ASCII characters and lone surrogates
# (repr escapes them), so both the plain-ASCII fast path and the PyObject_Repr path are hit.
symbols = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["a", "it's", 'say "hi"', "a'b\"c", "back\\slash", "tab\tnew\nline", "é", "日本", "\x7f"]
)
patterns = st.lists(st.lists(symbols, max_size=4), max_size=12)


@given(patterns)
def test_compiled_hash_equals_pure_hash(events: list[list[str]]) -> None:
    assert _hashcore.pattern_hash(events) == pure_pattern_hash(events)


def test_tuples_strings_and_long_patterns_hash_alike() -> None:
    # Tuples render as lists; a string event is list(event); a long pattern leaves the
    # 512-byte stack buffer for the heap.
    cases = [(("b", "a"), ("c",)), ["ab", "cd"], [["s1", "s2"]] * 300, [["x" * 2000]], [], [[]]]
    for events in cases:
        assert _hashcore.pattern_hash(events) == pure_pattern_hash(events)


def test_known_identity() -> None:
    # sha1 of "[['a', 'b'], ['c']]", as every KATO knowledge base names this pattern.
    assert _hashcore.pattern_hash([["a", "b"], ["c"]]) == pure_pattern_hash([["a", "b"], ["c"]])
    assert pure_pattern_hash([["a", "b"], ["c"]]) == "e9e43f2309079f2843665ab773996d99489306d6"


@pytest.mark.parametrize("bad", [1, None, [1], [None, ["a"]]])
def test_non_sequences_are_refused_like_the_pure_path(bad: object) -> None:
    with pytest.raises(TypeError):
        _hashcore.pattern_hash(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pure_pattern_hash(bad)  # type: ignore[arg-type]


class _Observed:
    """What string_events reads of an observation."""

    def __init__(self, strings: tuple[str, ...], vectors: tuple[tuple[float, ...], ...]) -> None:
        self.strings, self.vectors = strings, vectors


observed = st.builds(
    _Observed,
    st.lists(symbols, max_size=4).map(tuple),
    st.sampled_from([(), (), (), ((1.0, 2.0),)]),
)


@given(st.lists(observed, max_size=8), st.booleans())
def test_compiled_string_events_equal_pure_string_events(
    observations: list[_Observed], sort: bool
) -> None:
    assert _hashcore.string_events(observations, sort) == hashing.pure_string_events(
        observations, sort
    )


def test_string_events_skip_empty_observations_and_refuse_vectors() -> None:
    events = (("b", "a"), ("c",))
    observations = [_Observed(events[0], ()), _Observed((), ()), _Observed(events[1], ())]
    expected_sorted = ((("a", "b"), ("c",)), pure_pattern_hash([["a", "b"], ["c"]]))
    assert _hashcore.string_events(observations, True) == expected_sorted
    assert _hashcore.string_events(observations, False) == (events, pure_pattern_hash(events))
    assert _hashcore.string_events([], True) == ((), pure_pattern_hash([]))
    assert _hashcore.string_events([*observations, _Observed((), ((1.0,),))], True) is None


def test_string_events_sort_every_event_shape_like_the_pure_path() -> None:
    # The compiled sort takes events of up to 8 exact strings itself and hands the others
    # (longer events, str subclasses) to list.sort; both must order as sorted() does.
    class Text(str):
        """Not an exact str: the compiled sort hands its events to list.sort."""

    shapes = [
        ("b", "a", "a"),
        ("a", "b", "c"),
        tuple("hgfedcba"),
        tuple("ihgfedcba"),
        ("é", "e", "\ud800", "Z"),
        (Text("b"), "a"),
    ]
    observations = [_Observed(strings, ()) for strings in shapes]
    assert _hashcore.string_events(observations, True) == hashing.pure_string_events(
        observations, True
    )


@given(patterns, st.booleans())
def test_list_events_equal_string_events_of_the_observations_of_those_lists(
    events: list[list[str]], sort: bool
) -> None:
    # A checked file's events skip building observations; learning must not notice.
    observations = [_Observed(tuple(event), ()) for event in events]
    expected = hashing.pure_string_events(observations, sort)
    assert _hashcore.list_events(events, sort) == expected
    assert hashing.pure_list_events(events, sort) == expected


def test_list_events_refuse_what_is_not_a_list_of_lists_like_the_pure_path() -> None:
    for bad in (1, [1], [["a"], 2]):
        with pytest.raises(TypeError):
            _hashcore.list_events(bad, True)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            hashing.pure_list_events(bad, True)  # type: ignore[arg-type]


# What an import line's "events" may decode to: mostly well-formed lists of lists of symbols
# (empty events and symbols, long symbols among them), and any other JSON value.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | symbols,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(symbols, inner, max_size=2),
    max_leaves=8,
)
import_events = st.lists(st.lists(symbols, max_size=4), max_size=6) | json_values


@given(import_events, st.integers(-1, 14))
def test_compiled_checked_events_equal_pure_checked_events(
    events: object, max_symbol_length: int
) -> None:
    assert _hashcore.checked_events(events, max_symbol_length) == hashing.pure_checked_events(
        events, max_symbol_length
    )


def test_checked_events_take_exact_lists_of_exact_strings_only() -> None:
    class Text(str):
        """Not an exact str: JSON never decodes one, so the check refuses it."""

    good = [["a", "bb"], ["c"]]
    expected = ((("a", "bb"), ("c",)), pure_pattern_hash(good))
    refused = [[], [[]], [["a"], []], [[""]], [["abc"]], (("a", "b"),), [("a", "b")], [[Text("a")]]]
    for check in (_hashcore.checked_events, hashing.pure_checked_events):
        assert check(good, 2) == expected
        assert check(good, 2**80) == expected  # a bound beyond Py_ssize_t admits every length
        for events in refused:
            assert check(events, 2) is None, events


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=12,
)


@given(json_values | patterns)
def test_compiled_is_string_events_equals_pure(value: object) -> None:
    assert _hashcore.is_string_events(value) is hashing.pure_is_string_events(value)


def test_is_string_events_takes_exact_lists_of_exact_strings_only() -> None:
    class Text(str):
        """Not an exact str."""

    assert _hashcore.is_string_events([["a", "b"], [], ["c"]]) is True
    assert _hashcore.is_string_events([]) is True
    for bad in ([["a", 1]], [("a",)], (["a"],), [[Text("a")]], ["ab"], None):
        assert _hashcore.is_string_events(bad) is False
        assert hashing.pure_is_string_events(bad) is False
