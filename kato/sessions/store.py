"""The session storage port. Implementations: ``memory_store`` and ``redis_store``.

Every method is async (Redis is reached through redis-py asyncio). Per-session
serialisation is part of the port: ``lock(session_id)`` must hold across every process and
instance that shares the store, so concurrent requests to one session are applied one at a
time, none lost and none applied twice.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from kato.sessions.models import Session
from kato.sessions.tombstones import SessionTombstone


class SessionStore(Protocol):
    backend: str  # "memory" | "redis"

    async def create(self, session: Session) -> None: ...

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        """``create`` and remember ``record`` under ``request_key`` for ``ttl_seconds``, in
        one atomic step — unless ``request_key`` is remembered already (a repeated request):
        then nothing is created and the record remembered is returned."""
        ...

    async def get(self, session_id: str) -> Session | None:
        """The live session, or None when unknown or expired (an expired one is removed).

        The returned object is the caller's own copy: changing it changes nothing stored
        until ``save``."""
        ...

    async def save(self, session: Session) -> None:
        """Write back a session read under its lock (TTL kept as ``expires_at``)."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def expired(self, session_id: str) -> SessionTombstone | None:
        """The tombstone of a session that expired (was not deleted) less than the retention
        window ago and has no live successor; else None. Consulted after ``get`` found
        nothing."""
        ...

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive per-session section; a dead holder blocks at most the lock expiry."""
        ...

    async def count(self) -> int:
        """Live sessions, without an O(n) scan per call."""
        ...

    async def stats(self) -> dict[str, Any]: ...

    async def cleanup_expired(self) -> int:
        """Remove expired sessions; returns how many were removed."""
        ...

    async def ping(self) -> None:
        """Raise if the backend is unreachable."""
        ...

    async def close(self) -> None: ...
