"""In-memory knowledge base: the reference adapter of the ``KnowledgeBase`` port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

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
from kato.engine.records import (
    BatchIncrements,
    add_totals,
    batch_increments,
    learned_many,
    learned_record,
)


class InMemoryKnowledgeBase:
    """Thread-safe, process-local knowledge base.

    Changes are tracked in insertion-ordered dicts ``key -> revision`` (one for patterns, one
    for symbols) whose entry moves to the end on every change, so ``changes_since`` walks back
    only over what changed.
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
        self._changed_patterns: dict[str, int] = {}
        self._changed_symbols: dict[str, int] = {}
        self._owner: str | None = None

    def revision(self) -> int:
        return self._revision

    def claim_owner(self, node_id: str) -> str:
        with self._lock:
            if self._owner is None:
                self._owner = node_id
            return self._owner

    def _touch(self, changed: dict[str, int], key: str) -> None:
        changed.pop(key, None)
        changed[key] = self._revision

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
            self._touch(self._changed_patterns, name)
            symbols = self._symbols
            for symbol, count in counts.items():
                old = symbols.get(symbol)
                symbols[symbol] = (
                    SymbolStats(symbol, old.frequency + count, old.pattern_member_frequency + 1)
                    if old
                    else SymbolStats(symbol, count, 1)
                )
                self._touch(self._changed_symbols, symbol)
            totals = self._totals
            self._totals = Totals(
                totals.pattern_frequencies + 1,
                totals.symbol_frequencies + sum(counts.values()),
                totals.symbols_in_patterns + len(counts),
            )
            return record

    def learn_many(
        self,
        items: Sequence[LearnItem],
        persistence: int,
        increments: BatchIncrements | None = None,
    ) -> list[PatternRecord]:
        # One revision per item, as that many learns; the statistics are counted for the whole
        # batch at once (not per item and symbol) and each symbol stamped with the revision of
        # the last item holding it, touched in that order.
        increments = increments or batch_increments(items)
        with self._lock:
            # Every record is built before anything changes: an item that fails leaves the
            # knowledge base as it was.
            patterns = self._patterns
            batch: dict[str, PatternRecord] = {}
            results = []
            for item in items:
                record = learned_many(
                    batch.get(item.name) or patterns.get(item.name), item, persistence
                )
                batch[item.name] = record
                results.append(record)
            first = self._revision + 1
            changed = self._changed_patterns
            for revision, record in enumerate(results, first):
                patterns[record.name] = record
                changed.pop(record.name, None)
                changed[record.name] = revision
            symbols = self._symbols
            frequencies = increments.frequencies
            for symbol, member in increments.members.items():  # new symbols in first-touch order
                old = symbols.get(symbol)
                symbols[symbol] = (
                    SymbolStats(
                        symbol,
                        old.frequency + frequencies[symbol],
                        old.pattern_member_frequency + member,
                    )
                    if old
                    else SymbolStats(symbol, frequencies[symbol], member)
                )
            changed = self._changed_symbols
            for symbol, index in increments.last_item.items():
                changed.pop(symbol, None)
                changed[symbol] = first + index
            self._totals = add_totals(self._totals, increments.totals)
            self._revision += len(items)
            return results

    def get_pattern(self, name: str) -> PatternRecord | None:
        return self._patterns.get(name)

    def delete_pattern(self, name: str) -> bool:
        with self._lock:
            if self._patterns.pop(name, None) is None:
                return False
            self._training.pop(name, None)
            self._revision += 1
            self._touch(self._changed_patterns, name)
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
            self._touch(self._changed_patterns, name)
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
            self._changed_patterns.clear()
            self._changed_symbols.clear()
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
            for name, changed_at in reversed(self._changed_patterns.items()):
                if changed_at <= revision:
                    break
                if name in self._patterns:
                    patterns.append(self._patterns[name])
                else:
                    deleted.append(name)
            for symbol, changed_at in reversed(self._changed_symbols.items()):
                if changed_at <= revision:
                    break
                symbols.append(self._symbols[symbol])
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

    def store_index_snapshot(self, revision: int, snapshot: Callable[[IO[bytes]], object]) -> None:
        """Keeps none: an in-memory store has no start-up to shorten."""

    def close(self) -> None:
        """Nothing to release."""
