"""The service facade: sessions, per-session serialisation and engine operations.

Every session-scoped operation runs as: take the session's lock (held across instances by
the session store) → load the session → run the engine operation on a copy of its state in a
worker thread → enforce the session caps → save. A failure anywhere before ``save`` leaves
the stored session exactly as it was.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from kato.config import Settings
from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.node import Node, ObserveOutcome
from kato.engine.ports import PatternRecord
from kato.observability.logging import bind_request_fields
from kato.observability.metrics import STM_SIZE
from kato.resilience.overload import ConcurrencyLimiter
from kato.service.errors import SessionNotFoundError, SessionTooLargeError
from kato.service.nodes import NodeRegistry, NodeStorageOpener
from kato.sessions.errors import SessionExistsError
from kato.sessions.models import Session
from kato.sessions.store import SessionStore

T = TypeVar("T")

DEFAULT_SESSION_ID = "session-default"

# An access rule applied to a loaded session; raises (e.g. SessionNotFoundError) to refuse it.
SessionCheck = Callable[[Session], None]


@dataclass(slots=True)
class SessionContext:
    """What an operation inside a session's critical section works with."""

    session: Session
    node: Node
    genes: Genes


class KatoService:
    def __init__(
        self, settings: Settings, sessions: SessionStore, open_storage: NodeStorageOpener
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.nodes = NodeRegistry(
            open_storage,
            settings.service.max_nodes_cached,
            settings.service.archive_predictions,
        )
        self.prediction_slots = ConcurrencyLimiter(
            settings.resilience.max_concurrent_predictions, "prediction computations"
        )
        self.started_at = time.time()

    # -- genes ----------------------------------------------------------------------------

    def genes_for(self, session: Session) -> Genes:
        """Service defaults overlaid with the session's own configuration (§12.3)."""
        if not session.config:
            return self.settings.genes
        return self.settings.genes.replace(session.config)

    # -- session lifecycle ----------------------------------------------------------------

    async def create_session(
        self,
        node_id: str,
        metadata: dict[str, Any] | None = None,
        ttl_seconds: int | None = None,
        config: dict[str, Any] | None = None,
        owner: str | None = None,
        session_id: str | None = None,
    ) -> Session:
        session = Session.new(
            node_id,
            ttl_seconds or self.settings.session.ttl_seconds,
            metadata,
            owner,
            session_id,
        )
        if config:
            self.settings.genes.replace(config)  # validate before anything is stored
            session.config = dict(config)
        await self.sessions.create(session)
        return session

    async def get_session(self, session_id: str, check: SessionCheck | None = None) -> Session:
        """The live session; ``check`` (an access rule) may refuse it before anything else."""
        session = await self.sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError(session_id)
        if check is not None:
            check(session)
        bind_request_fields(session_id=session_id, node_id=session.node_id)  # request log
        return session

    async def delete_session(self, session_id: str) -> None:
        if not await self.sessions.delete(session_id):
            raise SessionNotFoundError(session_id)

    async def extend_session(self, session_id: str, ttl_seconds: int) -> Session:
        async with self._locked(session_id) as context:
            now = time.time()
            context.session.expires_at = now + ttl_seconds
            context.session.ttl_seconds = ttl_seconds
            return context.session

    async def default_session_id(self, owner: str | None = None) -> str:
        """The persistent default session of the default node (D9), created on demand."""
        session_id = DEFAULT_SESSION_ID if owner is None else f"{DEFAULT_SESSION_ID}-{owner}"
        if await self.sessions.get(session_id) is None:
            # Two first requests may race to create it; the loser just uses the winner's.
            with contextlib.suppress(SessionExistsError):
                await self.create_session(
                    self.settings.service.default_node_id,
                    metadata={"type": "default"},
                    ttl_seconds=self.settings.session.ttl_seconds,
                    owner=owner,
                    session_id=session_id,
                )
        return session_id

    # -- critical section -------------------------------------------------------------------

    @asynccontextmanager
    async def _locked(
        self, session_id: str, check: SessionCheck | None = None
    ) -> AsyncIterator[SessionContext]:
        async with self.sessions.lock(session_id):
            session = await self.get_session(session_id, check)
            session.last_accessed = time.time()
            session.access_count += 1
            context = SessionContext(
                session, self.nodes.get(session.node_id), self.genes_for(session)
            )
            yield context
            self._enforce_caps(context.session)
            await self.sessions.save(context.session)

    def _enforce_caps(self, session: Session) -> None:
        """Trim (or refuse) an STM over its cap, then refuse a session over its byte cap."""
        cap = self.settings.session.max_stm_size
        stm = session.state.stm
        if len(stm) > cap and self.settings.session.stm_overflow == "trim":
            session.state.stm = stm[len(stm) - cap :]
        self._check_caps(session)

    def _check_caps(self, session: Session) -> None:
        """Refuse, without changing anything, a session over its caps.

        Observes run it before any store write (vector, archive, auto-learn), so a refused
        request leaves the knowledge base untouched too. It sees the STM before the trim, so
        near the byte cap it may refuse one event's worth early (documented in docs/API.md).
        """
        cap = self.settings.session.max_stm_size
        stm = session.state.stm
        if len(stm) > cap and self.settings.session.stm_overflow == "reject":
            raise SessionTooLargeError(
                f"STM would hold {len(stm)} events, more than max_stm_size {cap}",
                max_stm_size=cap,
            )
        limit = self.settings.session.max_session_bytes
        if session.encoded_size_bound() <= limit:
            return  # the exact size (a full JSON encoding) is needed only near the limit
        size = session.encoded_size()
        if size > limit:
            raise SessionTooLargeError(
                f"session would take {size} bytes, more than max_session_bytes {limit}",
                max_session_bytes=limit,
            )

    async def _run(
        self,
        session_id: str,
        operation: Callable[[SessionContext], T],
        in_thread: Callable[[SessionContext], bool] = lambda context: True,
        check: SessionCheck | None = None,
    ) -> tuple[Session, T]:
        """Run ``operation`` in the session's critical section.

        Operations that may reach a store (or compute predictions) run in a worker thread so
        the event loop never blocks on I/O; pure in-memory ones of a few microseconds run
        inline, where a thread hop would cost more than the work (about 15 % of an observe).
        """
        async with self._locked(session_id, check) as context:
            if in_thread(context):
                result = await run_in_threadpool(operation, context)
            else:
                result = operation(context)
        return context.session, result

    # -- engine operations ----------------------------------------------------------------

    async def observe(
        self,
        session_id: str,
        observation: Observation,
        unique_id: str | None = None,
        check: SessionCheck | None = None,
    ) -> tuple[Session, ObserveOutcome]:
        """``check`` runs on the session loaded in the critical section, before any change
        (the route's ownership rule: one load per observe instead of two)."""
        session, outcome = await self._run(
            session_id,
            lambda c: c.node.observe(
                c.session.state,
                observation,
                c.genes,
                unique_id,
                check=lambda _: self._check_caps(c.session),
            ),
            in_thread=lambda c: c.node.observe_needs_storage(c.session.state, observation, c.genes),
            check=check,
        )
        STM_SIZE.observe(len(session.state.stm))
        return session, outcome

    async def learn(self, session_id: str) -> tuple[Session, str]:
        return await self._run(session_id, lambda c: c.node.learn(c.session.state, c.genes))

    async def clear_stm(self, session_id: str) -> Session:
        session, _ = await self._run(
            session_id, lambda c: c.node.clear_stm(c.session.state), in_thread=lambda c: False
        )
        return session

    async def clear_all(self, session_id: str) -> Session:
        """Clear the node's whole long-term memory and the session's STM; ``time`` ← 0 (§3.5)."""

        def clear(context: SessionContext) -> None:
            context.node.clear_all()
            context.node.clear_stm(context.session.state)
            context.session.state.time = 0

        session, _ = await self._run(session_id, clear)
        return session

    async def predictions(
        self, session_id: str, check: SessionCheck | None = None
    ) -> tuple[Session, list[dict[str, Any]]]:
        session = await self.get_session(session_id, check)
        node = self.nodes.get(session.node_id)
        genes = self.genes_for(session)
        with self.prediction_slots.slot():  # CPU-bound: refuse at once beyond the bound
            return session, await run_in_threadpool(node.predictions, session.state, genes)

    async def cognition_data(self, session_id: str) -> dict[str, Any]:
        session = await self.get_session(session_id)
        node = self.nodes.get(session.node_id)
        genes = self.genes_for(session)
        with self.prediction_slots.slot():
            return await run_in_threadpool(node.cognition_data, session.state, genes)

    async def get_pattern(self, session_id: str, name: str) -> PatternRecord:
        """A pattern of the session's node (``PTRN|`` prefix optional)."""
        session = await self.get_session(session_id)
        node = self.nodes.get(session.node_id)
        return await run_in_threadpool(node.get_pattern, name)

    async def archived_predictions(self, session_id: str, unique_id: str) -> list[dict[str, Any]]:
        """Predictions archived under ``unique_id`` by an observe (D1, ``archive_predictions``)."""
        session = await self.get_session(session_id)
        node = self.nodes.get(session.node_id)
        return await run_in_threadpool(node.knowledge_base.archived_predictions, unique_id)

    async def update_config(self, session_id: str, changes: dict[str, Any]) -> Genes:
        """Validate every change first (GeneError lists them all); apply none on error."""
        async with self._locked(session_id) as context:
            genes = self.genes_for(context.session).replace(changes)
            context.session.config = {
                name: value
                for name, value in genes.model_dump(mode="json").items()
                if value != self.settings.genes.model_dump(mode="json")[name]
            }
            return genes

    async def observe_sequence(
        self,
        session_id: str,
        observations: list[Observation],
        unique_ids: list[str],
        learn_after_each: bool = False,
        learn_at_end: bool = False,
        clear_stm_between: bool = False,
    ) -> dict[str, Any]:
        """§12.4: observations applied in order on the session, as one critical section.

        ``unique_ids`` (one per observation) are what the engine archives predictions under,
        so each is reported in its result."""

        def run(context: SessionContext) -> dict[str, Any]:
            state, node, genes = context.session.state, context.node, context.genes
            initial = len(state.stm)
            results: list[dict[str, Any]] = []
            learned: list[str] = []
            for position, (observation, unique_id) in enumerate(
                zip(observations, unique_ids, strict=True)
            ):
                if clear_stm_between and position > 0:
                    node.clear_stm(state)
                outcome = node.observe(
                    state,
                    observation,
                    genes,
                    unique_id,
                    check=lambda _: self._check_caps(context.session),
                )
                if outcome.auto_learned_pattern:
                    learned.append(outcome.auto_learned_pattern)
                if learn_after_each and state.stm:
                    name = node.learn(state, genes)
                    if name:
                        learned.append(name)
                results.append(
                    {
                        "status": "okay",
                        "sequence_position": position,
                        "stm_length": len(state.stm),
                        "time": state.time,
                        "unique_id": unique_id,
                        "auto_learned_pattern": outcome.auto_learned_pattern,
                    }
                )
            final_learned = None
            if learn_at_end and state.stm:
                final_learned = node.learn(state, genes) or None
                if final_learned:
                    learned.append(final_learned)
            return {
                "status": "completed",
                "node_id": context.session.node_id,
                "processor_id": context.session.node_id,
                "observations_processed": len(observations),
                "initial_stm_length": initial,
                "final_stm_length": len(state.stm),
                "results": results,
                "auto_learned_patterns": learned,
                "final_learned_pattern": final_learned,
                "isolated": clear_stm_between,
            }

        _, summary = await self._run(session_id, run)
        return summary

    async def close(self) -> None:
        await self.sessions.close()
