"""Typed errors for dependency failures and overload.

The API maps each to 503 with the error envelope's ``code`` and a ``Retry-After`` header taken
from ``retry_after`` (seconds, rounded up), so clients back off instead of hammering a
dependency that is down or a worker that is full.
"""

from __future__ import annotations

import math

from kato.core.errors import KatoError


class ServiceUnavailableError(KatoError):
    """Base of the errors answered with 503 and a ``Retry-After`` header."""

    code = "KATO_SERVICE_UNAVAILABLE"
    status_code = 503

    def __init__(self, message: str, retry_after: float, **details: object) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` value: whole seconds, at least 1 (RFC 9110 delta-seconds)."""
        return str(max(1, math.ceil(self.retry_after)))

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the API's error handler adds to the envelope."""
        return {"Retry-After": self.retry_after_header}


class CircuitOpenError(ServiceUnavailableError):
    """The breaker of ``service`` is open: the call was refused without touching it."""

    code = "KATO_CIRCUIT_OPEN"

    def __init__(self, service: str, retry_after: float) -> None:
        super().__init__(f"Circuit breaker for {service} is open", retry_after, service=service)
        self.service = service


class DependencyError(ServiceUnavailableError):
    """A call to ``service`` failed with a transient error (connection lost, timeout)."""

    code = "KATO_DATABASE_ERROR"

    def __init__(self, service: str, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(f"{service} is unavailable: {reason}", retry_after, service=service)
        self.service = service


class OverloadedError(ServiceUnavailableError):
    """This worker is at its configured concurrency bound; the request was not queued."""

    code = "KATO_OVERLOADED"
