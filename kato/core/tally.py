"""The symbol tally of a batch of learns (semantics §3.3 statistics, counted once per batch).

``tally`` is the compiled ``kato.core._tallycore`` (optional extension, identical results)
unless it was not built or ``KATO_PURE_PYTHON=1`` asks for ``pure_tally``. The batch learn
path counts every symbol occurrence of every pattern; this loop is where its time went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from kato.core.core_choice import pure_python_requested

Tally = tuple[dict[str, int], dict[str, int], dict[str, int]]


def pure_tally(sequences: Iterable[Sequence[Sequence[str]]]) -> Tally:
    """For event sequences in order: (occurrences of each symbol, the number of sequences
    holding it — both in order of first occurrence —, the index of the last sequence holding
    it, in order of that sequence's touch: a sequence touches its symbols where each first
    occurs in it, the later touch of a symbol replacing its earlier one)."""
    frequencies: dict[str, int] = {}
    members: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, events in enumerate(sequences):
        for event in events:
            for symbol in event:
                frequencies[symbol] = frequencies.get(symbol, 0) + 1
                if last.get(symbol) != index:  # its first occurrence in this sequence
                    members[symbol] = members.get(symbol, 0) + 1
                    last.pop(symbol, None)
                    last[symbol] = index
    return frequencies, members, last


def _choose_tally() -> Callable[[Iterable[Sequence[Sequence[str]]]], Tally]:
    if pure_python_requested():
        return pure_tally
    try:
        from kato.core._tallycore import tally as compiled
    except ImportError:  # installed without a C compiler
        return pure_tally
    return compiled


tally = _choose_tally()
