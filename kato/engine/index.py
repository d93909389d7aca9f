"""A node's knowledge base in memory: pattern cache, inverted index and statistics.

The index is a cache of the store, kept fresh by applying ``ChangeSet``s. Candidate
selection is exact (decision D2): a pattern is skipped only when the shared-symbol multiset
bound ``2·Σ min(cP(s), cS(s)) / (|p| + |state|)`` — an upper bound of the Ratcliff–Obershelp
ratio — is below the recall threshold.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import accumulate

import numpy as np

from kato.core.prediction import EnsembleStats, PatternView
from kato.engine.ports import ChangeSet, PatternRecord, Totals


class _Postings:
    """Slots of the patterns holding one symbol, with the symbol's count in each."""

    __slots__ = ("slots", "counts", "_arrays")

    def __init__(self) -> None:
        self.slots = array("i")
        self.counts = array("i")
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, slot: int, count: int) -> None:
        self.slots.append(slot)
        self.counts.append(count)
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
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
        self._flat_ids: list[tuple[int, ...]] = []
        self._lengths = np.zeros(1024, dtype=np.int64)
        self._postings: dict[str, _Postings] = {}
        self._symbol_ids: dict[str, int] = {}
        self._member_frequency: dict[str, int] = {}
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
        self._totals = changes.totals
        self.revision = changes.revision

    def _symbol_id(self, symbol: str) -> int:
        symbol_id = self._symbol_ids.get(symbol)
        if symbol_id is None:
            symbol_id = self._symbol_ids[symbol] = len(self._symbol_ids)
        return symbol_id

    def _put(self, record: PatternRecord) -> None:
        slot = self._slot_of.get(record.name)
        flat = tuple(symbol for event in record.events for symbol in event)
        view = PatternView(
            name=record.name,
            events=record.events,
            flat=flat,
            bounds=tuple(accumulate((len(event) for event in record.events), initial=0)),
            frequency=record.frequency,
            emotives=record.emotives,
        )
        if slot is not None and self._views[slot] is not None:
            self._views[slot] = view  # events never change: postings stay valid
            return
        slot = len(self._views)
        self._slot_of[record.name] = slot
        self._views.append(view)
        self._flat_ids.append(tuple(self._symbol_id(symbol) for symbol in flat))
        if slot >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
        self._lengths[slot] = len(flat)
        for symbol, count in Counter(flat).items():
            self._postings.setdefault(symbol, _Postings()).add(slot, count)

    def _remove(self, name: str) -> None:
        slot = self._slot_of.pop(name, None)
        if slot is not None:
            # The slot stays in the posting lists; a dead slot is skipped at selection.
            self._views[slot] = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def pattern_count(self) -> int:
        return len(self._slot_of)

    def stats(self) -> EnsembleStats:
        return EnsembleStats(
            member_frequency=self._member_frequency,
            total_symbols=len(self._member_frequency),
            total_pattern_frequencies=self._totals.pattern_frequencies,
            total_symbols_in_patterns=self._totals.symbols_in_patterns,
        )

    def state_ids(self, state: Sequence[str]) -> tuple[int, ...]:
        """State symbols as ids; symbols no pattern holds get distinct negative ids."""
        unknown: dict[str, int] = {}
        ids = []
        for symbol in state:
            symbol_id = self._symbol_ids.get(symbol)
            if symbol_id is None:
                symbol_id = unknown.setdefault(symbol, -1 - len(unknown))
            ids.append(symbol_id)
        return tuple(ids)

    def candidates(self, state: Sequence[str], threshold: float) -> list[int]:
        """Slots of the live patterns whose multiset bound reaches ``threshold``."""
        size = len(self._views)
        if threshold <= 0.0:
            return [slot for slot in range(size) if self._views[slot] is not None]
        overlap = np.zeros(size, dtype=np.int64)
        for symbol, state_count in Counter(state).items():
            postings = self._postings.get(symbol)
            if postings is not None:
                slots, counts = postings.arrays()
                overlap[slots] += np.minimum(counts, state_count)
        touched = np.flatnonzero(overlap)
        bound = 2.0 * overlap[touched] / (self._lengths[touched] + len(state))
        return [
            int(slot)
            for slot in touched[bound >= threshold]
            if self._views[slot] is not None
        ]

    def candidate_counts(self, state: Sequence[str], threshold: float) -> tuple[int, int, int]:
        """Patterns sharing a symbol with ``state``, passing the bounds, reaching ``threshold``."""
        from kato.core.matcher import StateMatcher

        shared = len(self.candidates(state, 1e-12))
        bounded = self.candidates(state, threshold)
        matcher = StateMatcher(self.state_ids(state))
        kept = 0
        for slot in bounded:
            matched = sum(block[2] for block in matcher.blocks(self._flat_ids[slot]))
            kept += 2.0 * matched / (len(self._flat_ids[slot]) + len(state)) >= threshold
        return shared, len(bounded), kept

    def view(self, slot: int) -> PatternView:
        view = self._views[slot]
        assert view is not None
        return view

    def flat_ids(self, slot: int) -> tuple[int, ...]:
        return self._flat_ids[slot]

    def get(self, name: str) -> PatternView | None:
        slot = self._slot_of.get(name)
        return None if slot is None else self._views[slot]
