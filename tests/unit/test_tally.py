"""The compiled symbol tally (kato/core/_tallycore.c) equals the pure definition."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.core import _tallycore
from kato.core.tally import pure_postings, pure_tally

# A small alphabet, so symbols repeat within an event, across events and across sequences.
sequences = st.lists(
    st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "é", ""]), max_size=4), max_size=6),
    max_size=10,
)


def ordered(result: tuple[dict[str, int], ...]) -> list[list[tuple[str, int]]]:
    return [list(part.items()) for part in result]  # the orders are part of the answer


@given(sequences)
def test_compiled_tally_equals_pure_tally_in_values_and_orders(
    batch: list[list[list[str]]],
) -> None:
    assert ordered(_tallycore.tally(batch)) == ordered(pure_tally(batch))


def test_known_tally() -> None:
    batch = [(("a", "b"), ("a",)), (("c",), ("b",)), (("a",),)]
    expected = [
        [("a", 3), ("b", 2), ("c", 1)],
        [("a", 2), ("b", 2), ("c", 1)],
        # b and c last touched by sequence 1 (c first), a by sequence 2.
        [("c", 1), ("b", 1), ("a", 2)],
    ]
    assert ordered(pure_tally(batch)) == expected
    assert ordered(_tallycore.tally(batch)) == expected


def test_many_symbols_grow_the_arrays() -> None:
    batch = [[[f"s{i}" for i in range(start, start + 700)]] for start in range(0, 3000, 500)]
    assert ordered(_tallycore.tally(batch)) == ordered(pure_tally(batch))


@pytest.mark.parametrize("bad", [1, [1], [[1]], [[[["unhashable"]]]]])
def test_non_sequences_are_refused_like_the_pure_path(bad: object) -> None:
    with pytest.raises(TypeError):
        _tallycore.tally(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pure_tally(bad)  # type: ignore[arg-type]


_IDS = {symbol: number for number, symbol in enumerate(["é", "a", "", "d", "c", "b"])}


@given(sequences, st.integers(0, 5000))
def test_compiled_postings_equal_pure_postings(batch: list[list[list[str]]], first: int) -> None:
    assert _tallycore.postings(batch, _IDS, first) == pure_postings(batch, _IDS, first)


def test_known_postings() -> None:
    patterns = [[["a", "b"], ["a"]], [], [["c"], ["a", "c", "c"]]]
    ids, pairs, firsts = _tallycore.postings(patterns, {"a": 0, "b": 1, "c": 2}, 10)
    assert array("i", ids).tolist() == [0, 1, 0, 2, 0, 2, 2]
    # Symbol a: in slot 10 twice, in slot 12 once; c: in slot 12 three times.
    assert [(key, array("i", s).tolist(), array("i", c).tolist()) for key, s, c in pairs] == [
        (0, [10, 12], [2, 1]),
        (1, [10], [1]),
        (2, [12], [3]),
    ]
    assert [(key, array("i", s).tolist()) for key, s in firsts] == [(0, [10]), (2, [12])]


def test_a_symbol_without_an_id_is_a_key_error_on_both_paths() -> None:
    for postings in (_tallycore.postings, pure_postings):
        with pytest.raises(KeyError):
            postings([[["a", "new"]]], {"a": 0}, 0)
