"""Slow clients cannot hold a worker's capacity: a request is read whole, within deadlines,
before it may take an in-flight slot.

* The body: the request pipeline (``kato.api.pipeline``, outside the in-flight limit) reads
  it completely — at most ``limits.max_body_bytes`` (413 ``KATO_PAYLOAD_TOO_LARGE``) within
  ``limits.body_read_timeout_seconds`` of the headers (408 ``KATO_REQUEST_TIMEOUT``) — and
  only then calls the app with the buffered body. When :class:`HeaderTimeoutProtocol` has
  already parsed the whole request (the common case: headers and body in one read), it says so
  in the scope (:data:`WHOLE_BODY_RECEIVED`) and the pipeline reads the body without arming
  a timer: the server answers the read at once.
* :class:`HeaderTimeoutProtocol` (here, not in the api layer: it is the server's protocol,
  below ASGI) is the uvicorn HTTP protocol ``kato serve`` runs: it closes a
  connection whose request line and headers are not complete within
  ``limits.header_read_timeout_seconds`` of the connection opening or of the request's first
  byte. uvicorn has no such timeout of its own (its ``timeout_keep_alive`` only covers the
  silence *between* requests, and is cancelled by the first byte of the next one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("kato.api")

# Set in a request's ASGI scope once the server holds its whole body (no read can wait).
WHOLE_BODY_RECEIVED = "kato.whole_body_received"


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
        # The running clock's deadline (loop time), None while no request's headers are due.
        # One timer per connection checks it and re-arms itself for a later deadline, so a
        # keep-alive connection costs no timer creation and cancellation per request.
        self._headers_due: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_clock()

    def on_headers_complete(self) -> None:
        self._headers_due = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Only for the request just parsed (``self.scope``) when uvicorn took its body: an
        # upgrade (a WebSocket) has no cycle of its own (``self.cycle`` is the previous
        # request's, or None), and a cycle already answered keeps ``more_body`` set.
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and not cycle.more_body:
            self.scope[WHOLE_BODY_RECEIVED] = True  # type: ignore[literal-required]

    def _start_header_clock(self) -> None:
        if self._headers_due is not None:
            return  # a running clock keeps its deadline
        self._headers_due = self.loop.time() + self.header_read_timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self._headers_due, self._check_headers)

    def _check_headers(self) -> None:
        self._timer = None
        due = self._headers_due
        if due is None:
            return  # no headers due: the next request's first byte starts a new clock
        if self.loop.time() < due:  # a later request's clock: wait for its deadline
            self._timer = self.loop.call_at(due, self._check_headers)
            return
        self._headers_due = None
        if not self.transport.is_closing():
            logger.debug(
                "closing a connection: request headers not received within %g s",
                self.header_read_timeout,
            )
            self.transport.close()
