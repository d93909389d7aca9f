"""The session store behind the ``redis`` circuit breaker.

A :class:`~kato.sessions.store.SessionStore` decorator: every call to the wrapped store goes
through :meth:`Resilience.acall`, so a Redis outage answers 503 ``KATO_DATABASE_ERROR`` (the
first failures) then 503 ``KATO_CIRCUIT_OPEN`` at once (breaker open) instead of 500s or
requests hanging on a dead socket, and service resumes by itself once Redis answers the
half-open trial — a PING, never a session lock acquisition, which may wait on another
request. Reads are retried (idempotent); writes are not, since re-sending one after a
timeout could apply it twice. ``ping`` bypasses the breaker: the readiness probe reports
what Redis answers, not what the breaker remembers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

from kato.resilience import BreakerState, Resilience
from kato.sessions.models import Session
from kato.sessions.redis_observe import (
    AppendedObservation,
    AppendOutcome,
    AppendsObservations,
    ObservationLimits,
)
from kato.sessions.store import SessionStore
from kato.sessions.tombstones import SessionTombstone


class BreakerGuardedSessionStore:
    """``SessionStore`` whose every round trip passes one dependency's breaker."""

    def __init__(self, inner: SessionStore, resilience: Resilience, service: str = "redis"):
        self.inner = inner
        self.backend = inner.backend
        self._resilience = resilience
        self._service = service

    async def create(self, session: Session) -> None:
        await self._resilience.acall(self._service, lambda: self.inner.create(session))

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        return await self._resilience.acall(
            self._service,
            lambda: self.inner.create_once(session, request_key, record, ttl_seconds),
        )

    async def get(self, session_id: str) -> Session | None:
        return await self._resilience.acall(
            self._service, lambda: self.inner.get(session_id), idempotent=True
        )

    async def save(self, session: Session) -> None:
        await self._resilience.acall(self._service, lambda: self.inner.save(session))

    async def expired(self, session_id: str) -> SessionTombstone | None:
        return await self._resilience.acall(
            self._service, lambda: self.inner.expired(session_id), idempotent=True
        )

    async def delete(self, session_id: str) -> bool:
        return await self._resilience.acall(self._service, lambda: self.inner.delete(session_id))

    @property
    def appends_observations(self) -> bool:
        """Whether the wrapped store has (and may use) the one-round-trip observe."""
        inner = self.inner
        return isinstance(inner, AppendsObservations) and inner.appends_observations

    async def append_observation(
        self, session_id: str, change: AppendedObservation, limits: ObservationLimits
    ) -> AppendOutcome:
        inner = cast(AppendsObservations, self.inner)  # callers asked appends_observations
        return await self._resilience.acall(
            self._service, lambda: inner.append_observation(session_id, change, limits)
        )

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        if self._resilience.breakers[self._service].state is not BreakerState.CLOSED:
            # The half-open trial is a PING: a lock acquisition may wait for a busy
            # session's holder, and while the trial waits every other request is refused.
            await self._resilience.acall(self._service, self.inner.ping)
        async with AsyncExitStack() as stack:
            # Waiting for a busy session's holder is not a Redis failure: no timeout here,
            # the store's own acquire timeout and the socket timeouts bound it.
            await self._resilience.acall(
                self._service,
                lambda: stack.enter_async_context(self.inner.lock(session_id)),
                bounded=False,
                may_be_trial=False,
            )
            yield

    async def count(self) -> int:
        return await self._resilience.acall(self._service, self.inner.count, idempotent=True)

    async def stats(self) -> dict[str, Any]:
        return await self._resilience.acall(self._service, self.inner.stats, idempotent=True)

    async def cleanup_expired(self) -> int:
        return await self._resilience.acall(self._service, self.inner.cleanup_expired)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
