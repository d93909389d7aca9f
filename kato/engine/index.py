"""A node's knowledge base in memory: pattern cache, inverted index and statistics.

The index is a cache of the store, kept fresh by applying ``ChangeSet``s. Patterns are kept
int-coded in flat arrays (symbols, event bounds, frequencies) that the compiled core reads
directly. Candidate selection is exact (decision D2): a pattern is skipped only when the
shared-symbol multiset bound ``2·Σ min(cP(s), cS(s)) / (|p| + |state|)`` — an upper bound
of the Ratcliff–Obershelp ratio — is below the recall threshold (docs/ENGINE.md).
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate, chain

import numpy as np

from kato.core import matcher
from kato.core.prediction import PatternView, Scored
from kato.engine.ports import ChangeSet, PatternRecord, Totals


class _Postings:
    """Slots of the patterns holding one symbol, with the symbol's count in each.

    Lists only grow (a deleted pattern's slot is filtered at selection), so the NumPy copy
    used for counting is stale exactly when its length differs.
    """

    __slots__ = ("slots", "counts", "_arrays")

    def __init__(self) -> None:
        self.slots = array("i")
        self.counts = array("i")
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None or len(self._arrays[0]) != len(self.slots):
            self._arrays = (
                np.frombuffer(self.slots, dtype=np.int32).copy(),
                np.frombuffer(self.counts, dtype=np.int32).copy(),
            )
        return self._arrays


class PatternIndex:
    """In-memory view of one knowledge base, at ``revision``."""

    def __init__(self) -> None:
        self.revision = -1
        self._reset()

    def _reset(self) -> None:
        self._slot_of: dict[str, int] = {}
        self._views: list[PatternView | None] = []
        # Slot s holds symbols _flat[_flat_offsets[s]:_flat_offsets[s+1]] and event bounds
        # _bounds[_bounds_offsets[s]:_bounds_offsets[s+1]] (C_0 = 0 … C_K = |flat|).
        self._flat = array("i")
        self._flat_offsets = array("q", [0])
        self._bounds = array("i")
        self._bounds_offsets = array("q", [0])
        self._frequencies = array("q")
        self._lengths = np.zeros(1024, dtype=np.int64)
        self._live = np.zeros(1024, dtype=bool)
        self._postings: list[_Postings] = []  # by symbol id
        self._symbol_ids: dict[str, int] = {}
        self._member_frequency: dict[str, int] = {}
        self._member_frequency_by_id = array("q")
        self._totals = Totals()

    # -- keeping fresh -------------------------------------------------------------------

    def apply(self, changes: ChangeSet) -> None:
        if changes.reset:
            self._reset()
        for record in changes.patterns:
            self._put(record)
        for name in changes.deleted:
            self._remove(name)
        for stats in changes.symbols:
            self._member_frequency[stats.name] = stats.pattern_member_frequency
            self._member_frequency_by_id[self._symbol_id(stats.name)] = (
                stats.pattern_member_frequency
            )
        self._totals = changes.totals
        self.revision = changes.revision

    def _symbol_id(self, symbol: str) -> int:
        symbol_id = self._symbol_ids.get(symbol)
        if symbol_id is None:
            symbol_id = self._symbol_ids[symbol] = len(self._symbol_ids)
            self._member_frequency_by_id.append(0)
            self._postings.append(_Postings())
        return symbol_id

    def _put(self, record: PatternRecord) -> None:
        events = record.events
        flat = tuple(chain.from_iterable(events))
        view = PatternView(
            name=record.name,
            events=events,
            flat=flat,
            bounds=tuple(accumulate(map(len, events), initial=0)),
            frequency=record.frequency,
            emotives=record.emotives,
        )
        slot = self._slot_of.get(record.name)
        if slot is not None:
            self._views[slot] = view  # events never change: postings stay valid
            self._frequencies[slot] = record.frequency
            return
        slot = len(self._views)
        self._slot_of[record.name] = slot
        self._views.append(view)
        symbol_ids = self._symbol_ids
        ids = [symbol_ids.get(symbol, -1) for symbol in flat]
        if -1 in ids:  # a symbol seen for the first time
            ids = [self._symbol_id(symbol) for symbol in flat]
        self._flat.extend(ids)
        self._flat_offsets.append(len(self._flat))
        self._bounds.extend(view.bounds)
        self._bounds_offsets.append(len(self._bounds))
        self._frequencies.append(record.frequency)
        if slot >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._live = np.concatenate([self._live, np.zeros_like(self._live)])
        self._lengths[slot] = len(flat)
        self._live[slot] = True
        counts: dict[int, int] = {}
        for symbol_id in ids:
            counts[symbol_id] = counts.get(symbol_id, 0) + 1
        postings = self._postings
        for symbol_id, count in counts.items():
            entry = postings[symbol_id]
            entry.slots.append(slot)
            entry.counts.append(count)

    def _remove(self, name: str) -> None:
        slot = self._slot_of.pop(name, None)
        if slot is not None:
            # The slot stays in the posting lists; a dead slot is skipped at selection.
            self._views[slot] = None
            self._live[slot] = False

    # -- reading ---------------------------------------------------------------------------

    @property
    def pattern_count(self) -> int:
        return len(self._slot_of)

    def state_ids(self, state: Sequence[str]) -> array:
        """State symbols as ids; symbols no pattern holds get distinct negative ids."""
        unknown: dict[str, int] = {}
        ids = array("i")
        for symbol in state:
            symbol_id = self._symbol_ids.get(symbol)
            if symbol_id is None:
                symbol_id = unknown.setdefault(symbol, -1 - len(unknown))
            ids.append(symbol_id)
        return ids

    def live_slots(self) -> np.ndarray:
        """Every live pattern: the candidates when nothing may be pruned (θ = 0)."""
        return np.flatnonzero(self._live[: len(self._views)])

    def candidates(self, state: Sequence[str], threshold: float) -> np.ndarray:
        """Slots of the live patterns whose multiset bound reaches ``threshold``."""
        if threshold <= 0.0:
            return self.live_slots()
        size = len(self._views)
        overlap = np.zeros(size, dtype=np.int64)
        for symbol, state_count in Counter(state).items():
            symbol_id = self._symbol_ids.get(symbol)
            if symbol_id is not None:
                slots, counts = self._postings[symbol_id].arrays()
                overlap[slots] += np.minimum(counts, state_count)
        touched = np.flatnonzero(overlap)
        bound = 2.0 * overlap[touched] / (self._lengths[touched] + len(state))
        selected = touched[bound >= threshold]
        return selected[self._live[selected]]

    def score(
        self, state_ids: array, candidates: np.ndarray, threshold: float, keep: int
    ) -> tuple[list[Scored], int]:
        """Match and rank ``candidates`` in the prediction core (compiled, or its fallback).

        Returns the survivors (ratio ≥ ``threshold``) with the ``keep`` highest potentials,
        plus any tied with the last of them, and the number of survivors. Every returned
        survivor carries its blocks and information metrics too.
        """
        best, survivors = matcher.score(
            state_ids,
            self._flat,
            self._flat_offsets,
            self._bounds,
            self._bounds_offsets,
            self._frequencies,
            self._member_frequency_by_id,
            self._totals.symbols_in_patterns,
            len(self._member_frequency),
            self._totals.pattern_frequencies,
            candidates.astype(np.int64, copy=False),
            threshold,
            keep,
        )
        return list(map(Scored._make, best)), survivors

    def candidate_counts(self, state: Sequence[str], threshold: float) -> tuple[int, int, int]:
        """Patterns sharing a symbol with ``state``, passing the bounds, reaching ``threshold``."""
        shared = len(self.candidates(state, np.nextafter(0.0, 1.0)))
        bounded = self.candidates(state, threshold)
        _, kept = self.score(self.state_ids(state), bounded, threshold, 1)
        return shared, len(bounded), kept

    def view(self, slot: int) -> PatternView:
        view = self._views[slot]
        assert view is not None
        return view

    def get(self, name: str) -> PatternView | None:
        slot = self._slot_of.get(name)
        return None if slot is None else self._views[slot]
