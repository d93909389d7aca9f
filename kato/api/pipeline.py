"""The request pipeline: every per-request concern in one pure-ASGI middleware.

One middleware instead of a stack of seven, because each layer of a stack costs a call, a
closure and a ``send`` wrapper per request (about a fifth of an observe, profiled). The
concerns run in this order — the only place it is decided (``create_app`` passes the parts):

1. **trace id** (``kato.observability.logging``): chosen from the request's headers, kept in
   the one trace-id context for the error envelope, the logs and the audit, returned as
   ``X-Trace-ID``;
2. **read whole** (``BodyLimits``): the body read completely, at most ``max_body_bytes``
   (413) within ``body_read_timeout_seconds`` (408) — a client trickling its body waits out
   here, outside the in-flight bound, authentication and the handlers;
3. **in-flight bound** (``resilience.max_in_flight``, 503 ``KATO_OVERLOADED``);
4. **drain** (``kato.service.shutdown``): once draining, 503 ``KATO_SHUTTING_DOWN``;
5. **security** (``SecurityLayer``): ``X-Content-Type-Options`` and ``RateLimit-*`` on the
   answer of step 6, then the audit record of the request and the adaptive rate-limit feed;
6. **the answer**: the lean dispatch (``kato.api.lean_route``) answers a well-formed request
   of a hot route directly (unless CORS is configured); every other request goes on to the
   app's inner layers (CORS, the JSON body check, the router);
7. when the answer is complete: request metrics, then the one JSON request-log line.

Refusals of steps 2–4 are answered with the error envelope before the app runs (so they
carry ``X-Kato-Not-Processed`` where a balancer may re-send them) and are still counted and
logged. Health probes and ``/metrics`` are exempt from steps 3 and 4, so an operator sees a
saturated or draining worker. WebSockets get step 1 only; lifespan messages pass through.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kato.api.draining import NOT_PROCESSED_HEADER, shutting_down_response
from kato.api.errors import error_response
from kato.api.lean_route import LeanDispatch
from kato.observability.logging import RequestLog, begin_request, end_request
from kato.observability.metrics import REQUESTS_IN_FLIGHT, RequestMetrics, route_template
from kato.resilience import ConcurrencyLimiter, OverloadedError
from kato.resilience.slow_clients import WHOLE_BODY_RECEIVED
from kato.security.layer import SecurityLayer
from kato.service.shutdown import Drain

EXEMPT_PATH_PREFIXES = ("/health", "/metrics")
# The rest of the body is still on the wire: the connection cannot carry another request.
_CLOSE = {"Connection": "close"}
_TRACE_HEADER = b"x-trace-id"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_body_bytes: int
    body_read_timeout: float


class _BodyTooLarge(Exception):
    """The body grew past ``max_body_bytes`` while it was read."""


class _ClientGone(Exception):
    """The client disconnected before its body arrived whole."""


class _Exchange:
    """One HTTP request's answer as it is sent: the status seen, the headers added."""

    __slots__ = ("scope", "receive", "send_on", "status", "secured", "security", "trace_header")

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, security: SecurityLayer, trace_id: str
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send_on = send
        self.security = security
        self.trace_header = trace_id.encode("latin-1")
        self.status = 500  # an exception escaping the app is answered 500 by the server
        self.secured = False  # security headers go on the app's answers, not on refusals

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = list(message.get("headers", ()))
            if self.secured:
                self.security.add_response_headers(self.scope, headers)
            # An inner layer may have set it already (to the same id): never send two. (A
            # loop, not any() over a generator: one frame fewer per header.)
            for name, _ in headers:
                if name.lower() == _TRACE_HEADER:
                    break
            else:
                headers.append((_TRACE_HEADER, self.trace_header))
            message = {**message, "headers": headers}
        await self.send_on(message)


class RequestPipeline:
    """The pure-ASGI middleware of ``create_app`` (module docstring: the order)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        body: BodyLimits,
        in_flight: ConcurrencyLimiter,
        drain: Drain,
        security: SecurityLayer,
        metrics: RequestMetrics | None,
        log: RequestLog,
        lean: LeanDispatch,
        cors: bool = False,
    ) -> None:
        self.app = app
        self.body = body
        self.in_flight = in_flight
        self.drain = drain
        self.security = security
        self.metrics = metrics
        self.log = log
        self.lean = lean
        # With CORS on, its middleware (inside this one) answers preflights itself: they get
        # neither security headers nor an audit record, as when security sat inside CORS.
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                begin_request(scope)
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = begin_request(scope)
        exchange = _Exchange(scope, receive, send, self.security, request.trace_id)
        try:
            await self._serve(scope, receive, exchange, started)
        finally:
            endpoint = route_template(scope)
            if self.metrics is not None:
                self.metrics.record(scope["method"], endpoint, exchange.status, started)
            self.log.write(scope, endpoint, exchange.status, started, request.fields)
        # Not ended on an exception: the 500 handler (Starlette's server-error middleware,
        # outside this one) must still see this request's trace id.
        end_request(request)

    async def _serve(
        self, scope: Scope, receive: Receive, exchange: _Exchange, started: float
    ) -> None:
        try:
            body = await self._read_whole(scope, receive)
        except _ClientGone:
            return  # nobody to answer
        except _BodyTooLarge:
            limit = self.body.max_body_bytes
            await _refuse(
                exchange,
                413,
                "KATO_PAYLOAD_TOO_LARGE",
                f"Request body exceeds max_body_bytes = {limit}",
                _CLOSE,
                limit="max_body_bytes",
                maximum=limit,
            )
            return
        except TimeoutError:
            timeout = self.body.body_read_timeout
            await _refuse(
                exchange,
                408,
                "KATO_REQUEST_TIMEOUT",
                f"Request body not received within {timeout:g} s",
                _CLOSE,
                limit="body_read_timeout_seconds",
                maximum=timeout,
            )
            return
        if scope["path"].startswith(EXEMPT_PATH_PREFIXES):
            await self._call_app(scope, body, receive, exchange, started)
            return
        if not self.in_flight.try_acquire():
            await self._refuse_overloaded(exchange)
            return
        REQUESTS_IN_FLIGHT.inc()  # the Explorer's "in flight" (issue 13)
        try:
            if self.drain.draining:
                await shutting_down_response()(scope, receive, exchange.send)
                return
            await self._call_app(scope, body, receive, exchange, started)
        finally:
            REQUESTS_IN_FLIGHT.dec()
            self.in_flight.release()

    async def _call_app(
        self, scope: Scope, body: bytes, receive: Receive, exchange: _Exchange, started: float
    ) -> None:
        if self.cors and _is_preflight(scope):
            await self.app(scope, replaying(body, receive), exchange.send)
            return
        exchange.secured = True
        try:
            if not await self.lean.serve(scope, body, receive, exchange.send):
                await self.app(scope, replaying(body, receive), exchange.send)
        finally:
            self.security.after_request(scope, exchange.status, time.perf_counter() - started)

    async def _read_whole(self, scope: Scope, receive: Receive) -> bytes:
        if _declared_length(scope) > self.body.max_body_bytes:
            raise _BodyTooLarge
        if scope.get(WHOLE_BODY_RECEIVED):
            return await self._read_body(receive)  # answered at once: no deadline to keep
        async with asyncio.timeout(self.body.body_read_timeout):
            return await self._read_body(receive)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.body.max_body_bytes:
                raise _BodyTooLarge
            if not message.get("more_body", False):
                if not chunks:
                    return chunk  # the common case: the whole body in one message
                chunks.append(chunk)
                return b"".join(chunks)
            chunks.append(chunk)

    async def _refuse_overloaded(self, exchange: _Exchange) -> None:
        limiter = self.in_flight
        error = OverloadedError(
            f"Worker at its limit of {limiter.limit} requests in flight",
            limiter.retry_after,
            limit=limiter.limit,
        )
        headers = {
            "Retry-After": error.retry_after_header,
            # Refused before the app saw it: a balancer may re-send it anywhere.
            NOT_PROCESSED_HEADER: "true",
        }
        await _refuse(exchange, 503, error.code, error.message, headers, **error.details)


async def _refuse(
    exchange: _Exchange,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str],
    **details: object,
) -> None:
    """Answer with the error envelope before the app ran."""
    response = error_response(status, code, message, details, headers)
    await response(exchange.scope, exchange.receive, exchange.send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0  # chunked or absent: counted while it is read


def _is_preflight(scope: Scope) -> bool:
    """What Starlette's ``CORSMiddleware`` answers itself: OPTIONS with an ``Origin`` and an
    ``Access-Control-Request-Method``."""
    if scope["method"] != "OPTIONS":
        return False
    names = {name for name, _ in scope["headers"]}
    return b"origin" in names and b"access-control-request-method" in names


def replaying(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the connection's own messages (e.g. a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
