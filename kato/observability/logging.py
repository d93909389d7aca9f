"""Structured JSON logs (structlog) and the per-request trace context.

Every request gets a trace id, chosen in this order:

1. the trace-id field of a valid W3C ``traceparent`` header (so logs join the caller's trace);
2. ``X-Trace-ID`` (the id a client got from an earlier response), then ``X-Request-ID``
   (set by proxies), when it is a safe token (letters, digits, ``._:-``; at most 128 chars);
3. the current OpenTelemetry span's trace id, when tracing is on;
4. a freshly generated 32-hex id (the W3C trace-id format).

The id lives in one contextvar for the whole request, HTTP or WebSocket (error bodies, log
lines and audit records read it through :func:`current_trace_id`), is returned as
``X-Trace-ID``, and is a field of the one JSON log line written per HTTP request by
:class:`RequestLog`. The request pipeline (``kato.api.pipeline``) calls :func:`begin_request`
and :class:`RequestLog`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, MutableMapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TextIO

import structlog
from starlette.types import Scope

from kato.core.random_ids import uuid4_hex
from kato.core.record_encoder import value_encoder
from kato.core.utc_text import now_microseconds_text

# The ``tracing`` extra: imported once here rather than on every request.
try:
    from opentelemetry import trace as otel_trace
except ImportError:
    otel_trace = None  # type: ignore[assignment]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

_trace_id: ContextVar[str | None] = ContextVar("kato_trace_id", default=None)
# A mutable dict per request: handlers add session_id/node_id to it, and because the dict is
# shared (not copied) the middleware sees them even when the handler ran in a worker thread
# or a child task with a copied context.
_request_fields: ContextVar[dict[str, Any] | None] = ContextVar("kato_log_fields", default=None)

_STDLIB_HANDLER = "kato-json"


def current_trace_id() -> str | None:
    """Trace id of the request being served, or None outside a request."""
    return _trace_id.get()


def bind_request_fields(**fields: Any) -> None:
    """Attach fields (``session_id``, ``node_id``) to the current request's log line."""
    current = _request_fields.get()
    if current is not None:
        for name, value in fields.items():
            if value is not None:
                current[name] = value


def parse_traceparent(value: str) -> str | None:
    """The trace-id of a valid W3C ``traceparent`` header, else None."""
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, parent_id, _flags = match.groups()
    if version == "ff" or trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id


def _current_span() -> Any:
    """The active OpenTelemetry span; None without the ``tracing`` extra or outside any span
    (``INVALID_SPAN``, whose context is invalid and which records nothing, so both uses of
    the span below would skip it)."""
    if otel_trace is None:
        return None
    span = otel_trace.get_current_span()
    return None if span is otel_trace.INVALID_SPAN else span


def _span_trace_id(span: Any) -> str | None:
    if span is None:
        return None
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def extract_trace_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """Pick the request's trace id from raw ASGI headers (see module doc for the order)."""
    return _choose_trace_id(headers, _current_span())


def _choose_trace_id(headers: Iterable[tuple[bytes, bytes]], span: Any) -> str:
    found: dict[bytes, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered in (b"traceparent", b"x-trace-id", b"x-request-id"):
            found.setdefault(lowered, value.decode("latin-1").strip())
    traceparent = found.get(b"traceparent")
    if traceparent and (trace_id := parse_traceparent(traceparent)):
        return trace_id
    for header in (b"x-trace-id", b"x-request-id"):
        candidate = found.get(header)
        if candidate and _REQUEST_ID.match(candidate):
            return candidate
    return _span_trace_id(span) or uuid4_hex()


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines on ``stream`` (stdout) at ``level``, with the trace id in every event.

    Covers structlog loggers (the request log) and the standard-library loggers under
    ``kato`` (warnings and exceptions of the other modules), which stay propagating so test
    log capture keeps working. Calling it again replaces the previous configuration.
    """
    output = stream or sys.stdout
    numeric_level = logging.getLevelName(level)
    _request_output.configure(output, numeric_level)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_trace_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=output),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(output)
    handler.set_name(_STDLIB_HANDLER)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    kato_logger = logging.getLogger("kato")
    for previous in [h for h in kato_logger.handlers if h.get_name() == _STDLIB_HANDLER]:
        kato_logger.removeHandler(previous)
    kato_logger.addHandler(handler)
    kato_logger.setLevel(numeric_level)


def _add_trace_id(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    trace_id = _trace_id.get()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
    return event_dict


def _session_id_from(scope: Scope) -> str | None:
    path_params = scope.get("path_params") or {}
    if "session_id" in path_params:
        return str(path_params["session_id"])
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-session-id":
            return value.decode("latin-1")
    return None


@dataclass(slots=True)
class RequestContext:
    """What ``begin_request`` set for one request, for ``end_request`` to undo."""

    trace_id: str
    fields: dict[str, Any]
    _trace_token: Token[str | None]
    _fields_token: Token[dict[str, Any] | None]


def begin_request(scope: Scope) -> RequestContext:
    """Choose the request's trace id (module docstring) and open its log-field context.

    This is the one trace-id context: the error envelope, every log line and the audit
    record read it through :func:`current_trace_id`."""
    span = _current_span()  # looked up once: for the trace id and to tag it
    trace_id = _choose_trace_id(scope.get("headers", ()), span)
    fields: dict[str, Any] = {}
    context = RequestContext(trace_id, fields, _trace_id.set(trace_id), _request_fields.set(fields))
    if span is not None and span.is_recording():
        # KATO's trace id on the active span, so an X-Request-ID can be found in traces.
        span.set_attribute("kato.trace_id", trace_id)
    return context


def end_request(context: RequestContext) -> None:
    _request_fields.reset(context._fields_token)
    _trace_id.reset(context._trace_token)


class _RequestLogOutput:
    """Where ``configure_logging`` sends the request log, and from which level."""

    def __init__(self) -> None:
        self.stream: TextIO = sys.stdout
        self.level = logging.INFO
        self.lock = threading.Lock()  # one line at a time, as structlog's WriteLogger

    def configure(self, stream: TextIO, level: int) -> None:
        self.stream, self.level = stream, level


_request_output = _RequestLogOutput()
# structlog's JSONRenderer renders with json.dumps(default=...): each value as that encoder
# writes it, the keys and separators around them as it writes them (kato/core/record_encoder.py).
_value = value_encoder(json.JSONEncoder(default=repr))


class RequestLog:
    """The one JSON line per HTTP request.

    Rendered here rather than through structlog's processor chain (a fifth of the cost of the
    request path's logging, profiled): the same fields in the same order as the chain of
    ``configure_logging`` gives them — the event's, ``event``, ``trace_id``, ``level``,
    ``timestamp`` — and the same JSON rendering, on the same stream from the same level.
    """

    def write(
        self, scope: Scope, endpoint: str, status: int, started: float, fields: dict[str, Any]
    ) -> None:
        """``started``: ``time.perf_counter()`` when the request arrived."""
        duration_ms = (time.perf_counter() - started) * 1000.0
        level = logging.WARNING if status >= 500 else logging.INFO
        output = _request_output
        if level < output.level:
            return
        # The scope is searched only when the handler bound none (most bind it).
        session_id = fields["session_id"] if "session_id" in fields else _session_id_from(scope)
        trace_id = _trace_id.get()
        trace = "" if trace_id is None else f', "trace_id": {_value(trace_id)}'
        level_name = "warning" if level == logging.WARNING else "info"
        # What TimeStamper(fmt="iso", utc=True) writes; digits and "-:.TZ" need no escape.
        timestamp = now_microseconds_text()
        text = (
            f'{{"method": {_value(scope["method"])}, "path": {_value(endpoint)}, '
            f'"status": {_value(status)}, "duration_ms": {_value(round(duration_ms, 3))}, '
            f'"session_id": {_value(session_id)}, "node_id": {_value(fields.get("node_id"))}, '
            f'"event": "request"{trace}, "level": "{level_name}", "timestamp": "{timestamp}"}}\n'
        )
        with output.lock:
            output.stream.write(text)
            output.stream.flush()
