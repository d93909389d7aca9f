"""WebSocket ``/ws/events`` (KATO 3.x, semantics §12.19): session and error notifications.

Reader role at least (like ``/ws``). A subscriber receives ``{"event_type", "timestamp",
"data"}`` messages: first ``connection.established`` (``active_sessions``), then
``session.created`` / ``session.destroyed`` of the sessions its principal could see (node in
scope; its own or unowned sessions, every session for an admin) and, for admins only,
``system.error``. A text frame ``ping`` is answered ``pong``. A subscriber that falls
``QUEUE_SIZE`` events behind is disconnected (close code 1013), never buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, WebSocket, WebSocketDisconnect

from kato.security.principal import Principal
from kato.security.roles import Role, requires
from kato.service.v3_events import ErrorEvents, Event, EventBus, EventingSessionStore, Subscription

SLOW_CONSUMER_CLOSE = 1013  # "try again later": the subscriber fell too far behind
SEND_TIMEOUT_SECONDS = 10.0  # a client that takes no bytes for this long is a slow consumer


@asynccontextmanager
async def publishing(app: FastAPI) -> AsyncIterator[None]:
    """Publish the service's session creations/deletions and error logs on one bus."""
    bus = EventBus(asyncio.get_running_loop())
    app.state.event_bus = bus
    service = app.state.service
    store = service.sessions
    service.sessions = EventingSessionStore(store, bus)
    errors = ErrorEvents(bus)
    kato_logger = logging.getLogger("kato")
    kato_logger.addHandler(errors)
    try:
        yield
    finally:
        kato_logger.removeHandler(errors)
        service.sessions = store


router = APIRouter(tags=["websocket (3.x)"], lifespan=publishing)


def visible_to(principal: Principal) -> Callable[[Event], bool]:
    def wants(event: Event) -> bool:
        if event.node_id is None:  # system events
            return principal.is_admin
        if not principal.may_use_node(event.node_id):
            return False
        return principal.is_admin or event.owner is None or event.owner == principal.name

    return wants


async def _send_events(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        event = await subscription.next()
        if event is None:
            await websocket.close(code=SLOW_CONSUMER_CLOSE, reason="slow consumer")
            return
        try:
            await asyncio.wait_for(websocket.send_json(event.message()), SEND_TIMEOUT_SECONDS)
        except TimeoutError:
            await websocket.close(code=SLOW_CONSUMER_CLOSE, reason="slow consumer")
            return


async def _answer_pings(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        text = await websocket.receive_text()
        if text == "ping":
            # Through the queue: one sender per connection, and a pong counts like an event.
            subscription.offer(Event("pong", {}))


@router.websocket("/ws/events")
async def events(
    websocket: WebSocket, principal: Annotated[Principal, Depends(requires(Role.READER))]
) -> None:
    bus: EventBus = websocket.app.state.event_bus
    subscription = bus.subscribe(visible_to(principal))
    try:
        await websocket.accept()
        active = await websocket.app.state.service.sessions.count()
        await websocket.send_json(
            Event("connection.established", {"active_sessions": active}).message()
        )
        tasks = [
            asyncio.create_task(_send_events(websocket, subscription)),
            asyncio.create_task(_answer_pings(websocket, subscription)),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                await task
        for task in done:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                task.result()  # a disconnect (or a send after close) ends the connection
    finally:
        bus.unsubscribe(subscription)
