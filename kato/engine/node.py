"""A node: one knowledge base and the operations observe / learn / predict (semantics §2–§5).

A node's long-term memory (patterns, statistics, vectors) is shared by all of its sessions;
everything short-term lives in the ``SessionState`` each call receives (D5, D6). A node
catches its in-memory index up with the store before it predicts, so a pattern learned
through any process is used as soon as that learn has returned.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kato.core import heap
from kato.core.emotives import average_emotives, without_zeros
from kato.core.errors import EmptySTMError, PatternNotFoundError
from kato.core.genes import Genes, STMMode
from kato.core.hashing import PATTERN_PREFIX, pattern_hash, strip_pattern_prefix
from kato.core.observation import Observation, event_of
from kato.core.prediction import prediction_objects
from kato.engine import training, v3_predictions
from kato.engine.index import PatternIndex
from kato.engine.ports import (
    KnowledgeBase,
    LearnItem,
    PatternRecord,
    TrainingFigures,
    VectorStore,
)
from kato.engine.records import batch_increments, check_update, merged_metadata
from kato.engine.session_state import SessionState

_CACHE_SIZE = 512
# A catch-up of this many patterns (a start-up load, a reset) freezes the heap afterwards
# (kato/core/heap.py); the few patterns of an ordinary catch-up do not.
_SETTLE_AFTER = 1_000


@dataclass(frozen=True, slots=True)
class ObserveOutcome:
    time: int
    stm_length: int
    auto_learned_pattern: str | None
    unique_id: str | None = None


class Node:
    def __init__(
        self,
        node_id: str,
        knowledge_base: KnowledgeBase,
        vectors: VectorStore | None = None,
        archive_predictions: bool = False,
    ) -> None:
        self.node_id = node_id
        self.knowledge_base = knowledge_base
        self.vectors = vectors
        self.archive_predictions = archive_predictions
        self._index = PatternIndex()
        self._lock = threading.RLock()
        # (STM, genes, knowledge-base revision) -> predictions: a pure function, so one
        # cache serves every session of the node and can never be stale (D1).
        self._cache: OrderedDict[tuple[Any, ...], v3_predictions.Result] = OrderedDict()
        # Told (seconds, candidates evaluated) after each prediction computation (cache misses
        # only); the service layer points it at its metrics, the engine knows none.
        self.on_compute: Callable[[float, int], None] | None = None
        # How long the last baseline computation took: ``quick_prediction_result`` computes
        # only while it is short. Unknown (infinite) until one has run.
        self._last_compute_seconds = float("inf")

    # -- long-term memory -----------------------------------------------------------------

    def refresh(self) -> PatternIndex:
        """Catch the in-memory index up with the store (incremental).

        The first catch-up starts from the store's index snapshot when it keeps a valid one;
        a load of many patterns into an empty index (no snapshot, a stale one, a reset)
        stores a new snapshot, so the next process starts from it.
        """
        with self._lock:
            if self.knowledge_base.revision() != self._index.revision:
                with heap.paused():
                    from_snapshot = self._index.revision < 0 and self._load_snapshot()
                    empty = not self._index.pattern_count
                    changes = self.knowledge_base.changes_since(self._index.revision)
                    self._index.apply(changes)
                loaded = len(changes.patterns) >= _SETTLE_AFTER
                if from_snapshot or loaded:
                    heap.settle()  # the index lives as long as the node: out of every gc pass
                if loaded and (empty or changes.reset or from_snapshot):
                    self.knowledge_base.store_index_snapshot(
                        self._index.revision, self._index.write_snapshot
                    )
            return self._index

    def learn_many(self, items: Sequence[LearnItem], persistence: int) -> None:
        """``KnowledgeBase.learn_many``, the index following the batch from what was learned
        when it was current before and the store changed by this batch alone (bulk learning:
        reading a batch back and decoding it again was a third of ``kato learn``'s time);
        else the next catch-up reads it, as after any write. Nothing is caught up here: a
        caller that wants its batches followed refreshes the node once first."""
        before = self._index.revision
        increments = batch_increments(items)
        records = self.knowledge_base.learn_many(items, persistence, increments)
        with self._lock:
            # One revision per batch (SQLite): exactly one more means no other write
            # landed before or after this one. A store counting a revision per item, or
            # another writer, leaves the batch to the catch-up.
            if not records or self._index.revision != before:
                return
            if self.knowledge_base.revision() != before + 1:
                return
            with heap.paused():
                self._index.follow_learn(before + 1, records, increments)
            if len(records) >= _SETTLE_AFTER:
                heap.settle()  # as a catch-up of that many patterns does

    def keep_index_snapshot(self) -> None:
        """Bring the index up to date and keep its snapshot in the store (a bulk command
        ends with this, so the next process starts from it)."""
        with self._lock:
            index = self.refresh()
            self.knowledge_base.store_index_snapshot(index.revision, index.write_snapshot)

    def _load_snapshot(self) -> bool:
        """Replace the (never loaded) index by the store's snapshot, if it keeps one."""
        stored = self.knowledge_base.index_snapshot()
        if stored is None:
            return False
        revision, data = stored
        index = PatternIndex.from_snapshot(data)
        if index is None or index.revision != revision:  # another layout, or not that revision
            return False
        self._index = index
        return True

    def symbol_affinities(self, symbol: str) -> dict[str, float]:
        """§12.16: ``symbol``'s affinity per emotive, at the store's current revision."""
        with self._lock:
            return dict(self.refresh().affinities(symbol))

    @property
    def pattern_count(self) -> int:
        return self.knowledge_base.pattern_count()

    def get_pattern(self, name: str) -> PatternRecord:
        record = self.knowledge_base.get_pattern(strip_pattern_prefix(name))
        if record is None:
            raise PatternNotFoundError(name)
        return record

    def delete_pattern(self, name: str) -> None:
        if not self.knowledge_base.delete_pattern(strip_pattern_prefix(name)):
            raise PatternNotFoundError(name)

    def update_pattern(
        self, name: str, frequency: int, emotives: Sequence[Mapping[str, float]], genes: Genes
    ) -> PatternRecord:
        window = check_update(frequency, emotives, genes.persistence)
        record = self.knowledge_base.update_pattern(strip_pattern_prefix(name), frequency, window)
        if record is None:
            raise PatternNotFoundError(name)
        return record

    def clear_all(self) -> None:
        self.knowledge_base.clear()
        if self.vectors is not None:
            self.vectors.clear()

    def finalize_training(self, genes: Genes) -> int:
        """Precompute and store every pattern's §12.7 figures; the patterns processed."""
        return training.finalize_training(self.knowledge_base, self.refresh(), genes)

    def training_figures(self, name: str) -> TrainingFigures | None:
        """The figures finalize-training stored for pattern ``name`` (``PTRN|`` optional)."""
        return self.knowledge_base.training_figures(strip_pattern_prefix(name))

    # -- session operations ---------------------------------------------------------------

    def observe(
        self,
        session: SessionState,
        observation: Observation,
        genes: Genes,
        unique_id: str | None = None,
        check: Callable[[SessionState], None] | None = None,
    ) -> ObserveOutcome:
        """Apply one validated observation (§2.2).

        The session changes first; ``check`` (the service's size caps) may then refuse the
        new state before anything is written to a store (vector, archive, auto-learn). A
        refusal or a failed write restores the session, so nothing changes anywhere.
        """
        saved = (
            session.time,
            session.percept_data,
            list(session.stm),
            list(session.emotives),
            session.last_symbols,
            list(session.metadata),
        )
        try:
            return self._observe(session, observation, genes, unique_id, check)
        except BaseException:
            (
                session.time,
                session.percept_data,
                session.stm,
                session.emotives,
                session.last_symbols,
                session.metadata,
            ) = saved
            raise

    def _observe(
        self,
        session: SessionState,
        observation: Observation,
        genes: Genes,
        unique_id: str | None,
        check: Callable[[SessionState], None] | None,
    ) -> ObserveOutcome:
        event = event_of(observation, genes.sort)
        session.time += 1
        session.percept_data = {
            "strings": list(observation.strings),
            "vectors": [list(vector) for vector in observation.vectors],
            "emotives": dict(observation.emotives),
            "path": [f"{self.node_id}-PatternProcessor-unknown-process"],
            "metadata": dict(observation.metadata),
        }
        if observation.emotives:
            session.emotives.append(dict(observation.emotives))
        if observation.metadata:
            session.metadata.append(dict(observation.metadata))
        session.last_symbols = event
        if not observation.is_empty:
            session.stm.append(event)
        if check is not None:
            check(session)
        if observation.is_empty:
            return ObserveOutcome(session.time, len(session.stm), None, unique_id)
        if observation.vectors and self.vectors is not None:
            self.vectors.put(event[0], _summed(observation.vectors))
        if self.archive_predictions and unique_id:
            predictions = self.predictions(session, genes)
            if predictions:
                self.knowledge_base.archive_predictions(unique_id, predictions)
        learned = self._auto_learn(session, genes)
        return ObserveOutcome(session.time, len(session.stm), learned, unique_id)

    def observe_needs_storage(
        self, session: SessionState, observation: Observation, genes: Genes
    ) -> bool:
        """Whether ``observe`` may reach a store: a vector to save, predictions to archive,
        or an auto-learn. Every other observe is pure in-memory work of microseconds."""
        if observation.is_empty:
            return False
        if observation.vectors and self.vectors is not None:
            return True
        limit = genes.max_pattern_length
        return self.archive_predictions or (limit > 0 and len(session.stm) + 1 >= limit)

    def _auto_learn(self, session: SessionState, genes: Genes) -> str | None:
        limit = genes.max_pattern_length
        if limit <= 0 or len(session.stm) < limit:
            return None
        events = session.stm
        if len(events) == 1 or genes.stm_mode is STMMode.CLEAR:
            keep: list[list[str]] = []
        elif genes.stm_mode is STMMode.ROLLING:
            keep = events[len(events) - (limit - 1) :] if limit > 1 else []
        else:
            keep = [events[-1]]
        name = self._learn_events(session, genes)
        session.stm = [list(event) for event in keep]
        return name or None

    def learn(self, session: SessionState, genes: Genes) -> str:
        """Manual learn (§3.1): ``PTRN|<hash>``, or ``""`` when the STM held one symbol."""
        if not session.stm:
            raise EmptySTMError()
        return self._learn_events(session, genes)

    def _learn_events(self, session: SessionState, genes: Genes) -> str:
        events = tuple(tuple(event) for event in session.stm)
        averaged = average_emotives(session.emotives)
        name = ""
        if sum(len(event) for event in events) >= 2:
            digest = pattern_hash(events)
            emotives = without_zeros(averaged) if averaged else None
            metadata = merged_metadata(session.metadata)
            self.knowledge_base.learn(digest, events, emotives, genes.persistence, metadata or None)
            name = PATTERN_PREFIX + digest
        session.stm = []
        session.emotives = []
        session.metadata = []
        return name

    def clear_stm(self, session: SessionState) -> None:
        session.clear_stm()

    def predictions(self, session: SessionState, genes: Genes) -> list[dict[str, Any]]:
        """Predictions for the session's current STM and the current knowledge base (D1).

        The returned list is shared with the cache: callers must copy before changing it.
        """
        return self.prediction_result(session, genes).predictions

    def prediction_result(self, session: SessionState, genes: Genes) -> v3_predictions.Result:
        """The predictions and, when ``predictive_information`` is set, the future
        potentials (§12.8). Genes with a later prediction feature take the §12 pipeline;
        every other session the baseline one, unchanged."""
        if _nothing_to_predict(session, genes):
            return v3_predictions.Result([], None)
        with self._lock:
            index = self.refresh()
            return self._result(index, session, genes, _cache_key(session, genes, index))

    def quick_prediction_result(
        self, session: SessionState, genes: Genes, budget: float
    ) -> v3_predictions.Result | None:
        """``prediction_result`` when it can be had at once: no other thread inside the node,
        the index at the store's revision (no catch-up to read), and the answer cached or a
        baseline computation while the node's last one took at most ``budget`` seconds.
        None otherwise, having changed nothing. One revision read from the store."""
        if _nothing_to_predict(session, genes):
            return v3_predictions.Result([], None)
        if not self._lock.acquire(blocking=False):
            return None
        try:
            index = self._index
            if self.knowledge_base.revision() != index.revision:
                return None
            key = _cache_key(session, genes, index)
            slow = genes.later_predictions or self._last_compute_seconds > budget
            if slow and key not in self._cache:
                return None
            return self._result(index, session, genes, key)
        finally:
            self._lock.release()

    def _result(
        self, index: PatternIndex, session: SessionState, genes: Genes, key: tuple[Any, ...]
    ) -> v3_predictions.Result:
        """The result cached under ``key`` (``_cache_key``), or computed and cached (lock
        held)."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if genes.later_predictions:
            result = v3_predictions.compute(index, session.stm, genes, self._sources())
        else:
            result = v3_predictions.Result(self._compute(index, _flat(session), genes), None)
        self._cache[key] = result
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    def _sources(self) -> v3_predictions.Sources:
        return v3_predictions.Sources(self.training_figures)

    def _compute(self, index: PatternIndex, state: list[str], genes: Genes) -> list[dict[str, Any]]:
        started = time.perf_counter()
        threshold = genes.recall_threshold
        state_ids = index.state_ids(state)
        candidates = index.candidates(state, threshold)
        best, _ = index.score(state_ids, candidates, threshold, genes.max_predictions)
        # The core returns the top potentials plus the group tied with the last one; the
        # deterministic order (D4) breaks ties by name. Objects only for the returned ones.
        view = index.view
        best.sort(key=lambda item: (-item.potential, index.name(item.slot)))
        chosen = [(view(item.slot), item) for item in best[: genes.max_predictions]]
        predictions = prediction_objects(state, chosen)
        self._last_compute_seconds = time.perf_counter() - started
        if self.on_compute is not None:
            self.on_compute(self._last_compute_seconds, len(candidates))
        return predictions

    def cognition_data(self, session: SessionState, genes: Genes) -> dict[str, Any]:
        return {
            "predictions": self.predictions(session, genes),
            "emotives": average_emotives(session.emotives),
            "symbols": list(session.last_symbols),
            "command": "",
            "metadata": {},
            "path": [],
            "strings": [],
            "vectors": [],
            "short_term_memory": [list(event) for event in session.stm],
        }


def _flat(session: SessionState) -> list[str]:
    return [symbol for event in session.stm for symbol in event]


def _nothing_to_predict(session: SessionState, genes: Genes) -> bool:
    """The baseline pipeline predicts nothing from fewer than two symbols."""
    return not genes.later_predictions and sum(map(len, session.stm)) < 2


def _cache_key(session: SessionState, genes: Genes, index: PatternIndex) -> tuple[Any, ...]:
    # (STM, genes, knowledge-base revision): the prediction cache's key (``Node._cache``).
    return (tuple(map(tuple, session.stm)), genes, index.revision)


def _summed(vectors: Sequence[Sequence[float]]) -> list[float]:
    total = list(vectors[0])
    for vector in vectors[1:]:
        total = [a + b for a, b in zip(total, vector, strict=True)]
    return total
