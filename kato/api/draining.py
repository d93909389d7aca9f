"""Refuse new requests while the instance drains (see ``kato.service.shutdown``).

A refused request gets 503 with ``X-Kato-Not-Processed: true``, ``Retry-After`` and
``Connection: close``. The header is a promise: nothing of the request was applied, so a
load balancer may send it — even a POST — to another instance (``deploy/nginx.conf`` does
exactly that, and only for answers carrying it). Health and metrics stay answered so the
orchestrator sees the instance go not-ready rather than vanish.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from kato.api.errors import error_response
from kato.config import Settings
from kato.service.shutdown import Drain, drain_seconds, sigterm_drains

NOT_PROCESSED_HEADER = "X-Kato-Not-Processed"
SHUTTING_DOWN_CODE = "KATO_SHUTTING_DOWN"
EXEMPT_PATH_PREFIXES = ("/health", "/metrics")


class DrainingMiddleware:
    def __init__(self, app: ASGIApp, drain: Drain, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.drain = drain
        self.retry_after = str(retry_after_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.drain.draining
            or scope["path"].startswith(EXEMPT_PATH_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        response = error_response(
            503,
            SHUTTING_DOWN_CODE,
            "This instance is shutting down; the request was not processed. Retry it.",
            headers={
                NOT_PROCESSED_HEADER: "true",
                "Retry-After": self.retry_after,
                "Connection": "close",  # the client's next request opens a new connection
            },
        )
        await response(scope, receive, send)


def _mark_not_ready(app: FastAPI) -> None:
    resilience = getattr(app.state, "resilience", None)
    if resilience is not None:
        resilience.health.mark_shutting_down()


def install_draining(app: FastAPI, settings: Settings) -> Drain:
    """Refuse requests once draining, and begin the drain on SIGTERM while the app runs."""
    drain = Drain(drain_seconds(settings))
    drain.on_begin(lambda: _mark_not_ready(app))
    app.add_middleware(DrainingMiddleware, drain=drain)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            with sigterm_drains(drain, asyncio.get_running_loop()):
                yield state

    app.router.lifespan_context = lifespan
    return drain
