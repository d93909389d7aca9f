"""A node's knowledge base in memory: pattern cache, inverted index and statistics.

The index is a cache of the store, kept fresh by applying ``ChangeSet``s. Patterns are kept
int-coded in flat arrays (symbols, event bounds, frequencies) that the compiled core reads
directly. Candidate selection is exact (decision D2): a pattern is skipped only when the
shared-symbol multiset bound ``2·Σ min(cP(s), cS(s)) / (|p| + |state|)`` — an upper bound
of the Ratcliff–Obershelp ratio — is below the recall threshold (docs/ENGINE.md).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple
from functools import partial
from itertools import accumulate, chain, pairwise
from operator import attrgetter
from typing import IO, Any

import numpy as np

from kato.core import matcher, pure_matchcore
from kato.core.emotives import average_emotives
from kato.core.prediction import PatternView, Scored
from kato.core.tally import postings
from kato.engine.ports import ChangeSet, PatternRecord, SymbolStats, Totals
from kato.engine.records import BatchIncrements, add_totals

# New patterns in one catch-up from which the vectorised ``_append`` is cheaper than
# appending them one by one (its NumPy calls cost ~50 us whatever the size).
_BULK = 64
_frequency_of = attrgetter("frequency")
# The layout of ``PatternIndex.snapshot``; a snapshot of another layout is not loaded.
_SNAPSHOT_FORMAT = 1
# The index's array.array attributes as a snapshot stores them: (attribute, key, typecode).
_SNAPSHOT_ARRAYS = (
    ("_flat", "flat", "i"),
    ("_flat_offsets", "flat_offsets", "q"),
    ("_bounds", "bounds", "i"),
    ("_bounds_offsets", "bounds_offsets", "q"),
    ("_frequencies", "frequencies", "q"),
    ("_member_frequency_by_id", "member_frequency", "q"),
    ("_distinct_patterns_by_id", "distinct", "q"),
)


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
        # The name of each slot (None once deleted) and the emotives of the slots that have
        # any; a slot's PatternView is built from these and the flat arrays when a prediction
        # first needs it, so loading builds no per-pattern object.
        self._names: list[str | None] = []
        self._emotives: dict[int, tuple[Mapping[str, float], ...]] = {}
        self._view_cache: dict[int, PatternView] = {}
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
        self._symbol_names: list[str] = []  # by symbol id
        self._member_frequency: dict[str, int] = {}
        self._member_frequency_by_id = array("q")
        # §12.12 statistics: live distinct patterns holding each symbol (by symbol id), and
        # the live slots whose first symbol is each symbol (§12.11's single-symbol path).
        self._distinct_patterns_by_id = array("q")
        self._first_symbol_slots: dict[int, array] = {}
        self._symbol_frequency: dict[str, int] = {}
        # Read-side caches of §12.14/§12.16, valid for one revision (emptied by ``apply``):
        # a slot's space-joined symbols, a symbol's affinities.
        self._texts: dict[int, str] = {}
        self._affinities: dict[str, dict[str, float]] = {}
        self._totals = Totals()

    # -- keeping fresh -------------------------------------------------------------------

    def apply(self, changes: ChangeSet) -> None:
        if changes.reset:
            self._reset()
        # New names in first-seen order (their slots); known ones are re-learns or updates.
        if not self._slot_of:  # a load into an empty index: every name is new
            fresh = {record.name: record for record in changes.patterns}
        else:
            fresh = {}
            for record in changes.patterns:
                slot = self._slot_of.get(record.name)
                if slot is None:
                    fresh[record.name] = record
                else:  # events never change, so postings stay valid
                    self._set_emotives(slot, record.emotives)
                    self._view_cache.pop(slot, None)
                    self._frequencies[slot] = record.frequency
        if len(fresh) >= _BULK:
            self._append(list(fresh.values()))
        else:
            for record in fresh.values():
                self._append_one(record)
        for name in changes.deleted:
            self._remove(name)
        for stats in changes.symbols:
            self._symbol_frequency[stats.name] = stats.frequency
            self._member_frequency[stats.name] = stats.pattern_member_frequency
            self._member_frequency_by_id[self._symbol_id(stats.name)] = (
                stats.pattern_member_frequency
            )
        self._totals = changes.totals
        self._texts.clear()
        self._affinities.clear()
        self.revision = changes.revision

    def follow_learn(
        self, revision: int, records: Sequence[PatternRecord], increments: BatchIncrements
    ) -> None:
        """Apply one ``learn_many`` that took the store from this index's revision to
        ``revision`` and changed nothing else: the change set the store would answer, built
        from the batch's stored records (the last of each name, in first-learned order, as
        the store lists them) and its increments added to this index's statistics — the
        store's own arithmetic — instead of reading the batch back and decoding it again."""
        latest = {record.name: record for record in records}
        frequencies = increments.frequencies
        symbols = tuple(
            [
                SymbolStats(
                    symbol,
                    self._symbol_frequency.get(symbol, 0) + frequencies[symbol],
                    self._member_frequency.get(symbol, 0) + members,
                )
                for symbol, members in increments.members.items()
            ]
        )
        totals = add_totals(self._totals, increments.totals)
        self.apply(ChangeSet(revision, False, tuple(latest.values()), (), symbols, totals))

    def _symbol_id(self, symbol: str) -> int:
        symbol_id = self._symbol_ids.get(symbol)
        if symbol_id is None:
            symbol_id = self._symbol_ids[symbol] = len(self._symbol_ids)
            self._symbol_names.append(symbol)
            self._member_frequency_by_id.append(0)
            self._distinct_patterns_by_id.append(0)
            self._postings.append(_Postings())
        return symbol_id

    def _append_one(self, record: PatternRecord) -> None:
        """One new pattern: what ``_append`` does, without its fixed cost of array calls
        (the catch-up after an ordinary learn)."""
        slot = len(self._names)
        self._slot_of[record.name] = slot
        self._names.append(record.name)
        self._set_emotives(slot, record.emotives)
        flat = list(chain.from_iterable(record.events))
        symbol_ids = self._symbol_ids
        ids = [symbol_ids.get(symbol, -1) for symbol in flat]
        if -1 in ids:  # a symbol seen for the first time
            ids = [self._symbol_id(symbol) for symbol in flat]
        self._flat.extend(ids)
        self._flat_offsets.append(len(self._flat))
        self._bounds.extend(accumulate(map(len, record.events), initial=0))
        self._bounds_offsets.append(len(self._bounds))
        self._frequencies.append(record.frequency)
        if slot >= len(self._lengths):
            self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            self._live = np.concatenate([self._live, np.zeros_like(self._live)])
        self._lengths[slot] = len(flat)
        self._live[slot] = True
        if ids:
            self._first_symbol_slots.setdefault(ids[0], array("i")).append(slot)
        postings = self._postings
        distinct = self._distinct_patterns_by_id
        for symbol_id, count in Counter(ids).items():
            entry = postings[symbol_id]
            entry.slots.append(slot)
            entry.counts.append(count)
            distinct[symbol_id] += 1

    def _append(self, records: Sequence[PatternRecord]) -> None:
        """New patterns, in slots ``first …``: one pass over all of their symbols at C speed
        (a start-up load of 100,000 patterns is one call); of each record only its name (and
        emotives, when it has any) is kept (views are built when a prediction needs one)."""
        if not records:
            return
        first, count = len(self._names), len(records)
        events_of = [record.events for record in records]
        # The ids of every symbol, and the posting and first-symbol additions per symbol, in
        # one pass (compiled when built); a batch holding a symbol never seen before first
        # gives the new symbols their ids, by first appearance as one by one would.
        try:
            id_bytes, pairs, firsts = postings(events_of, self._symbol_ids, first)
        except KeyError:
            for symbol in dict.fromkeys(chain.from_iterable(chain.from_iterable(events_of))):
                if symbol not in self._symbol_ids:
                    self._symbol_id(symbol)
            id_bytes, pairs, firsts = postings(events_of, self._symbol_ids, first)
        event_counts = np.fromiter(map(len, events_of), np.int64, count)
        event_lengths = np.fromiter(
            map(len, chain.from_iterable(events_of)), np.int64, int(event_counts.sum())
        )
        # Symbols per pattern, and each pattern's bounds C_0 = 0 … C_K (semantics §4.7).
        event_starts = np.concatenate([[0], np.cumsum(event_counts)[:-1]]).astype(np.int64)
        ends = np.cumsum(event_lengths)
        ends_from_zero = np.concatenate([[0], ends]).astype(np.int64)
        pattern_offsets = ends_from_zero[event_starts]
        lengths = ends_from_zero[event_starts + event_counts] - pattern_offsets
        within = ends - np.repeat(pattern_offsets, event_counts)
        bounds = np.zeros(len(within) + count, dtype=np.int32)
        zero_at = event_starts + np.arange(count)
        keep = np.ones(len(bounds), dtype=bool)
        keep[zero_at] = False
        bounds[keep] = within

        names = [record.name for record in records]
        self._names += names
        self._slot_of.update(zip(names, range(first, first + count), strict=True))
        for slot, record in enumerate(records, first):
            if record.emotives:
                self._emotives[slot] = record.emotives
        self._flat.frombytes(id_bytes)
        self._flat_offsets.frombytes((self._flat_offsets[-1] + np.cumsum(lengths)).tobytes())
        self._bounds.frombytes(bounds.tobytes())
        self._bounds_offsets.frombytes(
            (self._bounds_offsets[-1] + np.cumsum(event_counts + 1)).tobytes()
        )
        self._frequencies.frombytes(
            np.fromiter(map(_frequency_of, records), np.int64, count).tobytes()
        )
        size = first + count
        if size > len(self._lengths):
            capacity = max(size, 2 * len(self._lengths))
            self._lengths = np.concatenate(
                [self._lengths, np.zeros(capacity - len(self._lengths), np.int64)]
            )
            self._live = np.concatenate([self._live, np.zeros(capacity - len(self._live), bool)])
        self._lengths[first:size] = lengths
        self._live[first:size] = True

        # Posting lists: each (symbol, slot) pair once with the symbol's count in the
        # pattern, slots ascending per symbol, as appending pattern by pattern gives.
        distinct = self._distinct_patterns_by_id
        for symbol_id, group_slots, group_counts in pairs:
            entry = self._postings[symbol_id]
            entry.slots.frombytes(group_slots)
            entry.counts.frombytes(group_counts)
            distinct[symbol_id] += len(group_slots) // 4  # int32 slots
        for symbol_id, group_slots in firsts:
            self._first_symbol_slots.setdefault(symbol_id, array("i")).frombytes(group_slots)

    def _remove(self, name: str) -> None:
        slot = self._slot_of.pop(name, None)
        if slot is not None:
            # The slot stays in the posting lists; a dead slot is skipped at selection.
            self._names[slot] = None
            self._emotives.pop(slot, None)
            self._view_cache.pop(slot, None)
            self._live[slot] = False
            flat = self._flat[self._flat_offsets[slot] : self._flat_offsets[slot + 1]]
            for symbol_id in set(flat):
                self._distinct_patterns_by_id[symbol_id] -= 1

    # -- snapshot -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """This index at ``revision`` as bytes: its arrays (NumPy ``.npz``, no pickles) and
        one JSON text of its strings, so a restart loads it without decoding every pattern
        (issue 10 req 5). The store keeps it beside the revision it is valid at."""
        buffer = io.BytesIO()
        self.write_snapshot(buffer)
        return buffer.getvalue()

    def write_snapshot(self, out: IO[bytes]) -> None:
        """The bytes of ``snapshot()`` written to ``out`` (a seekable binary file): the SQLite
        store spools them to a file rather than holding a million-pattern index's ~290 MB in
        memory beside the index while it copies them into its row."""
        size = len(self._names)
        postings = self._postings
        firsts = self._first_symbol_slots
        text = json.dumps(
            {
                "names": self._names,
                "symbols": self._symbol_names,
                # Symbols with statistics, in the dicts' order (a symbol id each), and
                # their frequencies.
                "with_stats": [self._symbol_ids[name] for name in self._member_frequency],
                "frequencies": [self._symbol_frequency[name] for name in self._member_frequency],
                "emotives": [[slot, emotives] for slot, emotives in self._emotives.items()],
            }
        )  # ASCII: any str encodes, lone surrogates included
        arrays: dict[str, Any] = {
            key: np.frombuffer(getattr(self, attribute), np.uint8)
            for attribute, key, _ in _SNAPSHOT_ARRAYS
        }
        arrays.update(
            format=np.array([_SNAPSHOT_FORMAT, self.revision], np.int64),
            totals=np.array(astuple(self._totals), np.int64),
            text=np.frombuffer(text.encode(), np.uint8),
            lengths=self._lengths[:size],
            live=self._live[:size],
            posting_sizes=np.array([len(entry.slots) for entry in postings], np.int64),
            posting_slots=np.frombuffer(b"".join(entry.slots for entry in postings), np.int32),
            posting_counts=np.frombuffer(b"".join(entry.counts for entry in postings), np.int32),
            first_symbols=np.array(list(firsts), np.int64),
            first_sizes=np.array([len(slots) for slots in firsts.values()], np.int64),
            first_slots=np.frombuffer(b"".join(firsts.values()), np.int32),
        )
        np.savez(out, **arrays)

    @classmethod
    def from_snapshot(cls, data: bytes) -> PatternIndex | None:
        """The index ``snapshot`` saved, or None when ``data`` is not a snapshot of this
        layout (the caller then reads every pattern, as without a snapshot)."""
        try:
            arrays = np.load(io.BytesIO(data), allow_pickle=False)
            layout, revision = arrays["format"].tolist()
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None
        if layout != _SNAPSHOT_FORMAT:
            return None
        index = cls()
        text = json.loads(arrays["text"].tobytes().decode())
        index._names = text["names"]
        index._slot_of = {name: slot for slot, name in enumerate(index._names) if name is not None}
        index._emotives = {slot: tuple(emotives) for slot, emotives in text["emotives"]}
        names = index._symbol_names = text["symbols"]
        index._symbol_ids = {name: symbol_id for symbol_id, name in enumerate(names)}
        for attribute, key, typecode in _SNAPSHOT_ARRAYS:
            setattr(index, attribute, array(typecode, arrays[key].tobytes()))
        by_id = index._member_frequency_by_id
        with_stats = text["with_stats"]
        index._member_frequency = {names[i]: by_id[i] for i in with_stats}
        index._symbol_frequency = {
            names[i]: frequency
            for i, frequency in zip(with_stats, text["frequencies"], strict=True)
        }
        size = len(index._names)
        index._lengths = np.zeros(max(size, 1024), np.int64)
        index._lengths[:size] = arrays["lengths"]
        index._live = np.zeros(max(size, 1024), bool)
        index._live[:size] = arrays["live"]
        slots, counts = arrays["posting_slots"], arrays["posting_counts"]
        index._postings = []
        start = 0
        for length in arrays["posting_sizes"].tolist():
            entry = _Postings()
            entry.slots.frombytes(slots[start : start + length].tobytes())
            entry.counts.frombytes(counts[start : start + length].tobytes())
            index._postings.append(entry)
            start += length
        firsts, start = arrays["first_slots"], 0
        for symbol_id, length in zip(
            arrays["first_symbols"].tolist(), arrays["first_sizes"].tolist(), strict=True
        ):
            index._first_symbol_slots[symbol_id] = array(
                "i", firsts[start : start + length].tobytes()
            )
            start += length
        index._totals = Totals(*arrays["totals"].tolist())
        index.revision = revision
        return index

    # -- reading ---------------------------------------------------------------------------

    @property
    def pattern_count(self) -> int:
        return len(self._slot_of)

    def member_frequency(self, symbol: str) -> int:
        """``pattern_member_frequency`` of ``symbol`` (§1.9); 0 when no pattern holds it."""
        return self._member_frequency.get(symbol, 0)

    @property
    def symbols_in_patterns(self) -> int:
        """``T_sip`` (§1.10)."""
        return self._totals.symbols_in_patterns

    @property
    def unique_patterns(self) -> int:
        """Live distinct patterns: §12.12's ``total_unique_patterns``."""
        return len(self._slot_of)

    @property
    def symbol_count(self) -> int:
        """``T_sym``: distinct symbols with statistics (§1.10)."""
        return len(self._member_frequency)

    def symbol_frequency(self, symbol: str) -> int:
        """The symbol's ``frequency`` (§1.9); 0 when it has no statistics."""
        return self._symbol_frequency.get(symbol, 0)

    def vocabulary(self) -> Sequence[str]:
        """Every symbol some pattern was learned with, in first-seen order (symbol ids)."""
        return self._symbol_names

    def text(self, slot: int) -> str:
        """The pattern's symbols joined by spaces (§12.14's character-level matching)."""
        text = self._texts.get(slot)
        if text is None:
            text = self._texts[slot] = " ".join(self.view(slot).flat)
        return text

    def slots_holding(self, symbols: Sequence[str]) -> np.ndarray:
        """Live slots, ascending, holding at least one of ``symbols``."""
        return self.candidates(symbols, float(np.nextafter(0.0, 1.0)))

    def affinity(self, symbol: str, emotive: str) -> float:
        """§12.16's affinity of ``symbol`` for ``emotive`` (0 when none)."""
        return self.affinities(symbol).get(emotive, 0.0)

    def affinities(self, symbol: str) -> dict[str, float]:
        """§12.16's affinity of ``symbol`` per emotive, by emotive name: Σ over the live
        patterns holding it of frequency × the pattern's mean of that emotive
        (docs/DECISIONS.md). ``math.fsum`` makes it independent of slot order, so a
        reloaded index gives the same bits."""
        found = self._affinities.get(symbol)
        if found is None:
            terms: dict[str, list[float]] = {}
            for slot in self.slots_holding([symbol]).tolist():
                frequency = self._frequencies[slot]
                for emotive, mean in average_emotives(self._emotives.get(slot, ())).items():
                    terms.setdefault(emotive, []).append(frequency * mean)
            found = self._affinities[symbol] = {
                emotive: math.fsum(terms[emotive]) for emotive in sorted(terms)
            }
        return found

    def patterns_with_symbol(self, symbol: str) -> int:
        """Live distinct patterns holding ``symbol`` (§12.12); 0 for an unknown symbol."""
        symbol_id = self._symbol_ids.get(symbol)
        return 0 if symbol_id is None else self._distinct_patterns_by_id[symbol_id]

    def first_symbol_slots(self, symbol: str) -> np.ndarray:
        """Live slots, ascending, whose first symbol is ``symbol`` (§12.11's candidates)."""
        symbol_id = self._symbol_ids.get(symbol)
        slots = self._first_symbol_slots.get(symbol_id) if symbol_id is not None else None
        if not slots:
            return np.zeros(0, dtype=np.int64)
        found = np.frombuffer(slots, dtype=np.int32).astype(np.int64)
        return found[self._live[found]]

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
        return np.flatnonzero(self._live[: len(self._names)])

    def candidates(self, state: Sequence[str], threshold: float) -> np.ndarray:
        """Slots of the live patterns whose multiset bound reaches ``threshold``."""
        if threshold <= 0.0:
            return self.live_slots()
        size = len(self._names)
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
        self,
        state_ids: array,
        candidates: np.ndarray,
        threshold: float,
        keep: int,
        statistics: str = "baseline",
        slot_states: Mapping[int, array] | None = None,
    ) -> tuple[list[Scored], int]:
        """Match and rank ``candidates`` in the prediction core (compiled, or its fallback).

        Returns the survivors (ratio ≥ ``threshold``) with the ``keep`` highest potentials,
        plus any tied with the last of them, and the number of survivors. Every returned
        survivor carries its blocks and information metrics too. With ``statistics`` =
        ``"distinct_patterns"`` symbol probabilities are ``patterns_with_symbol /
        unique_patterns`` (semantics §12.12) instead of ``pattern_member_frequency / T_sip``.
        ``slot_states`` gives slots their own state (fuzzy tokens, §12.14); only the Python
        core takes them, so a query with any runs there.
        """
        if statistics == "distinct_patterns":
            member_frequency, total = self._distinct_patterns_by_id, self.unique_patterns
        else:
            member_frequency, total = (
                self._member_frequency_by_id,
                self._totals.symbols_in_patterns,
            )
        score: Callable[..., tuple[list[tuple[Any, ...]], int]] = (
            partial(pure_matchcore.score, slot_states=slot_states) if slot_states else matcher.score
        )
        best, survivors = score(
            state_ids,
            self._flat,
            self._flat_offsets,
            self._bounds,
            self._bounds_offsets,
            self._frequencies,
            member_frequency,
            total,
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

    def name(self, slot: int) -> str:
        name = self._names[slot]
        assert name is not None
        return name

    def view(self, slot: int) -> PatternView:
        view = self._view_cache.get(slot)
        if view is None:
            view = self._view_cache[slot] = self._view_of(slot)
        return view

    def _view_of(self, slot: int) -> PatternView:
        """The slot's pattern rebuilt from its symbol ids and event bounds (the events a
        record held: the same strings, in the same order)."""
        names = self._symbol_names
        flat = tuple(
            names[i] for i in self._flat[self._flat_offsets[slot] : self._flat_offsets[slot + 1]]
        )
        bounds = tuple(self._bounds[self._bounds_offsets[slot] : self._bounds_offsets[slot + 1]])
        return PatternView(
            name=self.name(slot),
            events=tuple(flat[start:end] for start, end in pairwise(bounds)),
            flat=flat,
            bounds=bounds,
            frequency=self._frequencies[slot],
            emotives=self._emotives.get(slot, ()),
        )

    def _set_emotives(self, slot: int, emotives: tuple[Mapping[str, float], ...]) -> None:
        if emotives:
            self._emotives[slot] = emotives
        else:
            self._emotives.pop(slot, None)

    def get(self, name: str) -> PatternView | None:
        slot = self._slot_of.get(name)
        return None if slot is None else self.view(slot)
