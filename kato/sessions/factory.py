"""Choose and build the session store from configuration (issue 4 req 6)."""

from __future__ import annotations

from kato.config import Settings
from kato.sessions.memory_store import MemorySessionStore
from kato.sessions.store import SessionStore


def session_backend(settings: Settings) -> str:
    """``memory`` or ``redis``: the explicit ``store_type``, else redis when a URL is set."""
    store_type = settings.session.store_type
    if store_type is None:
        return "redis" if settings.database.redis.url else "memory"
    if store_type == "redis" and not settings.database.redis.url:
        raise ValueError(
            "session.store_type is 'redis' but no Redis URL is configured: set REDIS_URL "
            "(database.redis.url), or session.store_type: memory for one process"
        )
    return store_type


def open_session_store(settings: Settings) -> SessionStore:
    """A ready-to-use store; no network round trip happens until first use (see ``ping``)."""
    session = settings.session
    if session_backend(settings) == "memory":
        return MemorySessionStore(
            lock_timeout_seconds=session.lock_timeout_seconds,
            lock_acquire_timeout_seconds=session.lock_acquire_timeout_seconds,
            expired_retention_seconds=session.expired_retention_seconds,
            expired_retention_max_sessions=session.expired_retention_max_sessions,
        )
    # Imported here so the embedded default does not load the Redis client at all.
    from kato.sessions.redis_store import RedisSessionStore

    return RedisSessionStore.from_settings(
        settings.database.redis, session, traced=settings.monitoring.tracing_enabled
    )
