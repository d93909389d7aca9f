"""The symbol-level Ratcliff–Obershelp matcher (semantics §4.4, decision D3) and the choice
of prediction core.

Matching is exactly ``difflib.SequenceMatcher(None, a, b, autojunk=False)
.get_matching_blocks()`` without the sentinel, on int-coded sequences. Symbols are coded by
first appearance, so equal symbols get equal codes and blocks are unchanged.

Two cores give identical results: the compiled ``kato.core._matchcore`` (an optional C
extension, built when the install finds a compiler) and ``kato.core.pure_matchcore``. The
compiled one is used when it was built, unless ``KATO_PURE_PYTHON=1`` asks for the
fallback; ``implementation()`` says which one serves (``/status``, the start-up line).
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable, Sequence
from types import ModuleType
from typing import Any

from kato.core import pure_matchcore
from kato.core.core_choice import PURE_PYTHON_VARIABLE, pure_python_requested

compiled: ModuleType | None
try:
    from kato.core import _matchcore as compiled
except ImportError:  # installed without a C compiler: the optional extension is absent
    compiled = None

Block = tuple[int, int, int]


def _choose() -> ModuleType:
    return pure_matchcore if pure_python_requested() or compiled is None else compiled


core: ModuleType = _choose()


def implementation() -> str:
    """``"compiled"`` or ``"python"``: the core that serves predictions in this process."""
    return "compiled" if core is compiled else "python"


def describe() -> str:
    """The core in use and why, for the start-up line."""
    if core is compiled:
        return "compiled (the C extension kato.core._matchcore)"
    if compiled is None:
        return "python (kato.core.pure_matchcore: the C extension is not built)"
    return f"python (kato.core.pure_matchcore: {PURE_PYTHON_VARIABLE} is set)"


def score(*arguments: Any) -> tuple[list[tuple[Any, ...]], int]:
    """The selected core's ``score`` (contract: ``kato/core/_matchcore.c``)."""
    result: tuple[list[tuple[Any, ...]], int] = core.score(*arguments)
    return result


def coded_blocks(a: array, b: array) -> list[Block]:
    """Matching blocks ``(i, j, k)`` with ``a[i:i+k] == b[j:j+k]`` of two int32 arrays."""
    blocks: list[Block] = core.matching_blocks(a, b)
    return blocks


def matching_blocks(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Block]:
    """Matching blocks of two symbol sequences, as difflib computes them."""
    codes: dict[Hashable, int] = {}
    a_codes = array("i", [codes.setdefault(symbol, len(codes)) for symbol in a])
    b_codes = array("i", [codes.setdefault(symbol, len(codes)) for symbol in b])
    return coded_blocks(a_codes, b_codes)
