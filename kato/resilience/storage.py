"""Networked node storage behind its dependency's circuit breaker.

MongoDB knowledge bases and Qdrant-server vector stores are wrapped, per node, in proxies
whose every call goes through :meth:`Resilience.call`: a driver connection or timeout error
becomes :class:`DependencyError` (503 ``KATO_DATABASE_ERROR``) and, once the breaker is open,
calls fail at once with :class:`CircuitOpenError` (503 ``KATO_CIRCUIT_OPEN``) instead of each
waiting for the driver's timeouts. Graceful degradation follows from the engine touching
storage only when it needs it: with Qdrant down only vector-bearing observations fail; with
MongoDB down everything that does not read or write the knowledge base (session create/get,
STM, string observations that do not auto-learn) keeps answering.

* The knowledge base is opened lazily, on its first call and inside the breaker: opening a
  MongoDB knowledge base creates indexes (network round trips), so opening it eagerly would
  make every session operation of the node depend on MongoDB, and would block the event loop
  (nodes are looked up there).
* MongoDB calls are never retried here: pymongo retries reads and writes once by itself.
  Qdrant calls that are safe to repeat (``get``, and ``put`` — an upsert under an id derived
  from the vector's name) use the retry policy; qdrant-client does not retry.
* The time a call may take against a dead or partitioned dependency is the driver's:
  ``database.mongodb.server_selection_timeout_ms`` / ``socket_timeout_ms`` and
  ``database.qdrant.timeout`` (see docs/OPERATIONS.md, "Failure modes").
* The embedded backends (SQLite, Qdrant local mode) are files of this process, not a
  dependency that can be down or partitioned: they are not wrapped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Protocol, TypeVar

from kato.engine.ports import (
    ChangeSet,
    Events,
    KnowledgeBase,
    LearnItem,
    Metadata,
    PatternOrder,
    PatternRecord,
    SymbolStats,
    Totals,
    TrainingFigures,
    VectorStore,
)
from kato.engine.records import BatchIncrements
from kato.resilience import Resilience

T = TypeVar("T")

NodeStorage = tuple[KnowledgeBase, VectorStore]


class StorageFactory(Protocol):
    """What the service opens node storage with (``kato.storage.factory.StorageBackends``)."""

    def knowledge_base(self, node_id: str) -> KnowledgeBase: ...

    def vector_store(self, node_id: str) -> VectorStore: ...

    def describe(self) -> dict[str, str]: ...


class BreakerGuardedKnowledgeBase:
    """``KnowledgeBase`` opened on first use, every call passing one breaker."""

    def __init__(
        self,
        open_knowledge_base: Callable[[], KnowledgeBase],
        resilience: Resilience,
        service: str = "mongodb",
    ) -> None:
        self._open = open_knowledge_base
        self._resilience = resilience
        self._service = service
        self._inner: KnowledgeBase | None = None
        self._opening = threading.Lock()

    def _call(self, operation: Callable[[KnowledgeBase], T]) -> T:
        def guarded() -> T:
            return operation(self._opened())

        return self._resilience.call(self._service, guarded)

    def _opened(self) -> KnowledgeBase:
        with self._opening:
            if self._inner is None:
                self._inner = self._open()
            return self._inner

    def revision(self) -> int:
        return self._call(lambda kb: kb.revision())

    def claim_owner(self, node_id: str) -> str:
        return self._call(lambda kb: kb.claim_owner(node_id))

    def learn(
        self,
        name: str,
        events: Events,
        emotives: Mapping[str, float] | None,
        persistence: int,
        metadata: Metadata | None = None,
    ) -> PatternRecord:
        return self._call(lambda kb: kb.learn(name, events, emotives, persistence, metadata))

    def learn_many(
        self,
        items: Sequence[LearnItem],
        persistence: int,
        increments: BatchIncrements | None = None,
    ) -> list[PatternRecord]:
        return self._call(lambda kb: kb.learn_many(items, persistence, increments))

    def _iterate(self, open_iterator: Callable[[KnowledgeBase], Iterator[T]]) -> Iterator[T]:
        """Each step of a store iterator (one chunk query, or none) passes the breaker."""
        iterator = self._call(open_iterator)
        done = object()
        while (item := self._call(lambda _: next(iterator, done))) is not done:
            yield item  # type: ignore[misc]

    def iter_patterns(
        self,
        order: PatternOrder = "name",
        after: tuple[int, str] | None = None,
        min_frequency: int = 0,
    ) -> Iterator[PatternRecord]:
        return self._iterate(lambda kb: kb.iter_patterns(order, after, min_frequency))

    def iter_symbols(
        self, order: PatternOrder = "name", after: tuple[int, str] | None = None
    ) -> Iterator[SymbolStats]:
        return self._iterate(lambda kb: kb.iter_symbols(order, after))

    def get_symbol(self, name: str) -> SymbolStats | None:
        return self._call(lambda kb: kb.get_symbol(name))

    def symbol_count(self) -> int:
        return self._call(lambda kb: kb.symbol_count())

    def replace(
        self,
        patterns: Iterable[PatternRecord],
        symbols: Iterable[SymbolStats],
        totals: Totals,
        revision: int = 0,
    ) -> int:
        return self._call(lambda kb: kb.replace(patterns, symbols, totals, revision))

    def get_pattern(self, name: str) -> PatternRecord | None:
        return self._call(lambda kb: kb.get_pattern(name))

    def delete_pattern(self, name: str) -> bool:
        return self._call(lambda kb: kb.delete_pattern(name))

    def update_pattern(
        self,
        name: str,
        frequency: int,
        emotives: Sequence[Mapping[str, float]],
        metadata: Metadata | None = None,
    ) -> PatternRecord | None:
        return self._call(lambda kb: kb.update_pattern(name, frequency, emotives, metadata))

    def clear(self) -> None:
        self._call(lambda kb: kb.clear())

    def totals(self) -> Totals:
        return self._call(lambda kb: kb.totals())

    def pattern_count(self) -> int:
        return self._call(lambda kb: kb.pattern_count())

    def changes_since(self, revision: int) -> ChangeSet:
        return self._call(lambda kb: kb.changes_since(revision))

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None:
        self._call(lambda kb: kb.archive_predictions(unique_id, predictions))

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]:
        return self._call(lambda kb: kb.archived_predictions(unique_id))

    def store_training_figures(self, figures: Mapping[str, TrainingFigures]) -> None:
        self._call(lambda kb: kb.store_training_figures(figures))

    def training_figures(self, name: str) -> TrainingFigures | None:
        return self._call(lambda kb: kb.training_figures(name))

    def index_snapshot(self) -> tuple[int, bytes] | None:
        return self._call(lambda kb: kb.index_snapshot())

    def store_index_snapshot(self, revision: int, snapshot: Callable[[IO[bytes]], object]) -> None:
        self._call(lambda kb: kb.store_index_snapshot(revision, snapshot))

    def close(self) -> None:
        with self._opening:
            if self._inner is not None:
                self._inner.close()


class BreakerGuardedVectorStore:
    """``VectorStore`` whose every call passes one breaker; reads and upserts are retried."""

    def __init__(self, inner: VectorStore, resilience: Resilience, service: str = "qdrant") -> None:
        self.inner = inner
        self._resilience = resilience
        self._service = service

    def put(self, name: str, vector: Sequence[float]) -> None:
        self._resilience.call(self._service, lambda: self.inner.put(name, vector), idempotent=True)

    def get(self, name: str) -> list[float] | None:
        return self._resilience.call(self._service, lambda: self.inner.get(name), idempotent=True)

    def clear(self) -> None:
        self._resilience.call(self._service, self.inner.clear)

    def close(self) -> None:
        self.inner.close()


def guarded_node_storage(
    storage: StorageFactory, resilience: Resilience
) -> Callable[[str], NodeStorage]:
    """The node-storage opener of the service: networked backends behind their breakers."""
    backends = storage.describe()
    mongodb = backends["knowledge_base"] == "mongodb"
    qdrant_server = backends["vectors"] == "qdrant-server"

    def open_node_storage(node_id: str) -> NodeStorage:
        knowledge_base: KnowledgeBase = (
            BreakerGuardedKnowledgeBase(lambda: storage.knowledge_base(node_id), resilience)
            if mongodb
            else storage.knowledge_base(node_id)
        )
        vectors = storage.vector_store(node_id)
        if qdrant_server:
            vectors = BreakerGuardedVectorStore(vectors, resilience)
        return knowledge_base, vectors

    return open_node_storage
