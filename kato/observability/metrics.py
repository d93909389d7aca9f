"""Prometheus metrics: definitions, the request metrics and /metrics rendering.

Several worker processes: prometheus-client's multiprocess mode is used when the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` names an (empty, writable) directory *before* this module
is imported — every worker then writes its samples to memory-mapped files there and
:func:`render_metrics` aggregates all of them, so any worker answers /metrics for the whole
service. ``kato serve --workers N`` sets it up (:func:`prepare_multiprocess_dir`).
Each gauge declares how workers' values combine (``multiprocess_mode``).

Label values are bounded: ``endpoint`` is the matched route template (``/v2/sessions/{id}``),
never the raw path; unmatched paths share one value; there is no per-session or per-node label.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from starlette.routing import Match
from starlette.types import Scope

UNMATCHED_ENDPOINT = "<unmatched>"

# ``*_created`` timestamp series double the series count and no KATO dashboard uses them.
disable_created_metrics()

# In multiprocess mode every metric below opens its file at import: the directory must exist
# (``kato serve`` imports this module before it empties the directory for the workers).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "kato_requests_total",
    "HTTP requests served, by method, route template and status code",
    ["method", "endpoint", "status"],
)
REQUEST_DURATION = Histogram(
    "kato_request_duration_seconds",
    "HTTP request duration in seconds, by method and route template",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUESTS_IN_FLIGHT = Gauge(
    "kato_requests_in_flight",
    "HTTP requests being handled (those the in-flight bound admitted), summed over live workers",
    multiprocess_mode="livesum",
)
ACTIVE_SESSIONS = Gauge(
    "kato_active_sessions",
    "Sessions currently alive in the session store (shared by all workers)",
    multiprocess_mode="mostrecent",
)
STM_SIZE = Histogram(
    "kato_stm_size",
    "Short-term-memory length (events) of the session after each observe; no session label",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
)
DATABASE_CONNECTIONS = Gauge(
    "kato_database_connections",
    "Configured connection-pool size per database, summed over live workers",
    ["database"],
    multiprocess_mode="livesum",
)
CIRCUIT_BREAKER_STATE = Gauge(
    "kato_circuit_breaker_state",
    "Circuit breaker state per dependency and worker: 0 closed, 1 open, 2 half-open",
    ["service"],
    multiprocess_mode="liveall",
)
PATTERNS = Gauge(
    "kato_patterns",
    "Patterns in the knowledge bases of the nodes cached by a worker (max over live workers)",
    multiprocess_mode="livemax",
)
CACHED_NODES = Gauge(
    "kato_cached_nodes",
    "Nodes whose knowledge base a worker holds in memory (max over live workers)",
    multiprocess_mode="livemax",
)
PREDICTION_DURATION = Histogram(
    "kato_prediction_duration_seconds",
    "Time to compute one prediction list (matcher and ranking), cache misses only",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PREDICTION_CANDIDATES = Histogram(
    "kato_prediction_candidates",
    "Candidate patterns evaluated by the matcher for one prediction list",
    buckets=(0, 1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000),
)

EXPORTED_METRIC_NAMES: frozenset[str] = frozenset(
    {
        "kato_requests_total",
        "kato_request_duration_seconds",
        "kato_active_sessions",
        "kato_stm_size",
        "kato_database_connections",
        "kato_circuit_breaker_state",
        "kato_patterns",
        "kato_cached_nodes",
        "kato_prediction_duration_seconds",
        "kato_prediction_candidates",
    }
)


def record_breaker_state(service: str, state: int) -> None:
    """``on_state_change`` listener for :class:`kato.resilience.CircuitBreaker`."""
    CIRCUIT_BREAKER_STATE.labels(service=service).set(int(state))


def record_prediction(duration_seconds: float, candidates: int) -> None:
    PREDICTION_DURATION.observe(duration_seconds)
    PREDICTION_CANDIDATES.observe(candidates)


def render_metrics() -> tuple[bytes, str]:
    """Exposition-format body and content type for ``GET /metrics``."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        _forget_dead_workers(Path(directory))
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(workers: int) -> str | None:
    """Set up ``PROMETHEUS_MULTIPROC_DIR`` before ``workers`` processes are started.

    Called by ``kato serve`` in the parent process. With one worker nothing is needed. With
    several, an operator-chosen directory is emptied of a previous run's files (stale
    counters would otherwise be added in); without one a private temporary directory is
    created. Returns the directory in use, or None.
    """
    if workers <= 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="kato-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _forget_dead_workers(directory: Path) -> None:
    """Drop live-gauge files of worker processes that no longer exist.

    The process manager (uvicorn) has no exit hook to call ``mark_process_dead`` from, so
    each scrape does it: a killed and replaced worker's pool sizes and breaker states stop
    being reported. Counters and histograms of dead workers are kept, so totals never drop.
    """
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        if not _process_exists(pid):
            multiprocess.mark_process_dead(pid, str(directory))


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def route_template(scope: Scope) -> str:
    """The matched route's path template, or :data:`UNMATCHED_ENDPOINT` (bounded labels)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Plain Starlette routes (e.g. added with add_route) don't record themselves in the scope.
    for candidate in getattr(scope.get("app"), "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            candidate_path = getattr(candidate, "path", None)
            if isinstance(candidate_path, str):
                return candidate_path
    return UNMATCHED_ENDPOINT


class RequestMetrics:
    """Records ``kato_requests_total`` and the request duration (the request pipeline)."""

    def __init__(self) -> None:
        # Labelled children by label values: ``labels()`` validates and locks on every call.
        # Bounded like the labels themselves (route templates x methods x status codes).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    def record(self, method: str, endpoint: str, status: int, started: float) -> None:
        """``started``: ``time.perf_counter()`` when the request arrived."""
        elapsed = time.perf_counter() - started
        counter = self._counters.get((method, endpoint, status))
        if counter is None:
            counter = REQUESTS.labels(method=method, endpoint=endpoint, status=str(status))
            self._counters[method, endpoint, status] = counter
        counter.inc()
        duration = self._durations.get((method, endpoint))
        if duration is None:
            duration = REQUEST_DURATION.labels(method=method, endpoint=endpoint)
            self._durations[method, endpoint] = duration
        duration.observe(elapsed)
