"""The symbol-level Ratcliff–Obershelp matcher (semantics §4.4, decision D3).

It is exactly ``difflib.SequenceMatcher(None, a, b, autojunk=False)``. The state side ``b``
is fixed for a whole prediction, so one matcher is built per state and reused for every
candidate pattern (difflib indexes ``b`` once).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from difflib import SequenceMatcher

Block = tuple[int, int, int]


class StateMatcher:
    """Matches many pattern sequences against one state sequence."""

    def __init__(self, state: Sequence[Hashable]) -> None:
        self._matcher = SequenceMatcher(None, (), state, autojunk=False)

    def blocks(self, pattern: Sequence[Hashable]) -> list[Block]:
        """Matching blocks ``(i, j, k)`` of ``pattern[i:i+k] == state[j:j+k]``, no sentinel."""
        self._matcher.set_seq1(pattern)
        return [tuple(block) for block in self._matcher.get_matching_blocks()[:-1]]  # type: ignore[misc]


def matching_blocks(a: Sequence[Hashable], b: Sequence[Hashable]) -> list[Block]:
    return StateMatcher(b).blocks(a)
