"""Typed exceptions decoded from the server's error envelope (DESIGN D10).

Every error response of the KATO API has the body
``{"error": {"code", "message", "details": {..., "trace_id"}, "timestamp"}, "status"}``.
``error_from_response`` turns it into the most specific ``KatoAPIError`` subclass for its
``code`` (falling back to the HTTP status when the code is unknown or the body is not the
envelope, e.g. an HTML page from a proxy), so callers catch ``SessionNotFound`` rather than
compare strings.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

NOT_PROCESSED_HEADER = "X-Kato-Not-Processed"


class KatoClientError(Exception):
    """Base of every exception the client raises."""


class KatoConnectionError(KatoClientError):
    """The server could not be reached or the connection failed mid-request."""


class KatoAPIError(KatoClientError):
    """The server answered with an error status.

    ``retry_after`` is the ``Retry-After`` header in seconds (None when absent).
    ``not_processed`` is True when the server promises nothing of the request was applied
    (``X-Kato-Not-Processed: true``, sent while an instance drains).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
        not_processed: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.retry_after = retry_after
        self.not_processed = not_processed

    @property
    def trace_id(self) -> str | None:
        """The request's trace id: quote it when reporting a problem (it is in the logs)."""
        value = self.details.get("trace_id")
        return value if isinstance(value, str) else None


class BadRequest(KatoAPIError):
    """400: a well-formed request the server refuses."""


class ValidationFailed(KatoAPIError):
    """``KATO_VALIDATION_ERROR``: 422 (not the documented shape) or 400 (refused content)."""


class EmptySTM(BadRequest):
    """400 ``KATO_EMPTY_STM``: learn with nothing in short-term memory."""


class LimitExceeded(KatoAPIError):
    """422 ``KATO_LIMIT_EXCEEDED``: a configured per-request limit; see ``details``."""


class Unauthorized(KatoAPIError):
    """401: missing or invalid credentials."""


class Forbidden(KatoAPIError):
    """403: the credentials' role or node scope does not allow the request."""


class NotFound(KatoAPIError):
    """404: an unknown route or resource."""


class SessionNotFound(NotFound):
    """404 ``KATO_SESSION_NOT_FOUND`` / ``KATO_SESSION_EXPIRED``: unknown, expired or deleted."""


class PatternNotFound(NotFound):
    """404 ``KATO_PATTERN_NOT_FOUND``."""


class GeneNotFound(NotFound):
    """404 ``KATO_GENE_NOT_FOUND``."""


class Conflict(KatoAPIError):
    """409: e.g. ``KATO_SESSION_EXISTS``."""


class PayloadTooLarge(KatoAPIError):
    """413: the body, or the session it would produce, is over a configured size."""


class RateLimited(KatoAPIError):
    """429 ``KATO_RATE_LIMITED``; ``retry_after`` says when to try again."""


class ServerError(KatoAPIError):
    """500: an unexpected server error (details are in the server log under ``trace_id``)."""


class ServiceUnavailable(KatoAPIError):
    """503: a dependency is down, the instance sheds load or drains; usually retryable."""


class GatewayTimeout(KatoAPIError):
    """504 ``KATO_TIMEOUT``: a dependency did not answer in time."""


_CLASS_BY_CODE: dict[str, type[KatoAPIError]] = {
    "KATO_VALIDATION_ERROR": ValidationFailed,
    "KATO_EMPTY_STM": EmptySTM,
    "KATO_LIMIT_EXCEEDED": LimitExceeded,
    "KATO_SESSION_NOT_FOUND": SessionNotFound,
    "KATO_SESSION_EXPIRED": SessionNotFound,
    "KATO_PATTERN_NOT_FOUND": PatternNotFound,
    "KATO_GENE_NOT_FOUND": GeneNotFound,
    "KATO_RATE_LIMITED": RateLimited,
}

_CLASS_BY_STATUS: dict[int, type[KatoAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    500: ServerError,
    503: ServiceUnavailable,
    504: GatewayTimeout,
}


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def error_from_response(response: httpx.Response) -> KatoAPIError:
    """The typed exception for an error response (any body, envelope or not)."""
    status = response.status_code
    code, message = f"HTTP_{status}", response.reason_phrase or "error"
    details: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict):
        code = str(envelope.get("code", code))
        message = str(envelope.get("message", message))
        if isinstance(envelope.get("details"), dict):
            details = dict(envelope["details"])
    header_trace_id = response.headers.get("X-Trace-ID")
    if header_trace_id and not details.get("trace_id"):
        details["trace_id"] = header_trace_id
    cls = _CLASS_BY_CODE.get(code) or _CLASS_BY_STATUS.get(status, KatoAPIError)
    return cls(
        status,
        code,
        message,
        details,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        not_processed=response.headers.get(NOT_PROCESSED_HEADER, "").lower() == "true",
    )
