"""The compiled matcher yields exactly difflib's matching blocks (semantics §4.4, D3)."""

from __future__ import annotations

from array import array
from difflib import SequenceMatcher

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core.matcher import coded_blocks, matching_blocks

# Each test runs against the compiled core and its pure-Python fallback.
pytestmark = pytest.mark.usefixtures("prediction_core")


def difflib_blocks(a: list, b: list) -> list[tuple[int, int, int]]:
    blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return [(block.a, block.b, block.size) for block in blocks[:-1]]


# Small alphabets force repeats, ties between equally long matches and adjacent blocks.
symbol_lists = st.lists(st.sampled_from("abc"), max_size=40)
wider_lists = st.lists(st.sampled_from("abcdefghij"), max_size=40)


@settings(max_examples=400)
@given(symbol_lists, symbol_lists)
def test_blocks_equal_difflib_on_small_alphabet(a: list[str], b: list[str]) -> None:
    assert matching_blocks(a, b) == difflib_blocks(a, b)


@settings(max_examples=200)
@given(wider_lists, wider_lists)
def test_blocks_equal_difflib_on_wider_alphabet(a: list[str], b: list[str]) -> None:
    assert matching_blocks(a, b) == difflib_blocks(a, b)


@settings(max_examples=200)
@given(
    st.lists(st.integers(-3, 3), max_size=40),
    st.lists(st.integers(-3, 3), max_size=40),
)
def test_coded_blocks_equal_difflib_on_int32_codes(a: list[int], b: list[int]) -> None:
    # The index codes unknown state symbols as negative ids: they must match like any other.
    assert coded_blocks(array("i", a), array("i", b)) == difflib_blocks(a, b)


def test_repeated_symbols_pick_difflibs_earliest_longest_match() -> None:
    a, b = list("abab"), list("baba")
    assert matching_blocks(a, b) == difflib_blocks(a, b) == [(0, 1, 3)]


def test_empty_sides_have_no_blocks() -> None:
    assert matching_blocks([], ["a"]) == matching_blocks(["a"], []) == []
