"""The one error envelope (decision D10) and the handlers that produce it.

Every error response, whatever raised it, has the body::

    {"error": {"code": "KATO_…", "message": "…", "details": {…, "trace_id": "…"},
               "timestamp": "2026-01-01T00:00:00.000000Z"},
     "status": <http status>}

and carries the ``X-Trace-ID`` header. Status codes come from one table keyed by code, so a
``KatoError`` raised anywhere below the API maps to the same status everywhere.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kato.core.errors import KatoError
from kato.core.random_ids import uuid4_hex
from kato.observability.logging import current_trace_id
from kato.security.roles import effective_routes

logger = logging.getLogger("kato.api")

TRACE_HEADER = "X-Trace-ID"

# Semantic validation (a well-formed request the engine refuses, e.g. vectors of unequal
# length or an out-of-range gene) is 400; a request that does not match the schema is 422.
STATUS_BY_CODE: dict[str, int] = {
    "KATO_VALIDATION_ERROR": 400,
    "KATO_BAD_REQUEST": 400,
    "KATO_EMPTY_STM": 400,
    "KATO_UNAUTHORIZED": 401,
    "KATO_FORBIDDEN": 403,
    "KATO_NOT_FOUND": 404,
    "KATO_SESSION_NOT_FOUND": 404,
    "KATO_SESSION_EXPIRED": 404,
    "KATO_PATTERN_NOT_FOUND": 404,
    "KATO_GENE_NOT_FOUND": 404,
    "KATO_METHOD_NOT_ALLOWED": 405,
    "KATO_REQUEST_TIMEOUT": 408,
    "KATO_CONFLICT": 409,
    "KATO_SESSION_EXISTS": 409,
    "KATO_NODE_ID_CONFLICT": 409,
    "KATO_SESSION_TOO_LARGE": 413,
    "KATO_PAYLOAD_TOO_LARGE": 413,
    "KATO_LIMIT_EXCEEDED": 422,
    "KATO_RATE_LIMITED": 429,
    "KATO_INTERNAL_ERROR": 500,
    "KATO_DATABASE_ERROR": 503,
    "KATO_CIRCUIT_OPEN": 503,
    "KATO_SERVICE_UNAVAILABLE": 503,
    "KATO_OVERLOADED": 503,
    "KATO_SESSION_STORE_ERROR": 503,
    "KATO_SESSION_BUSY": 503,
    "KATO_SESSION_LOCK_LOST": 503,
    "KATO_TIMEOUT": 504,
}

_CODE_BY_HTTP_STATUS: dict[int, str] = {
    400: "KATO_BAD_REQUEST",
    401: "KATO_UNAUTHORIZED",
    403: "KATO_FORBIDDEN",
    404: "KATO_NOT_FOUND",
    405: "KATO_METHOD_NOT_ALLOWED",
    409: "KATO_CONFLICT",
    413: "KATO_PAYLOAD_TOO_LARGE",
    422: "KATO_VALIDATION_ERROR",
    429: "KATO_RATE_LIMITED",
    503: "KATO_SERVICE_UNAVAILABLE",
}


def status_for(error: KatoError) -> int:
    """An error class may pin its own ``status_code``; otherwise the table decides."""
    explicit = getattr(error, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    return STATUS_BY_CODE.get(error.code, 500)


def error_body(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The envelope as a dict (also used for WebSocket ``error`` replies): the only builder.

    The timestamp always has six fraction digits (semantics §7.1, "microsecond precision")
    and ends in ``Z`` (docs/DECISIONS.md)."""
    return {
        "error": {
            "code": code,
            "message": message,
            # Every request has a trace id (kato.api.pipeline); a fresh one outside a request.
            "details": {**(details or {}), "trace_id": current_trace_id() or uuid4_hex()},
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        "status": status,
    }


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An enveloped error response; the request pipeline's refusals use this too."""
    body = error_body(status, code, message, details)
    response = JSONResponse(body, status_code=status, headers=headers)
    response.headers[TRACE_HEADER] = body["error"]["details"]["trace_id"]
    return response


def kato_error_response(error: KatoError, headers: dict[str, str] | None = None) -> JSONResponse:
    return error_response(status_for(error), error.code, error.message, error.details, headers)


def _schema_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only loc/msg/type: the raw input and ctx may be large or not JSON-serialisable.
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]


async def _on_kato_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KatoError)
    # Security errors carry response headers (WWW-Authenticate, Retry-After, RateLimit-*).
    return kato_error_response(exc, getattr(exc, "headers", None))


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _schema_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return error_response(
        422,
        "KATO_VALIDATION_ERROR",
        f"Request validation failed: {where}: {first['msg']}",
        {"errors": errors},
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path accepts.

    Starlette's 405 names only the first matching route's methods, but one path may be served
    by several routes (``GET`` and ``DELETE /v2/sessions/{id}``)."""
    methods: set[str] = set()
    for route in effective_routes(request.app.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_BY_HTTP_STATUS.get(status, f"KATO_HTTP_{status}")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(status, code, message, headers=headers)


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return error_response(500, "KATO_INTERNAL_ERROR", "An unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(KatoError, _on_kato_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


class GeneNotFoundError(KatoError):
    code = "KATO_GENE_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"Gene '{name}' not found", gene=name)
