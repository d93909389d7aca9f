"""Overload protection: refuse at once instead of queueing into timeouts.

* :class:`ConcurrencyLimiter` bounds the requests one worker handles concurrently
  (``resilience.max_in_flight``; the request pipeline, ``kato.api.pipeline``, answers a
  request beyond the bound 503 ``KATO_OVERLOADED`` with ``Retry-After`` before any work is
  done; health probes and /metrics are exempt so an operator still sees a saturated worker)
  and the CPU-bound prediction computations (``resilience.max_concurrent_predictions``).
  Acquiring never waits — a full limiter raises :class:`OverloadedError`, answered 503.

Both are per worker process; with N workers the service admits N times the bound.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kato.resilience.errors import OverloadedError


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
