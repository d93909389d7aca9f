"""Storage ports of the engine: what a knowledge base and a vector store must provide.

Adapters (in-memory, SQLite, MongoDB, Qdrant) implement these protocols; one contract test
suite runs unchanged against each of them. Every knowledge-base change bumps a revision, and
``changes_since`` lets an in-memory cache catch up incrementally (read-your-writes across
processes without a full reload).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Events = tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class PatternRecord:
    """A stored pattern (semantics §1.5). ``name`` is the bare 40-hex hash."""

    name: str
    events: Events
    frequency: int
    emotives: tuple[Mapping[str, float], ...] = ()

    @property
    def length(self) -> int:
        return sum(len(event) for event in self.events)

    def to_dict(self) -> dict[str, Any]:
        """The v1 pattern shape of semantics §5: ``PTRN|`` name plus stored fields."""
        return {
            "name": "PTRN|" + self.name,
            "pattern_data": [list(event) for event in self.events],
            "length": self.length,
            "frequency": self.frequency,
            "emotives": [dict(item) for item in self.emotives],
        }


@dataclass(frozen=True, slots=True)
class SymbolStats:
    name: str
    frequency: int
    pattern_member_frequency: int


@dataclass(frozen=True, slots=True)
class Totals:
    pattern_frequencies: int = 0  # T_pf
    symbol_frequencies: int = 0
    symbols_in_patterns: int = 0  # T_sip


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """What changed after a revision. ``reset`` means: drop the cache and apply these."""

    revision: int
    reset: bool
    patterns: tuple[PatternRecord, ...] = ()
    deleted: tuple[str, ...] = ()
    symbols: tuple[SymbolStats, ...] = ()
    totals: Totals = field(default_factory=Totals)


class KnowledgeBase(Protocol):
    """Long-term memory of one node: patterns, symbol statistics, totals, archive."""

    def revision(self) -> int:
        """A number that grows on every change (learn, update, delete, clear)."""
        ...

    def claim_owner(self, node_id: str) -> str:
        """Record ``node_id`` as this knowledge base's node unless one is recorded; answer
        the recorded one (a different id means two node ids reached one storage id)."""
        ...

    def learn(
        self, name: str, events: Events, emotives: Mapping[str, float] | None, persistence: int
    ) -> PatternRecord:
        """Store or re-learn one pattern atomically (§3.3): frequency, emotive window,
        symbol statistics and totals. ``emotives`` is the zero-filtered average, or None
        when the learn carried no emotives. Returns the record as stored."""
        ...

    def get_pattern(self, name: str) -> PatternRecord | None: ...

    def delete_pattern(self, name: str) -> bool:
        """Remove a pattern; symbol statistics and totals are not decremented (§5)."""
        ...

    def update_pattern(
        self, name: str, frequency: int, emotives: Sequence[Mapping[str, float]]
    ) -> PatternRecord | None: ...

    def clear(self) -> None:
        """Delete every pattern, statistic, total and archived prediction."""
        ...

    def totals(self) -> Totals: ...

    def pattern_count(self) -> int: ...

    def changes_since(self, revision: int) -> ChangeSet: ...

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None: ...

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class VectorStore(Protocol):
    """Vectors of a node, stored under their ``VCTR|`` symbol (decision D11)."""

    def put(self, name: str, vector: Sequence[float]) -> None: ...

    def get(self, name: str) -> list[float] | None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def symbol_counts(events: Iterable[Iterable[str]]) -> dict[str, int]:
    """Occurrences of each symbol in an event sequence (for §3.3 statistics)."""
    counts: dict[str, int] = {}
    for event in events:
        for symbol in event:
            counts[symbol] = counts.get(symbol, 0) + 1
    return counts
