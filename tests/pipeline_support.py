"""The request pipeline (``kato.api.pipeline``) on a bare FastAPI app, for tests of one of its
concerns (trace id and request log, metrics, in-flight bound, drain) without the whole KATO app.
"""

from __future__ import annotations

from fastapi import FastAPI

from kato.api.lean_route import LeanDispatch
from kato.api.pipeline import BodyLimits, RequestPipeline
from kato.config import Settings
from kato.observability import RequestLog, RequestMetrics
from kato.resilience import ConcurrencyLimiter
from kato.security.layer import SecurityLayer
from kato.service.shutdown import Drain


def add_pipeline(
    app: FastAPI,
    *,
    drain: Drain | None = None,
    max_in_flight: int | None = None,
    retry_after: float = 1.0,
    metrics: bool = True,
) -> None:
    """Wrap ``app`` in the pipeline ``create_app`` uses, with default settings."""
    settings = Settings()
    app.add_middleware(
        RequestPipeline,
        body=BodyLimits(settings.limits.max_body_bytes, settings.limits.body_read_timeout_seconds),
        in_flight=ConcurrencyLimiter(
            max_in_flight or settings.resilience.max_in_flight, "requests in flight", retry_after
        ),
        drain=drain or Drain(0.0),
        security=SecurityLayer(settings),
        metrics=RequestMetrics() if metrics else None,
        log=RequestLog(),
        lean=LeanDispatch(),  # not installed: no lean route, every request to the app
    )
