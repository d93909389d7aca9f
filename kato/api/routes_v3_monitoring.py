"""KATO 3.x monitoring routes: ``/stats``, ``/metrics/{name}`` and ``/metrics`` as JSON.

``/metrics`` stays the Prometheus exposition for scrapers; a client that asks for JSON
(``Accept: application/json``) gets 3.x's summary document there instead
(:func:`wants_json`, :func:`metrics_document`, called by the ``/metrics`` route). The
router's lifespan samples the time series (``kato.service.v3_monitoring.MetricsHistory``)
every ``monitoring.history_interval_seconds``. Admin-only, like ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.requests import HTTPConnection

from kato.api.auth import ADMIN
from kato.api.schemas import error_responses
from kato.core.errors import KatoError
from kato.service.kato_service import KatoService
from kato.service.v3_monitoring import MetricsHistory, metric_history, stats, summary

logger = logging.getLogger("kato.api.v3")


class MetricNotFoundError(KatoError):
    code = "KATO_METRIC_NOT_FOUND"
    status_code = 404

    def __init__(self, name: str, minutes: int) -> None:
        super().__init__(
            f"No data available for metric '{name}' in the last {minutes} minutes",
            metric=name,
            minutes=minutes,
        )


async def _sample_forever(history: MetricsHistory) -> None:
    while True:
        try:
            history.sample()
        except Exception:  # a failed sample must not end the series; the next one retries
            logger.exception("monitoring sample failed")
        await asyncio.sleep(history.interval_seconds)


@asynccontextmanager
async def sampling(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    history = MetricsHistory(
        settings.service.data_dir, settings.monitoring.history_interval_seconds
    )
    app.state.metrics_history = history
    task = asyncio.create_task(_sample_forever(history))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(tags=["monitoring (3.x)"], lifespan=sampling)

Minutes = Annotated[int, Query(ge=1, le=60, description="How far back, in minutes (at most 60)")]


def wants_json(request: Request) -> bool:
    """The client asked for JSON rather than the exposition format (3.x dashboards do)."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/plain" not in accept


def _history(connection: HTTPConnection) -> MetricsHistory:
    history: MetricsHistory = connection.app.state.metrics_history
    return history


async def _context(connection: HTTPConnection) -> tuple[int, dict[str, Any], float]:
    service: KatoService = connection.app.state.service
    nodes = service.nodes.cached()
    processors = {
        "active_processors": len(nodes),
        "max_processors": service.settings.service.max_nodes_cached,
    }
    return await service.sessions.count(), processors, time.time() - service.started_at


async def metrics_document(request: Request) -> dict[str, Any]:
    """3.x's ``GET /metrics`` JSON summary."""
    return summary(_history(request), *await _context(request))


@router.get("/stats", dependencies=[ADMIN])
async def get_stats(request: Request, minutes: Minutes = 10) -> dict[str, Any]:
    """Time series of every 3.x metric for the last ``minutes``, with a summary."""
    active, processors, uptime = await _context(request)
    return stats(_history(request), minutes, active, processors, uptime)


@router.get("/metrics/{metric_name}", dependencies=[ADMIN], responses=error_responses(404))
async def get_metric(request: Request, metric_name: str, minutes: Minutes = 10) -> dict[str, Any]:
    """One metric's data points for the last ``minutes`` and their count/min/max/avg."""
    document = metric_history(_history(request), metric_name, minutes)
    if document is None:
        raise MetricNotFoundError(metric_name, minutes)
    return document
