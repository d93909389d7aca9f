"""Security layer: authentication, roles, session ownership, rate limits, audit, bind guard.

The errors live here so every submodule (and the API's error-envelope handler) can import them
without pulling in FastAPI or the limiter. Each carries the HTTP status it maps to and any
response headers it needs (``WWW-Authenticate``, ``Retry-After``, ``RateLimit-*``).
"""

from __future__ import annotations

from typing import Any

from kato.core.errors import KatoError


class SecurityError(KatoError):
    """Base of the errors the security layer raises on purpose."""

    status_code = 403

    def __init__(self, message: str, headers: dict[str, str] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers: dict[str, str] = dict(headers or {})


class UnauthorizedError(SecurityError):
    """No credentials, or credentials that do not verify (401)."""

    code = "KATO_UNAUTHORIZED"
    status_code = 401

    def __init__(self, message: str = "Authentication required", **details: Any) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"}, **details)


class ForbiddenError(SecurityError):
    """Authenticated, but the principal lacks the role or node scope (403)."""

    code = "KATO_FORBIDDEN"
    status_code = 403


class RateLimitedError(SecurityError):
    """A per-principal, per-session or global rate limit is exhausted (429)."""

    code = "KATO_RATE_LIMITED"
    status_code = 429


class InsecureBindError(SecurityError):
    """Start-up refused: auth ``none`` on a non-loopback address without ``--insecure``."""

    code = "KATO_INSECURE_BIND"
    status_code = 500


__all__ = [
    "ForbiddenError",
    "InsecureBindError",
    "RateLimitedError",
    "SecurityError",
    "UnauthorizedError",
]
