"""In-memory knowledge base: the reference adapter of the ``KnowledgeBase`` port."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from kato.engine.ports import (
    ChangeSet,
    Events,
    PatternRecord,
    SymbolStats,
    Totals,
    symbol_counts,
)
from kato.engine.records import learned_record


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
        self, name: str, events: Events, emotives: Mapping[str, float] | None, persistence: int
    ) -> PatternRecord:
        counts = symbol_counts(events)
        with self._lock:
            self._revision += 1
            record = learned_record(self._patterns.get(name), name, events, emotives, persistence)
            self._patterns[name] = record
            self._touch("p", name)
            for symbol, count in counts.items():
                old = self._symbols.get(symbol)
                self._symbols[symbol] = SymbolStats(
                    symbol,
                    (old.frequency if old else 0) + count,
                    (old.pattern_member_frequency if old else 0) + 1,
                )
                self._touch("s", symbol)
            totals = self._totals
            self._totals = Totals(
                totals.pattern_frequencies + 1,
                totals.symbol_frequencies + sum(counts.values()),
                totals.symbols_in_patterns + len(counts),
            )
            return record

    def get_pattern(self, name: str) -> PatternRecord | None:
        return self._patterns.get(name)

    def delete_pattern(self, name: str) -> bool:
        with self._lock:
            if self._patterns.pop(name, None) is None:
                return False
            self._revision += 1
            self._touch("p", name)
            return True

    def update_pattern(
        self, name: str, frequency: int, emotives: Sequence[Mapping[str, float]]
    ) -> PatternRecord | None:
        with self._lock:
            old = self._patterns.get(name)
            if old is None:
                return None
            self._revision += 1
            record = PatternRecord(name, old.events, frequency, tuple(dict(e) for e in emotives))
            self._patterns[name] = record
            self._touch("p", name)
            return record

    def clear(self) -> None:
        with self._lock:
            self._patterns.clear()
            self._symbols.clear()
            self._archive.clear()
            self._changed.clear()
            self._totals = Totals()
            self._revision += 1
            self._reset_revision = self._revision

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

    def close(self) -> None:
        """Nothing to release."""
