"""System endpoints: ``/health`` and ``/status`` (semantics §7.6)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from kato import __version__
from kato.api.auth import ADMIN, PUBLIC
from kato.api.deps import ServiceDep
from kato.api.schemas import HealthResponse, ServiceStatusResponse
from kato.core import matcher

router = APIRouter(tags=["system"])
logger = logging.getLogger("kato.api")


@router.get("/health", response_model=HealthResponse, dependencies=[PUBLIC])
async def health(service: ServiceDep) -> dict[str, Any]:
    """Clients recognise the session service by ``base_processor_id`` / ``active_sessions``."""
    issues: list[str] = []
    try:
        await service.sessions.ping()
        active = await service.sessions.count()
    except Exception as exc:  # a health probe reports a failing store, it does not raise
        logger.warning("session store unreachable: %s", exc)
        issues.append(f"session store unreachable: {type(exc).__name__}")
        active = 0
    now = time.time()
    return {
        "status": "unhealthy" if issues else "healthy",
        "processor_status": "healthy",
        "base_processor_id": service.settings.service.base_node_id,
        "uptime_seconds": now - service.started_at,
        "issues": issues,
        "metrics_collected": 0,
        "last_collection": now,
        "active_sessions": active,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"),
    }


@router.get("/status", response_model=ServiceStatusResponse, dependencies=[ADMIN])
async def status(request: Request, service: ServiceDep) -> dict[str, Any]:
    now = time.time()
    nodes = service.nodes.cached()
    settings = service.settings
    return {
        "status": "healthy",
        "base_processor_id": settings.service.base_node_id,
        "uptime_seconds": now - service.started_at,
        "sessions": await service.sessions.stats(),
        "processors": {
            "total_processors": len(nodes),
            "max_processors": settings.service.max_nodes_cached,
            "processors": [{"processor_id": node.node_id} for node in nodes],
        },
        "backends": {"sessions": service.sessions.backend, **request.app.state.storage.describe()},
        "version": __version__,
        "prediction_core": matcher.implementation(),  # "compiled" or its "python" fallback
    }
