"""Slow clients cannot hold a worker's capacity: a request is read whole, within deadlines,
before it may take an in-flight slot.

* :class:`ReadWholeBodyMiddleware` (pure ASGI, outside the in-flight limit) reads the request
  body completely — at most ``limits.max_body_bytes`` (413 ``KATO_PAYLOAD_TOO_LARGE``) within
  ``limits.body_read_timeout_seconds`` of the headers (408 ``KATO_REQUEST_TIMEOUT``) — and
  only then calls the app with the buffered body. A client trickling its body therefore waits
  outside the in-flight limit, authentication and the handlers, and is cut off at the
  deadline; both refusals close the connection, since the rest of the body was never read.
* :class:`HeaderTimeoutProtocol` is the uvicorn HTTP protocol ``kato serve`` runs: it closes a
  connection whose request line and headers are not complete within
  ``limits.header_read_timeout_seconds`` of the connection opening or of the request's first
  byte. uvicorn has no such timeout of its own (its ``timeout_keep_alive`` only covers the
  silence *between* requests, and is cancelled by the first byte of the next one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kato.resilience.errors import send_error_envelope

logger = logging.getLogger("kato.api")

# The rest of the body is still on the wire: the connection cannot carry another request.
_CLOSE = [(b"connection", b"close")]


class _BodyTooLarge(Exception):
    """The body grew past ``max_body_bytes`` while it was read."""


class _ClientGone(Exception):
    """The client disconnected before its body arrived whole."""


class ReadWholeBodyMiddleware:
    """Call the app only with a request body read whole, bounded in size and in time."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_read_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout = body_read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if self._declared_length(scope) > self.max_body_bytes:
                raise _BodyTooLarge
            async with asyncio.timeout(self.body_read_timeout):
                body = await self._read_body(receive)
        except _ClientGone:
            return  # nobody to answer
        except _BodyTooLarge:
            await send_error_envelope(
                send,
                413,
                "KATO_PAYLOAD_TOO_LARGE",
                f"Request body exceeds max_body_bytes = {self.max_body_bytes}",
                _CLOSE,
                limit="max_body_bytes",
                maximum=self.max_body_bytes,
            )
            return
        except TimeoutError:
            await send_error_envelope(
                send,
                408,
                "KATO_REQUEST_TIMEOUT",
                f"Request body not received within {self.body_read_timeout:g} s",
                _CLOSE,
                limit="body_read_timeout_seconds",
                maximum=self.body_read_timeout,
            )
            return
        await self.app(scope, _replaying(body, receive), send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit():
                return int(value)
        return 0  # chunked or absent: counted while it is read

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the connection's own messages (e.g. a disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's line and headers.

    The clock starts when the connection opens (a connection that sends nothing is closed
    too) and at the first byte of each later request; it stops when the headers are complete.
    uvicorn builds the protocol like a class; ``kato serve`` passes
    ``functools.partial(HeaderTimeoutProtocol, header_read_timeout=…)``, which pickles to
    every worker process.
    """

    def __init__(self, *args: Any, header_read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_read_timeout = header_read_timeout
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        super().on_headers_complete()

    def _start_header_clock(self) -> None:
        if self._header_deadline is None:  # a running clock keeps its deadline
            self._header_deadline = self.loop.call_later(
                self.header_read_timeout, self._headers_timed_out
            )

    def _stop_header_clock(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_timed_out(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            logger.debug(
                "closing a connection: request headers not received within %g s",
                self.header_read_timeout,
            )
            self.transport.close()
