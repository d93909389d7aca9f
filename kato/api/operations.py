"""Operations surface: health probes, /metrics and its gauges, the 503 for driver outages.

``create_app`` (``kato.api.app``) wires these: the probe router, the ``/metrics`` route, the
readiness probes of the storage dependencies, the configured pool sizes and the handlers that
answer a driver error no breaker translated.

Probes and /metrics never raise because a dependency is down: an operator must be able to see
an outage. Their gauges are refreshed at scrape time, each read bounded by the dependency
timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pymongo.errors
import redis.exceptions
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kato.api.auth import ADMIN, PUBLIC
from kato.api.errors import kato_error_response
from kato.api.routes_v3_monitoring import metrics_document, wants_json
from kato.config import Settings
from kato.observability import render_metrics
from kato.observability.metrics import (
    ACTIVE_SESSIONS,
    CACHED_NODES,
    DATABASE_CONNECTIONS,
    PATTERNS,
)
from kato.resilience import DependencyError, Resilience
from kato.storage.factory import StorageBackends

logger = logging.getLogger("kato.api")

router = APIRouter(tags=["operations"])


def _resilience(request: Request) -> Resilience:
    resilience: Resilience = request.app.state.resilience
    return resilience


@router.get("/health/live", dependencies=[PUBLIC])
async def live() -> dict[str, str]:
    """Liveness: the process serves requests (restart it when this fails)."""
    return {"status": "alive"}


@router.get("/health/startup", dependencies=[PUBLIC])
async def startup(request: Request) -> JSONResponse:
    started = _resilience(request).health.started
    return JSONResponse(
        {"status": "started" if started else "starting"}, status_code=200 if started else 503
    )


@router.get("/health/ready", dependencies=[PUBLIC])
async def ready(request: Request) -> JSONResponse:
    """Readiness: every configured dependency reachable and its breaker not open."""
    report = await _resilience(request).health.readiness()
    return JSONResponse(report.as_dict(), status_code=200 if report.ready else 503)


async def metrics(request: Request) -> Response:
    if wants_json(request):  # KATO 3.x clients: the JSON summary document (issue 12)
        return JSONResponse(await metrics_document(request))
    await _refresh_gauges(request.app, _resilience(request).settings.dependency_timeout)
    body, content_type = render_metrics()
    return Response(body, headers={"Content-Type": content_type})


async def _bounded(read: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(read(), timeout)
    except Exception as exc:  # a gauge stays at its last value; the scrape still answers
        logger.warning("metrics: could not read %s: %s", what, exc)
        return None


async def _refresh_gauges(app: FastAPI, timeout: float) -> None:
    service = getattr(app.state, "service", None)
    if service is None:
        return
    active = await _bounded(service.sessions.count, timeout, "active sessions")
    if active is not None:
        ACTIVE_SESSIONS.set(active)
    nodes = service.nodes.cached()
    CACHED_NODES.set(len(nodes))
    _record_embedded_connections(app, service.sessions.backend)

    async def count_patterns() -> int:
        return await asyncio.to_thread(lambda: sum(node.pattern_count for node in nodes))

    patterns = await _bounded(count_patterns, timeout, "pattern counts")
    if patterns is not None:
        PATTERNS.set(patterns)


def record_pool_sizes(settings: Settings) -> None:
    databases = settings.database
    configured = {
        "redis": (databases.redis.url, databases.redis.pool_size),
        "mongodb": (databases.mongodb.url, databases.mongodb.pool_size),
        "qdrant": (databases.qdrant.url or databases.qdrant.host, databases.qdrant.pool_size),
    }
    for database, (address, pool_size) in configured.items():
        if address:
            DATABASE_CONNECTIONS.labels(database=database).set(pool_size)


def _record_embedded_connections(app: FastAPI, session_backend: str) -> None:
    """The embedded stores have no configured pool: report what this worker holds open."""
    storage = getattr(app.state, "storage", None)
    embedded = storage.embedded_connections() if storage is not None else {}
    if session_backend == "memory":
        embedded["memory"] = 1  # the in-process session store itself
    for database, connections in embedded.items():
        DATABASE_CONNECTIONS.labels(database=database).set(connections)


def register_storage_probes(resilience: Resilience, storage: StorageBackends) -> None:
    """MongoDB and a Qdrant server, when configured, are readiness dependencies too."""
    for name, check in storage.probes().items():
        # The drivers are blocking: probe in a thread (its own timeouts end it).
        resilience.health.register(name, partial(asyncio.to_thread, check))


# Driver errors that mean "the dependency is unreachable", by the dependency they belong to.
DRIVER_OUTAGES: dict[type[Exception], str] = {
    redis.exceptions.ConnectionError: "redis",
    redis.exceptions.TimeoutError: "redis",
    pymongo.errors.ConnectionFailure: "mongodb",
    httpx.TransportError: "qdrant",
}


async def _on_driver_outage(_: Request, exc: Exception) -> JSONResponse:
    """A transient driver error that no breaker translated: 503, never a 500."""
    service = next(
        (name for kind, name in DRIVER_OUTAGES.items() if isinstance(exc, kind)), "dependency"
    )
    logger.warning("%s unavailable: %s: %s", service, type(exc).__name__, exc)
    error = DependencyError(service, type(exc).__name__)
    return kato_error_response(error, error.headers)


def install_driver_outage_handlers(app: FastAPI) -> None:
    for driver_error in DRIVER_OUTAGES:
        app.add_exception_handler(driver_error, _on_driver_outage)


def add_metrics_route(app: FastAPI) -> None:
    # Open like the probes: no secrets, and scrapers rarely hold API keys; restrict it at
    # the network edge when the port is reachable from outside.
    app.add_api_route(
        "/metrics", metrics, methods=["GET"], include_in_schema=False, dependencies=[ADMIN]
    )
