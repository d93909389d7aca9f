"""Errors raised by session stores, shared by every backend so callers handle one set.

Each carries a stable ``code`` (architecture spec appendix A style) for the error envelope.
"""

from __future__ import annotations

from kato.core.errors import KatoError


class SessionStoreError(KatoError):
    """Base class of the session-store errors below."""

    code = "KATO_SESSION_STORE_ERROR"


class SessionExistsError(SessionStoreError):
    """``create`` was given an id that names a live session."""

    code = "KATO_SESSION_EXISTS"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} already exists", session_id=session_id)


class SessionGoneError(SessionStoreError):
    """``save`` of a session that was deleted or expired while the caller held it."""

    code = "KATO_SESSION_EXPIRED"

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"Session {session_id} was deleted or expired meanwhile", session_id=session_id
        )


class SessionLockTimeoutError(SessionStoreError):
    """The per-session lock could not be acquired in time (the session is busy)."""

    code = "KATO_SESSION_BUSY"

    def __init__(self, session_id: str, waited_seconds: float) -> None:
        super().__init__(
            f"Session {session_id} is busy: lock not acquired within {waited_seconds:g} s",
            session_id=session_id,
        )


class SessionLockNotHeldError(SessionStoreError):
    """``save`` was called without holding ``lock(session_id)``, or after the lock expired.

    The fencing check: a holder whose lock expired (and may have been taken over by another
    request or instance) must not overwrite newer state.
    """

    code = "KATO_SESSION_LOCK_LOST"

    def __init__(self, session_id: str, reason: str) -> None:
        super().__init__(f"Session {session_id} not saved: {reason}", session_id=session_id)
