"""Session lifecycle of KATO 3.x (semantics §12.18): sliding expiry and batch heartbeats.

A session whose configuration sets ``session_auto_extend`` (the 3.x default, off for v2
sessions as at the baseline) moves its expiry to ``now + ttl_seconds`` on every access:
writes do it in the save they make anyway; reads do it with a save of their own, at most once
per ``slide_step`` of the TTL so a busy reader does not turn every read into a write.

A long ``observe-sequence`` runs inside one critical section and saves once at its end; while
it runs, ``heartbeat`` keeps the *stored* session alive by re-saving the session as it was
loaded (what a failure would leave anyway) with a later expiry, so the batch never finds its
session expired at the final save and other callers never see it expire meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kato.sessions.models import Session
from kato.sessions.store import SessionStore

logger = logging.getLogger("kato.service.v3")

HEARTBEAT_SECONDS = 30.0  # 3.x's interval; shorter for sessions whose TTL is shorter


def slide_step(ttl_seconds: int) -> float:
    """How far the expiry must have fallen behind ``now + ttl`` before a read re-saves it:
    1 % of the TTL, at least one second."""
    return max(1.0, ttl_seconds / 100)


def read_should_slide(session: Session, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return now + session.ttl_seconds - session.expires_at >= slide_step(session.ttl_seconds)


def slide(session: Session, now: float | None = None) -> None:
    session.expires_at = (time.time() if now is None else now) + session.ttl_seconds


def heartbeat_interval(ttl_seconds: int) -> float:
    return min(HEARTBEAT_SECONDS, ttl_seconds / 2)


@asynccontextmanager
async def heartbeat(
    sessions: SessionStore, loaded: Session, interval_seconds: float
) -> AsyncIterator[None]:
    """While the body runs (the caller holds the session's lock), re-save ``loaded`` — a copy
    of the session as loaded — every ``interval_seconds`` with its expiry slid forward. The
    last beat finishes before the body's own save can start."""
    stop = asyncio.Event()

    async def beat() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_seconds)
            if stop.is_set():
                return
            slide(loaded)
            try:
                await sessions.save(loaded)
            except Exception:  # the batch's own save reports a real problem; keep beating
                logger.warning("heartbeat of session %s failed", loaded.session_id, exc_info=True)
            else:
                logger.debug("heartbeat: session %s extended", loaded.session_id)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        stop.set()
        await task
