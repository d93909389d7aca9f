"""Slow clients cannot hold a worker's capacity: a request is read whole, within deadlines,
before it may take an in-flight slot.

* The body: the request pipeline (``kato.api.pipeline``, outside the in-flight limit) reads
  it completely — at most ``limits.max_body_bytes`` (413 ``KATO_PAYLOAD_TOO_LARGE``) within
  ``limits.body_read_timeout_seconds`` of the headers (408 ``KATO_REQUEST_TIMEOUT``) — and
  only then calls the app with the buffered body.
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
