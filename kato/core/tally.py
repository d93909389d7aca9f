"""The symbol tally of a batch of learns (semantics §3.3 statistics, counted once per batch).

``tally`` is the compiled ``kato.core._tallycore`` (optional extension, identical results)
unless it was not built or ``KATO_PURE_PYTHON=1`` asks for ``pure_tally``. The batch learn
path counts every symbol occurrence of every pattern; this loop is where its time went.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain

import numpy as np

from kato.core.core_choice import pure_python_requested

Tally = tuple[dict[str, int], dict[str, int], dict[str, int]]
# (ids, [(symbol id, slots, counts)], [(symbol id, slots)]), every array int32 bytes.
Postings = tuple[bytes, list[tuple[int, bytes, bytes]], list[tuple[int, bytes]]]


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


def pure_postings(
    patterns: Sequence[Sequence[Sequence[str]]], symbol_ids: Mapping[str, int], first: int
) -> Postings:
    """What the index adds for new patterns (events of symbols) in slots ``first``, ``first +
    1``, …: the id (``symbol_ids``) of every symbol occurrence in order; per symbol, in
    ascending id order, the slots of the patterns holding it (ascending) with its count in
    each; per symbol, the slots of the patterns it is the first symbol of. All int32 bytes."""
    symbols = list(chain.from_iterable(chain.from_iterable(patterns)))
    ids = np.fromiter(map(symbol_ids.__getitem__, symbols), np.int32, len(symbols))
    lengths = np.fromiter((sum(map(len, events)) for events in patterns), np.int64, len(patterns))
    size = first + len(patterns)
    slots = np.repeat(np.arange(first, size, dtype=np.int64), lengths)
    # Each (symbol, slot) pair once, with its count: sorted by symbol, then slot.
    pairs, counts = np.unique(ids.astype(np.int64) * size + slots, return_counts=True)
    pair_symbols, pair_slots = np.divmod(pairs, size)
    held = np.flatnonzero(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    first_ids = ids[offsets[held]] if len(held) else np.zeros(0, np.int32)
    order = np.argsort(first_ids, kind="stable")
    slot_runs = _runs(pair_symbols, pair_slots.astype(np.int32))
    count_runs = _runs(pair_symbols, counts.astype(np.int32))
    return (
        ids.tobytes(),
        [
            (symbol, slots, counts)
            for (symbol, slots), (_, counts) in zip(slot_runs, count_runs, strict=True)
        ],
        _runs(first_ids[order].astype(np.int64), (held + first).astype(np.int32)[order]),
    )


def _runs(keys: np.ndarray, values: np.ndarray) -> list[tuple[int, bytes]]:
    """Runs of equal ``keys`` (sorted): each key with its run of ``values`` as bytes."""
    if not len(keys):
        return []
    cuts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate([[0], cuts]).tolist()
    return [
        (int(keys[start]), run.tobytes())
        for start, run in zip(starts, np.split(values, cuts), strict=True)
    ]


def _choose_postings() -> Callable[
    [Sequence[Sequence[Sequence[str]]], Mapping[str, int], int], Postings
]:
    if tally is pure_tally:  # compiled exactly when the tally is: one switch for both
        return pure_postings
    from kato.core._tallycore import postings as compiled

    return compiled


postings = _choose_postings()
