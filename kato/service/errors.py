"""Service-level errors (architecture spec appendix A codes)."""

from __future__ import annotations

from kato.core.errors import KatoError


class SessionNotFoundError(KatoError):
    code = "KATO_SESSION_NOT_FOUND"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} not found or expired", session_id=session_id)


class SessionExpiredError(KatoError):
    """The session expired less than ``session.expired_retention_seconds`` ago."""

    code = "KATO_SESSION_EXPIRED"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id} has expired", session_id=session_id)


class SessionTooLargeError(KatoError):
    """A request would grow a session past its configured byte or STM cap."""

    code = "KATO_SESSION_TOO_LARGE"
