"""The symbol-level Ratcliff–Obershelp matcher (semantics §4.4, decision D3).

Exactly ``difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()``
without the sentinel, computed by the compiled core ``kato.core._matchcore`` on int-coded
sequences. Symbols are coded by first appearance, so equal symbols get equal codes and
blocks are unchanged.
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Sequence

from kato.core import _matchcore

Block = tuple[int, int, int]


def coded_blocks(a: array, b: array) -> list[Block]:
    """Matching blocks ``(i, j, k)`` with ``a[i:i+k] == b[j:j+k]`` of two int32 arrays."""
    return _matchcore.matching_blocks(a, b)


def matching_blocks(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Block]:
    """Matching blocks of two symbol sequences, as difflib computes them."""
    codes: dict[Hashable, int] = {}
    a_codes = array("i", [codes.setdefault(symbol, len(codes)) for symbol in a])
    b_codes = array("i", [codes.setdefault(symbol, len(codes)) for symbol in b])
    return coded_blocks(a_codes, b_codes)
