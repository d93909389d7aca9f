"""The service facade: sessions, per-session serialisation and engine operations.

Every session-scoped operation runs as: take the session's lock (held across instances by
the session store) → load the session → run the engine operation on a copy of its state in a
worker thread → enforce the session caps → save. A failure anywhere before ``save`` leaves
the stored session exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from kato.config import Settings
from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.node import Node, ObserveOutcome
from kato.engine.ports import PatternRecord
from kato.engine.session_state import SessionState
from kato.engine.v3_predictions import Result
from kato.observability.logging import bind_request_fields
from kato.observability.metrics import STM_SIZE
from kato.resilience.overload import ConcurrencyLimiter
from kato.service.compute_threads import ComputeThreads
from kato.service.errors import SessionExpiredError, SessionNotFoundError, SessionTooLargeError
from kato.service.fast_observe import SessionIdentities, fast_change, limits_of, outcome_of
from kato.service.nodes import NodeRegistry, NodeStorageOpener
from kato.service.v3_lifecycle import heartbeat, heartbeat_interval, read_should_slide, slide
from kato.sessions.errors import SessionExistsError
from kato.sessions.idempotency import (
    AppliedWrites,
    IdempotencyKeyReusedError,
    NamedWrite,
    Window,
    fingerprint,
    scoped_key,
)
from kato.sessions.models import Session
from kato.sessions.redis_observe import AppendsObservations
from kato.sessions.store import SessionStore
from kato.sessions.tombstones import SessionTombstone

T = TypeVar("T")
Answer = dict[str, Any]  # what a write answers, as remembered for a repeat of it

DEFAULT_SESSION_ID = "session-default"

# An access rule applied to a loaded session, or to the tombstone of an expired one (so only
# a caller who could see the session learns that it expired); raises (e.g.
# SessionNotFoundError) to refuse it.
SessionCheck = Callable[[Session | SessionTombstone], Awaitable[None]]


@dataclass(slots=True)
class SessionContext:
    """What an operation inside a session's critical section works with."""

    session: Session
    node: Node
    genes: Genes
    # Runs after the caps (the STM trimmed), right before the save.
    before_save: Callable[[], None] | None = None
    # The operation checked the caps after its last growth of the session (``Node.observe``
    # runs the check before its store writes; after it only the auto-learn and the trim
    # follow, and both only shrink the session): the byte cap is not computed again.
    caps_checked: bool = False


# A prediction expected to compute for less than this runs on the event loop (when the node's
# store is embedded, see ``prediction_result``). In a worker thread it would hold the GIL
# from start to end anyway — CPython takes it back only after a switch interval (5 ms), and
# the compiled core never releases it — so the loop would wait as long, and the hand-over
# to the thread and back (~0.1 ms of server CPU, a quarter of a 1,000-pattern computation)
# is saved. Half the interval leaves room for a computation longer than the node's last.
QUICK_PREDICTION_SECONDS = sys.getswitchinterval() / 2


class KatoService:
    def __init__(
        self,
        settings: Settings,
        sessions: SessionStore,
        open_storage: NodeStorageOpener,
        embedded_knowledge_base: bool = False,
    ) -> None:
        """``embedded_knowledge_base``: the nodes' stores are in-process (SQLite), so reading
        a revision never waits on a network and short predictions may skip the thread."""
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
        # The slots' computations leave the loop through these threads: a cheaper hand-over
        # than run_in_threadpool's (kato/service/compute_threads.py).
        self._compute = ComputeThreads("kato-predict")
        self._quick_predictions = embedded_knowledge_base
        self.idempotency = Window.of(settings.session)
        self.started_at = time.time()
        # Observes in one step where the store has it: one Redis round trip, or one call of
        # the memory store without its lock (kato/service/fast_observe.py).
        self._appender = (
            sessions
            if isinstance(sessions, AppendsObservations) and sessions.appends_observations
            else None
        )
        self._identities = SessionIdentities()
        self._observation_limits = limits_of(
            settings.session.max_stm_size, settings.session.max_session_bytes, settings.genes
        )

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
        idempotency_key: str | None = None,
    ) -> Session:
        """A new session; a repeat of a create with the same ``idempotency_key`` (per owner,
        within the idempotency window) returns the session the first one created, as it is now.
        """
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
        if idempotency_key is None:
            await self.sessions.create(session)
            return session
        request = fingerprint(node_id, metadata, ttl_seconds, config)
        record = json.dumps({"session_id": session.session_id, "request": request})
        earlier = await self.sessions.create_once(
            session,
            scoped_key(owner or "", idempotency_key),
            record,
            self.idempotency.seconds,
        )
        if earlier is None:
            return session
        first = json.loads(earlier)
        if first["request"] != request:
            raise IdempotencyKeyReusedError("idempotency_key", idempotency_key)
        return await self.get_session(first["session_id"])  # 404 once deleted or expired

    async def get_session(self, session_id: str, check: SessionCheck | None = None) -> Session:
        """The live session; ``check`` (an access rule) may refuse it before anything else.
        A session with ``session_auto_extend`` slides its expiry (§12.18, v3_lifecycle)."""
        session = await self._loaded(session_id, check)
        if read_should_slide(session) and self._auto_extends(session):
            async with self._locked(session_id):
                pass  # the critical section slides the expiry and saves
            slide(session)
        return session

    def _auto_extends(self, session: Session) -> bool:
        # Session.config holds validated gene values: a lookup, no validation per read.
        default = self.settings.genes.session_auto_extend
        return bool(session.config.get("session_auto_extend", default))

    async def _loaded(self, session_id: str, check: SessionCheck | None = None) -> Session:
        session = await self.sessions.get(session_id)
        if session is None:
            raise await self._missing(session_id, check)
        if check is not None:
            await check(session)
        bind_request_fields(session_id=session_id, node_id=session.node_id)  # request log
        return session

    async def _missing(
        self, session_id: str, check: SessionCheck | None
    ) -> SessionExpiredError | SessionNotFoundError:
        """Why there is no live session: expired (within the retention window, for a caller
        ``check`` lets see it), else not found — unknown, deleted or expired long ago."""
        tombstone = await self.sessions.expired(session_id)
        if tombstone is None:
            return SessionNotFoundError(session_id)
        if check is not None:
            await check(tombstone)
        return SessionExpiredError(session_id)

    async def delete_session(self, session_id: str) -> None:
        self._identities.forget(session_id)
        if not await self.sessions.delete(session_id):
            raise await self._missing(session_id, None)

    async def extend_session(self, session_id: str, ttl_seconds: int) -> Session:
        async with self._locked(session_id) as context:
            now = time.time()
            context.session.expires_at = now + ttl_seconds
            context.session.ttl_seconds = ttl_seconds
        self._identities.forget(session_id)  # its expiry as remembered is no longer it
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
            session = await self._loaded(session_id, check)
            session.last_accessed = time.time()
            session.access_count += 1
            context = SessionContext(
                session, self.nodes.get(session.node_id), self.genes_for(session)
            )
            if context.genes.session_auto_extend:  # 3.x sliding expiry (§12.18)
                slide(session, session.last_accessed)
            yield context
            self._enforce_caps(context.session, context.caps_checked)
            if context.before_save is not None:
                context.before_save()
            await self.sessions.save(context.session)

    def _enforce_caps(self, session: Session, checked: bool = False) -> None:
        """Trim (or refuse) an STM over its cap, then refuse a session over its byte cap —
        unless the operation ``checked`` it already (``SessionContext.caps_checked``)."""
        cap = self.settings.session.max_stm_size
        stm = session.state.stm
        if len(stm) > cap and self.settings.session.stm_overflow == "trim":
            session.state.stm = stm[len(stm) - cap :]
        if not checked:
            self._check_caps(session)

    def _observe_check(self, context: SessionContext) -> Callable[[SessionState], None]:
        """The caps check ``Node.observe`` runs before its store writes."""

        def check(_: SessionState) -> None:
            self._check_caps(context.session)
            context.caps_checked = True

        return check

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

    async def _run_write(
        self,
        session_id: str,
        write: NamedWrite | None,
        operation: Callable[[SessionContext], T],
        answer: Callable[[Session, T], Answer],
        in_thread: Callable[[SessionContext], bool] = lambda context: True,
        check: SessionCheck | None = None,
    ) -> tuple[Session, Answer]:
        """``_run`` for a write the client may repeat; returns what it answers.

        The answer (``answer`` of the session and the operation's result) is taken after the
        caps, so it describes what is saved. A write the client named (``write``) is
        remembered with its answer in that same save; a repeat of it gets the remembered
        answer and is not applied.
        """
        if write is None:
            session, result = await self._run(session_id, operation, in_thread, check)
            return session, answer(session, result)
        answered: Answer = {}

        def run(context: SessionContext) -> None:
            writes = AppliedWrites.of(self.idempotency, context.session.applied_writes)
            earlier = writes.answer_to(write)
            if earlier is not None:
                answered.update(earlier)
                return
            result = operation(context)

            def before_save() -> None:
                answered.update(answer(context.session, result))
                writes.remember(write, dict(answered))
                context.session.applied_writes = writes.store()

            context.before_save = before_save

        session, _ = await self._run(session_id, run, in_thread, check)
        return session, answered

    # -- engine operations ----------------------------------------------------------------

    async def observe(
        self,
        session_id: str,
        observation: Observation,
        unique_id: str | None = None,
        check: SessionCheck | None = None,
        named_by_client: bool = False,
    ) -> tuple[Session, ObserveOutcome]:
        """``check`` runs on the session loaded in the critical section, before any change
        (the route's ownership rule: one load per observe instead of two).

        ``named_by_client``: the ``unique_id`` is the client's, so a repeat of this observe
        is answered as the first one was and not applied again. The outcome's ``stm_length``
        is the STM length saved (after the cap's trim).

        On the one-step path (``_observe_appending``) the returned session carries its id,
        node and owner only (what callers read)."""
        write = (
            NamedWrite.observe(unique_id, observation) if named_by_client and unique_id else None
        )
        if write is None and self._appender is not None:
            answered, checked = await self._observe_appending(
                self._appender, session_id, observation, unique_id, check
            )
            if answered is not None:
                return answered
            if checked:  # the store matched the node and owner the check was run on
                check = None
        session, answer = await self._run_write(
            session_id,
            write,
            lambda c: c.node.observe(
                c.session.state,
                observation,
                c.genes,
                unique_id,
                check=self._observe_check(c),
            ),
            _observe_answer,
            in_thread=lambda c: c.node.observe_needs_storage(c.session.state, observation, c.genes),
            check=check,
        )
        STM_SIZE.observe(len(session.state.stm))
        if self._appender is not None:
            self._identities.remember(session)
        return session, ObserveOutcome(
            answer["time"], answer["stm_length"], answer["auto_learned_pattern"], unique_id
        )

    async def _observe_appending(
        self,
        appender: AppendsObservations,
        session_id: str,
        observation: Observation,
        unique_id: str | None,
        check: SessionCheck | None,
    ) -> tuple[tuple[Session, ObserveOutcome] | None, bool]:
        """The observe in one step of the store (a Redis round trip, a memory-store call)
        when it qualifies: ``(answer, True)``; else ``(None, whether the check already ran on
        the session's verified identity)``."""
        identity = self._identities.get(session_id)
        if identity is None or identity.session.expired():
            # (expired as last seen: the locked path answers, the check on its tombstone)
            return None, False
        node = self.nodes.get(identity.session.node_id)
        change = fast_change(node, observation, self.settings.genes, identity)
        if change is None:
            return None, False
        if check is not None:
            await check(identity.session)
        appended = await appender.append_observation(session_id, change, self._observation_limits)
        if not appended.applied:
            if not appended.identity_verified:
                self._identities.forget(session_id)
            return None, appended.identity_verified
        identity.stm_length = appended.stm_length
        bind_request_fields(session_id=session_id, node_id=identity.session.node_id)
        STM_SIZE.observe(appended.stm_length)
        return (identity.session, outcome_of(appended, unique_id)), True

    async def learn(
        self, session_id: str, idempotency_key: str | None = None
    ) -> tuple[Session, str]:
        """The learned pattern's name; a repeat with the same ``idempotency_key`` gets it again
        without learning twice."""
        session, answer = await self._run_write(
            session_id,
            _keyed(idempotency_key, "learn"),
            lambda c: c.node.learn(c.session.state, c.genes),
            lambda _, name: {"pattern_name": name},
        )
        return session, answer["pattern_name"]

    async def clear_stm(self, session_id: str, idempotency_key: str | None = None) -> Session:
        session, _ = await self._run_write(
            session_id,
            _keyed(idempotency_key, "clear-stm"),
            lambda c: c.node.clear_stm(c.session.state),
            _no_answer,
            in_thread=lambda c: False,
        )
        return session

    async def clear_all(self, session_id: str, idempotency_key: str | None = None) -> Session:
        """Clear the node's whole long-term memory and the session's STM; ``time`` ← 0 (§3.5)."""

        def clear(context: SessionContext) -> None:
            context.node.clear_all()
            context.node.clear_stm(context.session.state)
            context.session.state.time = 0

        session, _ = await self._run_write(
            session_id, _keyed(idempotency_key, "clear-all"), clear, _no_answer
        )
        return session

    async def predictions(
        self, session_id: str, check: SessionCheck | None = None
    ) -> tuple[Session, list[dict[str, Any]]]:
        session, result = await self.prediction_result(session_id, check)
        return session, result.predictions

    async def prediction_result(
        self, session_id: str, check: SessionCheck | None = None
    ) -> tuple[Session, Result]:
        """The predictions with the §12.8 future potentials (None unless the session's
        ``predictive_information`` is set), for the 3.x predictions route."""
        session = await self.get_session(session_id, check)
        node = self.nodes.get(session.node_id)
        genes = self.genes_for(session)
        with self.prediction_slots.slot():  # CPU-bound: refuse at once beyond the bound
            result = (
                node.quick_prediction_result(session.state, genes, QUICK_PREDICTION_SECONDS)
                if self._quick_predictions
                else None
            )
            if result is None:
                result = await self._compute.run(node.prediction_result, session.state, genes)
            return session, result

    async def cognition_data(self, session_id: str) -> dict[str, Any]:
        session = await self.get_session(session_id)
        node = self.nodes.get(session.node_id)
        genes = self.genes_for(session)
        with self.prediction_slots.slot():
            return await self._compute.run(node.cognition_data, session.state, genes)

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
        self._identities.forget(session_id)  # maybe its own genes: observed locked
        return genes

    async def observe_sequence(
        self,
        session_id: str,
        observations: list[Observation],
        unique_ids: list[str],
        learn_after_each: bool = False,
        learn_at_end: bool = False,
        clear_stm_between: bool = False,
        named_by_client: list[bool] | None = None,
    ) -> dict[str, Any]:
        """§12.4: observations applied in order on the session, as one critical section.

        ``unique_ids`` (one per observation) are what the engine archives predictions under,
        so each is reported in its result. An observation whose id is the client's
        (``named_by_client``) and was applied already — by an earlier request or earlier in
        this one — is answered as it was then and not applied again (nor the clear before it
        or the learn after it); a request whose every observation was applied already does
        not learn at its end either."""
        named = named_by_client or [False] * len(observations)

        def run(context: SessionContext) -> dict[str, Any]:
            state, node, genes = context.session.state, context.node, context.genes
            writes = AppliedWrites.of(self.idempotency, context.session.applied_writes)
            initial = len(state.stm)
            results: list[dict[str, Any]] = []
            learned: list[str] = []
            repeats = 0
            for position, (observation, unique_id, by_client) in enumerate(
                zip(observations, unique_ids, named, strict=True)
            ):
                write = NamedWrite.observe(unique_id, observation) if by_client else None
                answer = writes.answer_to(write) if write is not None else None
                if answer is None:
                    answer = self._observe_item(
                        context,
                        observation,
                        unique_id,
                        position,
                        clear_stm_between,
                        learn_after_each,
                        learned,
                    )
                    if write is not None:
                        writes.remember(write, answer)
                else:
                    repeats += 1
                    if answer["auto_learned_pattern"]:
                        learned.append(answer["auto_learned_pattern"])
                results.append(
                    {
                        "status": "okay",
                        "sequence_position": position,
                        **answer,
                        "unique_id": unique_id,
                    }
                )
            context.session.applied_writes = writes.store()
            final_learned = None
            all_repeated = bool(observations) and repeats == len(observations)
            if learn_at_end and state.stm and not all_repeated:
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

        async with self._locked(session_id) as context:
            if not context.genes.session_auto_extend:
                return await run_in_threadpool(run, context)
            # 3.x heartbeat (§12.18): the stored session stays alive while the batch runs.
            loaded = Session.from_dict(context.session.to_dict())
            interval = heartbeat_interval(context.session.ttl_seconds)
            async with heartbeat(self.sessions, loaded, interval):
                return await run_in_threadpool(run, context)

    def _observe_item(
        self,
        context: SessionContext,
        observation: Observation,
        unique_id: str,
        position: int,
        clear_stm_between: bool,
        learn_after_each: bool,
        learned: list[str],
    ) -> Answer:
        """One observation of a sequence (with the clear before it and the learn after it);
        appends what it learned to ``learned``, returns its answer."""
        state, node, genes = context.session.state, context.node, context.genes
        if clear_stm_between and position > 0:
            node.clear_stm(state)
        outcome = node.observe(
            state, observation, genes, unique_id, check=self._observe_check(context)
        )
        if outcome.auto_learned_pattern:
            learned.append(outcome.auto_learned_pattern)
        if learn_after_each and state.stm:
            name = node.learn(state, genes)
            if name:
                learned.append(name)
        return {
            "time": state.time,
            "stm_length": len(state.stm),
            "auto_learned_pattern": outcome.auto_learned_pattern,
        }

    async def close(self) -> None:
        self._compute.close()
        await self.sessions.close()


def _keyed(idempotency_key: str | None, operation: str) -> NamedWrite | None:
    return None if idempotency_key is None else NamedWrite.keyed(idempotency_key, operation)


def _observe_answer(session: Session, outcome: ObserveOutcome) -> Answer:
    return {
        "time": outcome.time,
        "stm_length": len(session.state.stm),
        "auto_learned_pattern": outcome.auto_learned_pattern,
    }


def _no_answer(session: Session, result: None) -> Answer:
    return {}
