"""Optional OpenTelemetry tracing (``monitoring.tracing_enabled``).

The SDK, the OTLP/HTTP exporter and the FastAPI, Redis and pymongo instrumentations are
dependencies of the default install (and so of the image); they are imported only when tracing
is on, so a service without tracing does not load them. Spans are exported with OTLP over HTTP,
configured by the standard ``OTEL_EXPORTER_OTLP_*`` environment variables; tests pass an
in-memory exporter instead. The tracer provider is passed to each instrumentation rather than
installed globally, so enabling tracing twice in one process (tests) stays well defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from kato.config import MonitoringSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

# Probes and scrapes would drown the real traffic in traces.
EXCLUDED_URLS = "/health,/metrics"
SERVICE_NAME = "kato"


def setup_tracing(
    app: FastAPI, settings: MonitoringSettings, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Instrument ``app`` plus the redis and pymongo drivers; None when tracing is off."""
    if not settings.tracing_enabled:
        return None
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    for instrumentor in (RedisInstrumentor(), PymongoInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    return provider


def shutdown_tracing(app: FastAPI, provider: TracerProvider) -> None:
    """Flush pending spans and remove the instrumentation (application shutdown)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    provider.force_flush()
    FastAPIInstrumentor.uninstrument_app(app)
    for instrumentor in (RedisInstrumentor(), PymongoInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    provider.shutdown()
