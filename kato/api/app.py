"""The application factory.

``create_app`` wires the pieces in one place: settings → lifespan (session store, knowledge
bases, the ``KatoService``, periodic expired-session cleanup) → middlewares → error
envelope → routers. Cross-cutting layers (observability, resilience, security) install
themselves with one ``install_*(app, settings)`` call each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from kato import __version__
from kato.api.draining import install_draining
from kato.api.errors import install_error_handlers
from kato.api.openapi import install_openapi
from kato.api.operations import install_operations
from kato.api.routes_nodes import router as nodes_router
from kato.api.routes_sessions import router as sessions_router
from kato.api.routes_system import router as system_router
from kato.api.routes_v1 import router as v1_router
from kato.api.routes_v3 import router as v3_router
from kato.api.routes_ws import router as ws_router
from kato.api.trace import TraceIdMiddleware, trace_id_var
from kato.config import Settings
from kato.resilience import Resilience
from kato.resilience.storage import guarded_node_storage
from kato.security.layer import install as install_security
from kato.service.kato_service import KatoService
from kato.sessions.factory import open_session_store
from kato.sessions.store import SessionStore
from kato.storage.factory import StorageBackends

logger = logging.getLogger("kato.api")


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


def _build_service(
    settings: Settings, storage: StorageBackends, resilience: Resilience
) -> KatoService:
    # MongoDB and a Qdrant server are reached through their circuit breakers.
    open_storage = guarded_node_storage(storage, resilience)
    return KatoService(settings, open_session_store(settings), open_storage)


def create_app(settings: Settings | None = None) -> FastAPI:
    if settings is None:
        from kato.service.settings_loader import load_settings

        settings = load_settings()
    resolved = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        storage = await run_in_threadpool(StorageBackends, resolved)
        service = _build_service(resolved, storage, app.state.resilience)
        app.state.storage = storage
        app.state.service = service
        cleanup = asyncio.create_task(
            _cleanup_expired_sessions(service.sessions, resolved.session.cleanup_interval)
        )
        try:
            yield
        finally:
            cleanup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await cleanup
            await service.close()
            await run_in_threadpool(storage.close)

    docs = resolved.security.docs_enabled
    app = FastAPI(
        title="KATO",
        version=__version__,
        description="Deterministic, explainable sequence memory as a session service.",
        lifespan=lifespan,
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.settings = resolved
    install_error_handlers(app)
    install_security(app, resolved, trace_id=trace_id_var.get)
    app.add_middleware(TraceIdMiddleware)
    # Session routes first: the data-plane requests are matched without trying the others.
    app.include_router(sessions_router)
    app.include_router(nodes_router)  # /v2/nodes/...: knowledge bases as data (issue 11)
    app.include_router(v3_router)  # KATO 3.x clients: /sessions/... (issue 12)
    app.include_router(system_router)
    app.include_router(v1_router)
    app.include_router(ws_router)
    install_openapi(app, resolved.limits)  # the document declares the configured limits
    install_draining(app, resolved)  # SIGTERM: refuse new requests, then stop
    install_operations(app, resolved)  # outermost: logs, metrics, in-flight limit, probes
    return app
