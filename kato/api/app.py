"""The application factory: the whole app assembled in one place.

``create_app(settings)`` builds, in this order, everything a request meets:

1. the per-process parts: logging, the breakers and health checker (``Resilience``), the
   security layer, the drain, the request log and metrics;
2. the one middleware list (:func:`middlewares`, outermost first — the only place their order
   is decided): the request pipeline (``kato.api.pipeline``: trace id, read whole, in-flight
   bound, drain, security headers and audit, metrics, request log), then CORS when
   configured;
3. the error envelope's handlers (one builder, ``kato.api.errors``);
4. the routers and probes, then the OpenAPI document and tracing;
5. the lifespan: storage backends → every dependency guard at construction (the Redis
   session store behind the ``redis`` breaker, MongoDB and a Qdrant server behind theirs)
   → the ``KatoService`` built with the guarded stores → readiness probes → the
   expired-session sweep → SIGTERM begins the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from kato import __version__
from kato.api.content_type import RequireJsonBody
from kato.api.errors import install_error_handlers
from kato.api.lean_route import LeanDispatch
from kato.api.openapi import install_openapi
from kato.api.operations import (
    add_metrics_route,
    install_driver_outage_handlers,
    record_pool_sizes,
    register_storage_probes,
)
from kato.api.operations import router as operations_router
from kato.api.pipeline import BodyLimits, RequestPipeline
from kato.api.routes_nodes import router as nodes_router
from kato.api.routes_sessions import router as sessions_router
from kato.api.routes_system import router as system_router
from kato.api.routes_ui import router as ui_router
from kato.api.routes_v1 import router as v1_router
from kato.api.routes_v3 import router as v3_router
from kato.api.routes_v3_events import router as v3_events_router
from kato.api.routes_v3_monitoring import router as v3_monitoring_router
from kato.api.routes_v3_symbols import router as v3_symbols_router
from kato.api.routes_ws import router as ws_router
from kato.config import Settings
from kato.core import heap
from kato.observability import (
    RequestLog,
    RequestMetrics,
    configure_logging,
    current_trace_id,
    record_breaker_state,
    setup_tracing,
    shutdown_tracing,
)
from kato.resilience import ConcurrencyLimiter, Resilience
from kato.resilience.session_store import BreakerGuardedSessionStore
from kato.resilience.storage import guarded_node_storage
from kato.security.layer import SecurityLayer
from kato.service.kato_service import KatoService
from kato.service.shutdown import Drain, drain_seconds, sigterm_drains
from kato.sessions.factory import open_session_store
from kato.sessions.store import SessionStore
from kato.storage.factory import StorageBackends

logger = logging.getLogger("kato.api")


@dataclass(frozen=True, slots=True)
class AppParts:
    """The per-process parts the middlewares and the lifespan share."""

    settings: Settings
    resilience: Resilience
    security: SecurityLayer
    drain: Drain


def middlewares(parts: AppParts, lean: LeanDispatch) -> list[Middleware]:
    """Every middleware of the app, outermost first; ``lean`` is the pipeline's way to the
    lean routes, ahead of the others (``kato.api.lean_route``)."""
    settings = parts.settings
    origins = settings.security.cors_origins
    stack = [
        Middleware(
            RequestPipeline,
            body=BodyLimits(
                settings.limits.max_body_bytes, settings.limits.body_read_timeout_seconds
            ),
            in_flight=ConcurrencyLimiter(settings.resilience.max_in_flight, "requests in flight"),
            drain=parts.drain,
            security=parts.security,
            metrics=RequestMetrics() if settings.monitoring.metrics_enabled else None,
            log=RequestLog(),
            lean=lean,
            cors=bool(origins),
        )
    ]
    if origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_credentials="*" not in origins,  # credentials only with explicit origins
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "X-API-Key",
                    "X-Session-ID",
                    "X-Trace-ID",
                    "Content-Type",
                    "Idempotency-Key",  # makes a write safe to retry (docs/API.md "Retries")
                ],
                expose_headers=[
                    "X-Trace-ID",
                    "X-Session-ID",
                    "Retry-After",
                    "X-Kato-Not-Processed",  # a 503 that applied nothing vs one that may have
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                ],
            )
        )
    stack.append(Middleware(RequireJsonBody))  # innermost: 415 for a body that is not JSON
    return stack


def guarded_session_store(settings: Settings, resilience: Resilience) -> SessionStore:
    """The configured session store; Redis behind its breaker, and probed for readiness."""
    sessions = open_session_store(settings)
    if sessions.backend != "redis":
        return sessions
    resilience.health.register("redis", sessions.ping)  # what Redis answers, not the breaker
    return BreakerGuardedSessionStore(sessions, resilience)


async def _cleanup_expired_sessions(sessions: SessionStore, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            removed = await sessions.cleanup_expired()
        except Exception:  # a failed sweep must not end the loop; the next one retries
            logger.exception("expired-session cleanup failed")
        else:
            if removed:
                logger.info("removed %d expired sessions", removed)


def _lifespan(parts: AppParts) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    settings, resilience = parts.settings, parts.resilience

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = await run_in_threadpool(StorageBackends, settings)
        service = KatoService(
            settings,
            guarded_session_store(settings, resilience),
            guarded_node_storage(storage, resilience),  # MongoDB, a Qdrant server
            embedded_knowledge_base=storage.describe()["knowledge_base"] == "sqlite",
        )
        register_storage_probes(resilience, storage)
        app.state.storage = storage
        app.state.service = service
        cleanup = asyncio.create_task(
            _cleanup_expired_sessions(service.sessions, settings.session.cleanup_interval)
        )
        try:
            with sigterm_drains(parts.drain, asyncio.get_running_loop()):
                heap.tune_for_serving()  # the loaded heap out of every gc pass (issue 10)
                resilience.health.mark_started()
                try:
                    yield
                finally:
                    resilience.health.mark_shutting_down()
                    provider = getattr(app.state, "tracer_provider", None)
                    if provider is not None:
                        shutdown_tracing(app, provider)
        finally:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
            await service.close()
            await run_in_threadpool(storage.close)

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        from kato.service.settings_loader import load_settings

        settings = load_settings()
    configure_logging(settings.monitoring.log_level)
    resilience = Resilience(settings.resilience, on_breaker_change=record_breaker_state)
    drain = Drain(drain_seconds(settings))
    drain.on_begin(resilience.health.mark_shutting_down)  # readiness 503 while draining
    parts = AppParts(
        settings, resilience, SecurityLayer(settings, trace_id=current_trace_id), drain
    )
    record_pool_sizes(settings)

    docs = settings.security.docs_enabled
    lean = LeanDispatch()
    app = FastAPI(
        title="KATO",
        version=__version__,
        description="Deterministic, explainable sequence memory as a session service.",
        lifespan=_lifespan(parts),
        middleware=middlewares(parts, lean),
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.settings = settings
    app.state.resilience = resilience
    app.state.kato_security = parts.security  # where the requires(role) dependencies look

    install_error_handlers(app)
    install_driver_outage_handlers(app)  # a driver error no breaker translated: 503

    # Session routes first: the data-plane requests are matched without trying the others.
    app.include_router(sessions_router)
    app.include_router(nodes_router)  # /v2/nodes/...: knowledge bases as data (issue 11)
    app.include_router(v3_router)  # KATO 3.x clients: /sessions/... (issue 12)
    app.include_router(v3_monitoring_router)  # 3.x /stats, /metrics/{name} (issue 12)
    app.include_router(v3_events_router)  # 3.x /ws/events (issue 12)
    app.include_router(v3_symbols_router)  # 3.x /symbols/stats, /symbols/.../affinity (§12.16)
    app.include_router(system_router)
    app.include_router(v1_router)
    app.include_router(ws_router)
    app.include_router(ui_router)  # the Explorer at /ui (issue 13)
    if settings.monitoring.metrics_enabled:
        add_metrics_route(app)
    app.include_router(operations_router)  # /health/live, /health/startup, /health/ready

    # Every route and exception handler is in place. With CORS on, every answer gets its
    # middleware's headers (``Vary: Origin`` even without an ``Origin``): the whole app then.
    if not settings.security.cors_origins:
        lean.install(app)
    install_openapi(app, settings.limits)  # the document declares the configured limits
    app.state.tracer_provider = setup_tracing(app, settings.monitoring)
    return app
