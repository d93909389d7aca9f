"""Overload protection: refuse at once instead of queueing into timeouts.

* :class:`InFlightLimitMiddleware` bounds the requests one worker handles concurrently
  (``resilience.max_in_flight``). Beyond the bound a request is answered 503
  ``KATO_OVERLOADED`` with ``Retry-After`` before any work is done. Health probes and
  /metrics are exempt so an operator still sees a saturated worker.
* :class:`ConcurrencyLimiter` bounds CPU-bound prediction computations
  (``resilience.max_concurrent_predictions``); acquiring never waits — a full limiter raises
  :class:`OverloadedError`, which the API answers 503 as well.

Both are per worker process; with N workers the service admits N times the bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from kato.resilience.errors import OverloadedError, send_error_envelope

EXEMPT_PATH_PREFIXES: tuple[str, ...] = ("/health", "/metrics")


class ConcurrencyLimiter:
    """A zero-wait semaphore usable from the event loop and from worker threads."""

    def __init__(self, limit: int, what: str, retry_after: float = 1.0) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        self.limit = limit
        self.what = what
        self.retry_after = retry_after
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_use >= self.limit:
                return False
            self._in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._in_use == 0:
                raise RuntimeError("release() without a matching acquire")
            self._in_use -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the block, or raise :class:`OverloadedError` at once."""
        if not self.try_acquire():
            raise OverloadedError(
                f"Too many concurrent {self.what} (limit {self.limit} per worker)",
                self.retry_after,
                limit=self.limit,
            )
        try:
            yield
        finally:
            self.release()


class InFlightLimitMiddleware:
    """Pure ASGI middleware: at most ``max_in_flight`` concurrent HTTP requests per worker."""

    def __init__(
        self,
        app: ASGIApp,
        max_in_flight: int,
        retry_after: float = 1.0,
        exempt_prefixes: tuple[str, ...] = EXEMPT_PATH_PREFIXES,
    ) -> None:
        self.app = app
        self.limiter = ConcurrencyLimiter(max_in_flight, "requests in flight", retry_after)
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        if not self.limiter.try_acquire():
            await self._refuse(send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limiter.release()

    async def _refuse(self, send: Send) -> None:
        error = OverloadedError(
            f"Worker at its limit of {self.limiter.limit} requests in flight",
            self.limiter.retry_after,
            limit=self.limiter.limit,
        )
        headers = [
            (b"retry-after", error.retry_after_header.encode()),
            # Refused before the app saw it: a balancer may re-send it anywhere.
            (b"x-kato-not-processed", b"true"),
        ]
        await send_error_envelope(send, 503, error.code, error.message, headers, **error.details)
