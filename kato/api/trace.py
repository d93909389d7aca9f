"""Per-request trace id: taken from the client's ``X-Trace-ID`` header or generated, kept in a
context variable for the error envelope and logs, and echoed in the ``X-Trace-ID`` response
header of every HTTP response.

A pure ASGI middleware (not ``BaseHTTPMiddleware``) so it adds no task hop per request.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kato.observability import current_trace_id as observed_trace_id

TRACE_HEADER = "X-Trace-ID"
_MAX_CLIENT_TRACE_ID = 128

trace_id_var: ContextVar[str | None] = ContextVar("kato_trace_id", default=None)


def current_trace_id() -> str:
    """The current request's trace id, or a fresh one outside a request."""
    return trace_id_var.get() or uuid.uuid4().hex


def _client_trace_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-trace-id":
            text = value.decode("latin-1").strip()
            # A client value is echoed back: accept only short printable ids.
            if 0 < len(text) <= _MAX_CLIENT_TRACE_ID and text.isprintable():
                return text
    return None


class TraceIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # The request-log middleware (outside this one) already chose the id for HTTP, and
        # adds the header itself: no send wrapper needed then.
        observed = observed_trace_id()
        trace_id = observed or _client_trace_id(scope) or uuid.uuid4().hex
        token = trace_id_var.set(trace_id)
        if observed is not None and scope["type"] == "http":
            await self.app(scope, receive, send)
            trace_id_var.reset(token)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        # Not reset on an exception: the outermost 500 handler (Starlette's server-error
        # middleware, outside this one) must still see this request's id.
        await self.app(scope, receive, send_with_header)
        trace_id_var.reset(token)
