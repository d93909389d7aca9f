"""Graceful shutdown: SIGTERM starts a drain, and only then does the server stop.

Uvicorn, on SIGTERM, closes its listening socket at once and waits for in-flight requests
(``timeout_graceful_shutdown``). A load balancer may still be sending this instance new
requests at that moment; the ones already queued in the kernel's accept backlog are reset,
and the balancer cannot know whether a reset POST was applied. So the first SIGTERM only
*begins a drain*:

1. readiness turns 503 and every new request is refused with a "not processed" answer
   (``kato.api.draining``), which a balancer may safely send to another instance;
2. ``drain_seconds`` later the previous SIGTERM handler (uvicorn's) runs: the listener
   closes, in-flight requests finish within the grace period, the process exits.

A second SIGTERM during the drain skips the wait. SIGINT (Ctrl+C) keeps uvicorn's behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from kato.config import Settings
from kato.sessions.factory import session_backend

logger = logging.getLogger("kato.shutdown")

# Behind a balancer (Redis sessions: the multi-instance shape) drain long enough for it to
# notice; a lone process (in-process sessions) has no balancer to wait for.
DEFAULT_SHARED_DRAIN_SECONDS = 5.0

SignalHandler = Callable[[int, FrameType | None], object]


class Drain:
    """The drain state of one process: set once, never cleared."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.draining = False
        self._on_begin: list[Callable[[], None]] = []

    def on_begin(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the drain begins (e.g. mark readiness as failed)."""
        self._on_begin.append(callback)

    def begin(self) -> None:
        if self.draining:
            return
        self.draining = True
        logger.info("draining: refusing new requests for %.1f s, then stopping", self.drain_seconds)
        for callback in self._on_begin:
            try:
                callback()
            except Exception:  # one failing hook must not stop the drain
                logger.exception("drain hook failed")


def drain_seconds(settings: Settings) -> float:
    configured = settings.service.shutdown_drain_seconds
    if configured is not None:
        return configured
    return DEFAULT_SHARED_DRAIN_SECONDS if session_backend(settings) == "redis" else 0.0


def _run_previous(previous: object, signum: int, frame: FrameType | None) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


@contextmanager
def sigterm_drains(drain: Drain, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While active, SIGTERM begins ``drain`` and defers the previous handler.

    Signals reach only the main thread, so elsewhere (e.g. a test client's thread) this
    does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: FrameType | None) -> None:
        if drain.draining:  # asked twice: stop waiting
            _run_previous(previous, signum, frame)
            return
        drain.begin()
        # A signal handler may only hand work to the loop through the thread-safe door.
        loop.call_soon_threadsafe(
            loop.call_later, drain.drain_seconds, _run_previous, previous, signum, None
        )

    signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handle:
            signal.signal(signal.SIGTERM, previous)
