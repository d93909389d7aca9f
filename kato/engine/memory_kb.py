"""In-memory knowledge base: the reference adapter of the ``KnowledgeBase`` port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from kato.engine.ports import (
    ChangeSet,
    Events,
    LearnItem,
    Metadata,
    PatternOrder,
    PatternRecord,
    SymbolStats,
    Totals,
    TrainingFigures,
    symbol_counts,
)
from kato.engine.records import add_totals, learned_many, learned_record, stats_increments


class InMemoryKnowledgeBase:
    """Thread-safe, process-local knowledge base.

    Changes are tracked in an insertion-ordered dict ``(kind, key) -> revision`` whose entry
    moves to the end on every change, so ``changes_since`` walks back only over what changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patterns: dict[str, PatternRecord] = {}
        self._symbols: dict[str, SymbolStats] = {}
        self._totals = Totals()
        self._archive: dict[str, list[dict[str, Any]]] = {}
        self._training: dict[str, TrainingFigures] = {}
        self._revision = 0
        self._reset_revision = 0
        self._changed: dict[tuple[str, str], int] = {}
        self._owner: str | None = None

    def revision(self) -> int:
        return self._revision

    def claim_owner(self, node_id: str) -> str:
        with self._lock:
            if self._owner is None:
                self._owner = node_id
            return self._owner

    def _touch(self, kind: str, key: str) -> None:
        self._changed.pop((kind, key), None)
        self._changed[(kind, key)] = self._revision

    def learn(
        self,
        name: str,
        events: Events,
        emotives: Mapping[str, float] | None,
        persistence: int,
        metadata: Metadata | None = None,
    ) -> PatternRecord:
        # The session learn path, without the batch path's LearnItem bookkeeping.
        counts = symbol_counts(events)
        with self._lock:
            self._revision += 1
            record = learned_record(
                self._patterns.get(name), name, events, emotives, persistence, metadata
            )
            self._patterns[name] = record
            self._touch("p", name)
            symbols = self._symbols
            for symbol, count in counts.items():
                old = symbols.get(symbol)
                symbols[symbol] = (
                    SymbolStats(symbol, old.frequency + count, old.pattern_member_frequency + 1)
                    if old
                    else SymbolStats(symbol, count, 1)
                )
                self._touch("s", symbol)
            totals = self._totals
            self._totals = Totals(
                totals.pattern_frequencies + 1,
                totals.symbol_frequencies + sum(counts.values()),
                totals.symbols_in_patterns + len(counts),
            )
            return record

    def learn_many(self, items: Sequence[LearnItem], persistence: int) -> list[PatternRecord]:
        with self._lock:
            return [self._learn(item, persistence) for item in items]

    def _learn(self, item: LearnItem, persistence: int) -> PatternRecord:
        self._revision += 1
        record = learned_many(self._patterns.get(item.name), item, persistence)
        self._patterns[item.name] = record
        self._touch("p", item.name)
        increments, more = stats_increments(item)
        for symbol, count in increments.items():
            old = self._symbols.get(symbol)
            self._symbols[symbol] = SymbolStats(
                symbol,
                (old.frequency if old else 0) + count,
                (old.pattern_member_frequency if old else 0) + item.times,
            )
            self._touch("s", symbol)
        self._totals = add_totals(self._totals, more)
        return record

    def get_pattern(self, name: str) -> PatternRecord | None:
        return self._patterns.get(name)

    def delete_pattern(self, name: str) -> bool:
        with self._lock:
            if self._patterns.pop(name, None) is None:
                return False
            self._training.pop(name, None)
            self._revision += 1
            self._touch("p", name)
            return True

    def update_pattern(
        self,
        name: str,
        frequency: int,
        emotives: Sequence[Mapping[str, float]],
        metadata: Metadata | None = None,
    ) -> PatternRecord | None:
        with self._lock:
            old = self._patterns.get(name)
            if old is None:
                return None
            self._revision += 1
            record = PatternRecord(
                name,
                old.events,
                frequency,
                tuple(dict(e) for e in emotives),
                old.metadata if metadata is None else metadata,
            )
            self._patterns[name] = record
            self._touch("p", name)
            return record

    def clear(self) -> None:
        self.replace((), (), Totals())

    def replace(
        self,
        patterns: Iterable[PatternRecord],
        symbols: Iterable[SymbolStats],
        totals: Totals,
        revision: int = 0,
    ) -> int:
        # Built aside, then swapped in under the lock: a failing iterable changes nothing.
        new_patterns = {record.name: record for record in patterns}
        new_symbols = {stats.name: stats for stats in symbols}
        with self._lock:
            self._patterns = new_patterns
            self._symbols = new_symbols
            self._archive.clear()
            self._training.clear()
            self._changed.clear()
            self._totals = totals
            self._revision += 1
            self._reset_revision = self._revision
            self._revision = max(self._revision, revision)
            return len(new_patterns)

    def iter_patterns(
        self,
        order: PatternOrder = "name",
        after: tuple[int, str] | None = None,
        min_frequency: int = 0,
    ) -> Iterator[PatternRecord]:
        with self._lock:
            records = [r for r in self._patterns.values() if r.frequency >= min_frequency]
        if order == "name":
            records.sort(key=lambda r: r.name)
            start = after[1] if after else None
            return (r for r in records if start is None or r.name > start)
        records.sort(key=lambda r: (-r.frequency, r.name))
        key = None if after is None else (-after[0], after[1])
        return (r for r in records if key is None or (-r.frequency, r.name) > key)

    def iter_symbols(
        self, order: PatternOrder = "name", after: tuple[int, str] | None = None
    ) -> Iterator[SymbolStats]:
        with self._lock:
            stats = list(self._symbols.values())
        if order == "name":
            stats.sort(key=lambda s: s.name)
            return (s for s in stats if after is None or s.name > after[1])
        stats.sort(key=lambda s: (-s.frequency, s.name))
        key = None if after is None else (-after[0], after[1])
        return (s for s in stats if key is None or (-s.frequency, s.name) > key)

    def get_symbol(self, name: str) -> SymbolStats | None:
        return self._symbols.get(name)

    def symbol_count(self) -> int:
        return len(self._symbols)

    def totals(self) -> Totals:
        return self._totals

    def pattern_count(self) -> int:
        return len(self._patterns)

    def changes_since(self, revision: int) -> ChangeSet:
        with self._lock:
            if revision < self._reset_revision:
                return ChangeSet(
                    revision=self._revision,
                    reset=True,
                    patterns=tuple(self._patterns.values()),
                    symbols=tuple(self._symbols.values()),
                    totals=self._totals,
                )
            patterns: list[PatternRecord] = []
            deleted: list[str] = []
            symbols: list[SymbolStats] = []
            for (kind, key), changed_at in reversed(self._changed.items()):
                if changed_at <= revision:
                    break
                if kind == "s":
                    symbols.append(self._symbols[key])
                elif key in self._patterns:
                    patterns.append(self._patterns[key])
                else:
                    deleted.append(key)
            return ChangeSet(
                revision=self._revision,
                reset=False,
                patterns=tuple(patterns),
                deleted=tuple(deleted),
                symbols=tuple(symbols),
                totals=self._totals,
            )

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None:
        with self._lock:
            self._archive[unique_id] = predictions

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]:
        predictions = self._archive.get(unique_id)
        return [] if predictions is None else [{"unique_id": unique_id, "predictions": predictions}]

    def store_training_figures(self, figures: Mapping[str, TrainingFigures]) -> None:
        with self._lock:
            for name, values in figures.items():
                if name in self._patterns:
                    self._training[name] = values
            self._revision += 1

    def training_figures(self, name: str) -> TrainingFigures | None:
        return self._training.get(name)

    def index_snapshot(self) -> tuple[int, bytes] | None:
        return None  # it lives in memory: no start-up to shorten

    def store_index_snapshot(self, revision: int, snapshot: Callable[[], bytes]) -> None:
        pass

    def close(self) -> None:
        """Nothing to release."""
