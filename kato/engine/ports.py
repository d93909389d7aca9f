"""Storage ports of the engine: what a knowledge base and a vector store must provide.

Adapters (in-memory, SQLite, MongoDB, Qdrant) implement these protocols; one contract test
suite runs unchanged against each of them. Every knowledge-base change bumps a revision, and
``changes_since`` lets an in-memory cache catch up incrementally (read-your-writes across
processes without a full reload).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:  # records imports this module
    from kato.engine.records import BatchIncrements

Events = tuple[tuple[str, ...], ...]
# Pattern metadata (semantics §12.5): key -> sorted distinct string values.
Metadata = Mapping[str, tuple[str, ...]]
PatternOrder = Literal["name", "frequency"]


# Not frozen, as ``LearnItem`` below: a bulk learn builds one per pattern and a catch-up one
# per row read, and a frozen dataclass's ``__init__`` (``object.__setattr__`` per field) cost
# three times a plain one's (0.65 against 0.19 us).
@dataclass(slots=True)
class PatternRecord:
    """A stored pattern (semantics §1.5), treated as immutable. ``name`` is the bare 40-hex
    hash."""

    name: str
    events: Events
    frequency: int
    emotives: tuple[Mapping[str, float], ...] = ()
    # Never part of the hash or of matching; ``{}`` for a pattern learned without metadata.
    metadata: Metadata = field(default_factory=dict)

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

    def to_record(self) -> dict[str, Any]:
        """The node routes' shape (``/v2/nodes/...``): the v1 shape plus ``metadata``."""
        return {**self.to_dict(), "metadata": metadata_lists(self.metadata)}


def metadata_lists(metadata: Metadata) -> dict[str, list[str]]:
    """Metadata as JSON: keys sorted, each key's values as a (sorted) list."""
    return {key: list(metadata[key]) for key in sorted(metadata)}


# Not frozen: one is built per learned sequence and only read after, and a frozen
# dataclass's ``__init__`` (``object.__setattr__`` per field) was a tenth of the batch learn
# path's time.
@dataclass(slots=True)
class LearnItem:
    """One learn of a batch (``KnowledgeBase.learn_many``); treat it as immutable.

    ``times`` learns of the same pattern at once (an imported pattern of frequency ``times``):
    frequency, statistics and totals grow as that many learns would; ``emotives`` are the
    window entries appended (each learn's zero-filtered average), ``metadata`` unioned in.
    """

    name: str
    events: Events
    emotives: tuple[Mapping[str, float], ...] = ()
    metadata: Metadata = field(default_factory=dict)
    times: int = 1


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


class TrainingFigures(NamedTuple):
    """A pattern's figures precomputed by finalize-training (semantics §12.7): the three
    entropy metrics over the whole pattern and its TF vector (symbol -> count / length)."""

    entropy: float
    normalized_entropy: float
    global_normalized_entropy: float
    tf: dict[str, float]


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
        self,
        name: str,
        events: Events,
        emotives: Mapping[str, float] | None,
        persistence: int,
        metadata: Metadata | None = None,
    ) -> PatternRecord:
        """Store or re-learn one pattern atomically (§3.3): frequency, emotive window,
        symbol statistics and totals. ``emotives`` is the zero-filtered average, or None
        when the learn carried no emotives; ``metadata`` is unioned into the stored metadata
        (§12.5). Returns the record as stored."""
        ...

    def learn_many(
        self,
        items: Sequence[LearnItem],
        persistence: int,
        increments: BatchIncrements | None = None,
    ) -> list[PatternRecord]:
        """Apply ``items`` in order, as one transaction where the store has them (SQLite,
        memory; MongoDB: in order, without one). Equal to calling ``learn`` for each learn
        of each item; returns each item's record as stored after it. ``increments`` are the
        items' ``batch_increments`` when the caller has counted them already."""
        ...

    def get_pattern(self, name: str) -> PatternRecord | None: ...

    def delete_pattern(self, name: str) -> bool:
        """Remove a pattern; symbol statistics and totals are not decremented (§5)."""
        ...

    def update_pattern(
        self,
        name: str,
        frequency: int,
        emotives: Sequence[Mapping[str, float]],
        metadata: Metadata | None = None,
    ) -> PatternRecord | None:
        """Overwrite frequency and emotives (and metadata, unless None); statistics and
        totals are not changed (§5)."""
        ...

    def iter_patterns(
        self,
        order: PatternOrder = "name",
        after: tuple[int, str] | None = None,
        min_frequency: int = 0,
    ) -> Iterator[PatternRecord]:
        """Patterns by ``name``, or by ``frequency`` descending then name, starting after the
        key ``after`` = (frequency, name) (frequency ignored when ordered by name); read in
        chunks, so memory stays bounded however many patterns there are."""
        ...

    def iter_symbols(
        self, order: PatternOrder = "name", after: tuple[int, str] | None = None
    ) -> Iterator[SymbolStats]:
        """Symbol statistics (§1.9) by name, or by frequency descending then name."""
        ...

    def get_symbol(self, name: str) -> SymbolStats | None: ...

    def symbol_count(self) -> int:
        """Distinct symbols with statistics (``T_sym``)."""
        ...

    def replace(
        self,
        patterns: Iterable[PatternRecord],
        symbols: Iterable[SymbolStats],
        totals: Totals,
        revision: int = 0,
    ) -> int:
        """Swap the whole knowledge base for these patterns, symbol statistics and totals
        (the prediction archive is emptied). SQLite and memory swap atomically; an exception
        raised by the iterables leaves the knowledge base as it was there. The revision
        afterwards is at least ``revision`` (a restore keeps its source's revision when it
        can: revisions only grow). Returns the number of patterns stored."""
        ...

    def clear(self) -> None:
        """Delete every pattern, statistic, total and archived prediction."""
        ...

    def totals(self) -> Totals: ...

    def pattern_count(self) -> int: ...

    def changes_since(self, revision: int) -> ChangeSet: ...

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None: ...

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]: ...

    def store_training_figures(self, figures: Mapping[str, TrainingFigures]) -> None:
        """Store (overwrite) the finalize-training figures of these patterns, by bare name,
        and bump the revision (cached predictions made without them are then stale). Figures
        of a name that is not a stored pattern are not kept. Cleared with their pattern by
        ``delete_pattern``, ``clear`` and ``replace``."""
        ...

    def training_figures(self, name: str) -> TrainingFigures | None:
        """The figures stored for pattern ``name`` (bare), or None."""
        ...

    def index_snapshot(self) -> tuple[int, bytes] | None:
        """A node's in-memory index as ``store_index_snapshot`` kept it, with its revision,
        when that is still valid (no reset since, not after the current revision); None
        when none is kept. Adapters that keep none answer None."""
        ...

    def store_index_snapshot(self, revision: int, snapshot: Callable[[IO[bytes]], object]) -> None:
        """Keep the node's index as of ``revision``, as the bytes ``snapshot`` writes to the
        seekable binary file it is given (a cache: no revision bump). An adapter that keeps
        none never calls ``snapshot``."""
        ...

    def close(self) -> None: ...


class VectorStore(Protocol):
    """Vectors of a node, stored under their ``VCTR|`` symbol (decision D11)."""

    def put(self, name: str, vector: Sequence[float]) -> None: ...

    def get(self, name: str) -> list[float] | None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def symbol_counts(events: Iterable[Iterable[str]]) -> dict[str, int]:
    """Occurrences of each symbol in an event sequence (for §3.3 statistics). A plain loop:
    for patterns of a few dozen symbols it is twice as fast as ``collections.Counter``."""
    counts: dict[str, int] = {}
    for event in events:
        for symbol in event:
            counts[symbol] = counts.get(symbol, 0) + 1
    return counts
