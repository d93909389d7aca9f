"""Operations surface: health probes, /metrics, and the resilience + observability layers.

``install_operations(app, settings)`` is the one call ``create_app`` makes. It adds, from the
outside in: the JSON request log (trace id, ``X-Trace-ID``), request metrics, the whole-body
read (size cap and read deadline) and the in-flight limit — so refused requests are still
logged and counted — plus the health and metrics routes and a 503 answer for driver outages.
Around the app's own lifespan it puts the Redis session store behind its breaker, registers
the readiness probes of the configured dependencies, and marks startup finished / shutdown
begun.

Probes and /metrics never raise because a dependency is down: an operator must be able to see
an outage. Their gauges are refreshed at scrape time, each read bounded by the dependency
timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import pymongo.errors
import redis.exceptions
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kato.api.auth import ADMIN, PUBLIC
from kato.api.errors import kato_error_response
from kato.config import Settings
from kato.observability import (
    RequestLogMiddleware,
    RequestMetricsMiddleware,
    configure_logging,
    record_breaker_state,
    render_metrics,
    setup_tracing,
    shutdown_tracing,
)
from kato.observability.metrics import (
    ACTIVE_SESSIONS,
    CACHED_NODES,
    DATABASE_CONNECTIONS,
    PATTERNS,
)
from kato.resilience import DependencyError, InFlightLimitMiddleware, Resilience
from kato.resilience.session_store import BreakerGuardedSessionStore
from kato.resilience.slow_clients import ReadWholeBodyMiddleware

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


def _record_pool_sizes(settings: Settings) -> None:
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


def _register_storage_probes(app: FastAPI, resilience: Resilience) -> None:
    """MongoDB and a Qdrant server, when configured, are readiness dependencies too."""
    storage = getattr(app.state, "storage", None)
    if storage is None:
        return
    for name, check in storage.probes().items():
        # The drivers are blocking: probe in a thread (its own timeouts end it).
        resilience.health.register(name, partial(asyncio.to_thread, check))


def _guard_session_store(app: FastAPI, resilience: Resilience) -> None:
    """Put the Redis session store behind the ``redis`` breaker and probe it for readiness."""
    service = getattr(app.state, "service", None)
    if service is not None and service.sessions.backend == "redis":
        resilience.health.register("redis", service.sessions.ping)
        service.sessions = BreakerGuardedSessionStore(service.sessions, resilience)


def _wrap_lifespan(app: FastAPI, resilience: Resilience) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            _guard_session_store(app_, resilience)
            _register_storage_probes(app_, resilience)
            resilience.health.mark_started()
            try:
                yield state
            finally:
                resilience.health.mark_shutting_down()
                provider = getattr(app_.state, "tracer_provider", None)
                if provider is not None:
                    shutdown_tracing(app_, provider)

    app.router.lifespan_context = lifespan


# Driver errors that mean "the dependency is unreachable", by the dependency they belong to.
_DRIVER_OUTAGES: dict[type[Exception], str] = {
    redis.exceptions.ConnectionError: "redis",
    redis.exceptions.TimeoutError: "redis",
    pymongo.errors.ConnectionFailure: "mongodb",
    httpx.TransportError: "qdrant",
}


async def _on_driver_outage(_: Request, exc: Exception) -> JSONResponse:
    """A transient driver error that no breaker translated: 503, never a 500."""
    service = next(
        (name for kind, name in _DRIVER_OUTAGES.items() if isinstance(exc, kind)), "dependency"
    )
    logger.warning("%s unavailable: %s: %s", service, type(exc).__name__, exc)
    error = DependencyError(service, type(exc).__name__)
    return kato_error_response(error, error.headers)


def install_operations(app: FastAPI, settings: Settings) -> Resilience:
    """Install resilience and observability on ``app``; call after the app's own middlewares."""
    configure_logging(settings.monitoring.log_level)
    resilience = Resilience(settings.resilience, on_breaker_change=record_breaker_state)
    app.state.resilience = resilience
    _record_pool_sizes(settings)
    for driver_error in _DRIVER_OUTAGES:
        app.add_exception_handler(driver_error, _on_driver_outage)

    # add_middleware wraps the current stack: the last one added runs first.
    app.add_middleware(InFlightLimitMiddleware, max_in_flight=settings.resilience.max_in_flight)
    # Outside the in-flight limit: a slot is taken only by a request read whole.
    app.add_middleware(
        ReadWholeBodyMiddleware,
        max_body_bytes=settings.limits.max_body_bytes,
        body_read_timeout=settings.limits.body_read_timeout_seconds,
    )
    if settings.monitoring.metrics_enabled:
        app.add_middleware(RequestMetricsMiddleware)
        # Open like the probes: no secrets, and scrapers rarely hold API keys; restrict it at
        # the network edge when the port is reachable from outside.
        app.add_api_route(
            "/metrics", metrics, methods=["GET"], include_in_schema=False, dependencies=[ADMIN]
        )
    app.add_middleware(RequestLogMiddleware)
    app.include_router(router)
    app.state.tracer_provider = setup_tracing(app, settings.monitoring)
    _wrap_lifespan(app, resilience)
    return resilience
