"""Event notifications of KATO 3.x (semantics §12.19, ``/ws/events``).

``EventBus`` fans events out to subscribers, each with a bounded queue: a subscriber that
falls ``queue_size`` events behind is dropped (its connection is then closed), so a slow
consumer never makes the service buffer without bound, and never slows the others.

Events (``{"event_type", "timestamp", "data"}``):

* ``session.created`` / ``session.destroyed`` (``data``: ``session_id``, ``node_id``; destroyed
  adds ``reason: "deleted"``), published by ``EventingSessionStore`` around the session store,
  so sessions of every surface (v1, v2, 3.x) are covered;
* ``system.error`` (``data``: ``message``, ``logger``), published by ``ErrorEvents`` for every
  log record at ERROR or above under the ``kato`` logger (unhandled errors among them).

Each event remembers the session's node and owner so a subscriber sees only the sessions its
principal could see (``visible``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kato.sessions.models import Session
from kato.sessions.store import SessionStore

QUEUE_SIZE = 256  # events a subscriber may be behind before it is dropped


@dataclass(frozen=True, slots=True)
class Event:
    event_type: str
    data: dict[str, Any]
    timestamp: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    node_id: str | None = None  # who may see it (not sent)
    owner: str | None = None

    def message(self) -> dict[str, Any]:
        return {"event_type": self.event_type, "timestamp": self.timestamp, "data": self.data}


class Subscription:
    """One subscriber's queue: at most ``limit`` events, then ``None`` (the end) once it fell
    further behind (``overflowed``)."""

    def __init__(self, wants: Callable[[Event], bool], limit: int) -> None:
        self.wants = wants
        self.limit = limit
        # Bounded by ``offer``: ``limit`` events plus the one ``None`` that ends it.
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.overflowed = False

    def offer(self, event: Event) -> bool:
        """Queue the event; False (the subscription ends) when ``limit`` are waiting."""
        if self.overflowed:
            return False
        if self.queue.qsize() >= self.limit:
            self.overflowed = True
            self.queue.put_nowait(None)  # wakes the sender, which closes the connection
            return False
        self.queue.put_nowait(event)
        return True

    async def next(self) -> Event | None:
        """The next event; None once the subscription overflowed."""
        if self.overflowed:
            return None
        return await self.queue.get()


class EventBus:
    """Publishes events to subscribers; safe to call from worker threads (delivered on the
    event loop the bus was made on)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int = QUEUE_SIZE) -> None:
        self._loop = loop
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, wants: Callable[[Event], bool]) -> Subscription:
        subscription = Subscription(wants, self._queue_size)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: Event) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._deliver(event)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if subscription.wants(event) and not subscription.offer(event):
                self._subscriptions.discard(subscription)  # dropped: a slow consumer


def _session_event(event_type: str, session: Session, **extra: Any) -> Event:
    return Event(
        event_type,
        {"session_id": session.session_id, "node_id": session.node_id, **extra},
        node_id=session.node_id,
        owner=session.owner,
    )


class EventingSessionStore:
    """The session store, publishing ``session.created`` / ``session.destroyed``; every other
    attribute is the wrapped store's."""

    def __init__(self, inner: SessionStore, bus: EventBus) -> None:
        self.inner = inner
        self._bus = bus

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create(self, session: Session) -> None:
        await self.inner.create(session)
        self._bus.publish(_session_event("session.created", session))

    async def create_once(self, session: Session, *args: Any, **kwargs: Any) -> str | None:
        earlier = await self.inner.create_once(session, *args, **kwargs)
        if earlier is None:  # created now (not the answer to a repeated create)
            self._bus.publish(_session_event("session.created", session))
        return earlier

    async def delete(self, session_id: str) -> bool:
        session = await self.inner.get(session_id)
        deleted = await self.inner.delete(session_id)
        if deleted and session is not None:
            self._bus.publish(_session_event("session.destroyed", session, reason="deleted"))
        return deleted


class ErrorEvents(logging.Handler):
    """Publishes ``system.error`` for log records at ERROR and above."""

    def __init__(self, bus: EventBus) -> None:
        super().__init__(logging.ERROR)
        self._bus = bus

    def emit(self, record: logging.LogRecord) -> None:
        self._bus.publish(
            Event("system.error", {"message": record.getMessage(), "logger": record.name})
        )
