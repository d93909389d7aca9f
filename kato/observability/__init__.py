"""Observability: Prometheus metrics, structured JSON request logs, optional tracing."""

from kato.observability.logging import (
    RequestLog,
    begin_request,
    bind_request_fields,
    configure_logging,
    current_trace_id,
    end_request,
    extract_trace_id,
    parse_traceparent,
)
from kato.observability.metrics import (
    EXPORTED_METRIC_NAMES,
    RequestMetrics,
    prepare_multiprocess_dir,
    record_breaker_state,
    record_prediction,
    render_metrics,
    route_template,
)
from kato.observability.tracing import setup_tracing, shutdown_tracing

__all__ = [
    "EXPORTED_METRIC_NAMES",
    "RequestLog",
    "RequestMetrics",
    "begin_request",
    "bind_request_fields",
    "configure_logging",
    "current_trace_id",
    "end_request",
    "extract_trace_id",
    "parse_traceparent",
    "prepare_multiprocess_dir",
    "record_breaker_state",
    "record_prediction",
    "render_metrics",
    "route_template",
    "setup_tracing",
    "shutdown_tracing",
]
