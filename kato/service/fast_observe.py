"""The dispatch of an observe to the one-step path of the session store (issue 10 req 2, 3).

An observe goes down the **fast path** — one atomic step, no lock: a script in Redis
(``redis_observe.py``), one call without an ``await`` in the memory store
(``MemorySessionStore.append_observation``) —
when nothing about it needs more than the session's own figures: no vectors, no prediction
archive, no client-named ``unique_id`` (a retry must find the remembered answer, which lives
in the record), a session with the service's genes, and an STM short of auto-learning as far
as this instance last saw. Everything else, and every observe the store declines, takes the
locked path with its exact errors and answers.

The ownership check (and the session's rate limit and audit fields it records) needs the
session's node and owner before the script runs. Both are fixed at creation, so this instance
remembers them per session after a locked observe (:class:`SessionIdentities`), and the
store checks the session names that same node and owner: a session deleted and created again
under the same id by someone else is declined, never written.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.node import Node, ObserveOutcome
from kato.engine.session_state import SessionState
from kato.sessions.models import Session
from kato.sessions.redis_observe import AppendedObservation, AppendOutcome, ObservationLimits

IDENTITIES_CACHED = 100_000  # about 200 bytes each


@dataclass(slots=True)
class SessionIdentity:
    """What an observe needs of a session without reading it; ``stm_length`` as last seen
    (a hint: it only decides whether to try the fast path)."""

    session: Session  # id, node and owner only (the state is empty): what the check reads
    stm_length: int


class SessionIdentities:
    """An LRU of the sessions this instance observed recently."""

    def __init__(self, size: int = IDENTITIES_CACHED) -> None:
        self._size = size
        self._entries: OrderedDict[str, SessionIdentity] = OrderedDict()

    def get(self, session_id: str) -> SessionIdentity | None:
        entry = self._entries.get(session_id)
        if entry is not None:
            self._entries.move_to_end(session_id)
        return entry

    def remember(self, session: Session) -> None:
        if session.config:  # its own genes: the fast path never applies
            self.forget(session.session_id)
            return
        identity = Session(
            session_id=session.session_id,
            node_id=session.node_id,
            created_at=session.created_at,
            expires_at=session.expires_at,
            ttl_seconds=session.ttl_seconds,
            last_accessed=session.last_accessed,
            owner=session.owner,
        )
        self._entries[session.session_id] = SessionIdentity(identity, len(session.state.stm))
        self._entries.move_to_end(session.session_id)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, session_id: str) -> None:
        self._entries.pop(session_id, None)


def fast_change(
    node: Node, observation: Observation, genes: Genes, identity: SessionIdentity
) -> AppendedObservation | None:
    """The observe's change to its session (what the store applies); None when the observe
    needs the locked path whatever the session holds."""
    if observation.vectors or observation.metadata or node.archive_predictions:
        return None  # (metadata: the session's accumulator is not in the script's log)
    if genes.session_auto_extend:
        return None  # the expiry slides in the locked path's save (§12.18)
    learn_at = genes.max_pattern_length
    if learn_at > 0 and not observation.is_empty and identity.stm_length + 1 >= learn_at:
        return None  # it would auto-learn (as far as this instance knows)
    change = SessionState()
    if node.observe_needs_storage(change, observation, genes):
        return None
    # The engine applies the observation to an empty state: the event, percept data and
    # emotives it produces are exactly what it would add to the session's own state.
    node.observe(change, observation, genes)
    session = identity.session
    return AppendedObservation(session.node_id, session.owner, change, time.time())


def limits_of(max_stm_size: int, max_session_bytes: int, genes: Genes) -> ObservationLimits:
    return ObservationLimits(max_stm_size, max_session_bytes, genes.max_pattern_length)


def outcome_of(appended: AppendOutcome, unique_id: str | None) -> ObserveOutcome:
    return ObserveOutcome(appended.time, appended.stm_length, None, unique_id)
