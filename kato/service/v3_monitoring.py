"""KATO 3.x's JSON monitoring documents: ``/metrics`` (JSON), ``/stats``, ``/metrics/{name}``.

3.x clients and dashboards read a summary document and time series sampled every few
seconds. Here both are derived from what the service measures anyway — the Prometheus
request counters (aggregated over every worker), the session store's count — plus this
process's resources (CPU, memory, disk of the data directory, load). ``MetricsHistory``
samples them every ``interval_seconds`` into bounded series (one hour), so memory use is
fixed whatever the traffic.

What 3.x reports that this service does not measure per operation (MongoDB, Qdrant and Redis
operation counts and times) keeps 3.x's shape with zero values and empty series
(docs/API.md, DECISIONS).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

HISTORY_SECONDS = 3600  # how far back /stats and /metrics/{name} can look
DATABASES = ("mongodb", "qdrant", "redis")
RESOURCE_SERIES = (
    "cpu_percent",
    "memory_percent",
    "memory_used_mb",
    "disk_percent",
    "load_average_1m",
)
TRAFFIC_SERIES = (
    "requests_total",
    "response_time",
    "errors_total",
    "sessions_created",
    "sessions_deleted",
    "session_operations",
)
DATABASE_SERIES = tuple(
    f"{db}_{what}" for db in DATABASES for what in ("operations", "response_time", "errors")
)
SERIES = RESOURCE_SERIES + TRAFFIC_SERIES + DATABASE_SERIES  # 3.x's list, in its order

_SUMMARY_RESOURCES = ("cpu_percent", "memory_percent", "disk_percent")
_SESSION_CREATES = frozenset({"/sessions", "/v2/sessions"})
_SESSION_ROUTES = ("/sessions/{session_id}", "/v2/sessions/{session_id}")


@dataclass(frozen=True, slots=True)
class Traffic:
    """Totals since the service started, over every worker."""

    requests: float = 0.0
    errors: float = 0.0  # responses with status >= 500
    duration_sum: float = 0.0
    duration_count: float = 0.0
    sessions_created: float = 0.0
    sessions_deleted: float = 0.0
    session_operations: float = 0.0


def _registry() -> CollectorRegistry:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


def read_traffic(registry: CollectorRegistry | None = None) -> Traffic:
    """The request totals from ``kato_requests_total`` and the request-duration histogram."""
    totals = dict.fromkeys(Traffic.__dataclass_fields__, 0.0)
    for family in (registry or _registry()).collect():
        if family.name == "kato_requests":
            for sample in family.samples:
                if sample.name == "kato_requests_total":
                    _count_request(totals, sample.labels, sample.value)
        elif family.name == "kato_request_duration_seconds":
            for sample in family.samples:
                if sample.name.endswith("_sum"):
                    totals["duration_sum"] += sample.value
                elif sample.name.endswith("_count"):
                    totals["duration_count"] += sample.value
    return Traffic(**totals)


def _count_request(totals: dict[str, float], labels: dict[str, str], value: float) -> None:
    method, endpoint, status = labels["method"], labels["endpoint"], int(labels["status"])
    totals["requests"] += value
    if status >= 500:
        totals["errors"] += value
    if status != 200:
        return
    if method == "POST" and endpoint in _SESSION_CREATES:
        totals["sessions_created"] += value
    elif endpoint.startswith(_SESSION_ROUTES):
        totals["session_operations"] += value
        if method == "DELETE" and endpoint.endswith("{session_id}"):
            totals["sessions_deleted"] += value


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


class MetricsHistory:
    """Bounded time series of the 3.x metric names, sampled by ``sample``."""

    def __init__(self, data_dir: str, interval_seconds: float) -> None:
        self.data_dir = data_dir
        self.interval_seconds = interval_seconds
        points = max(2, int(HISTORY_SECONDS / interval_seconds) + 1)
        self._series: dict[str, deque[tuple[float, float]]] = {
            name: deque(maxlen=points) for name in SERIES
        }
        self._last_cpu = (time.monotonic(), time.process_time())
        self._last_traffic = read_traffic()
        self.traffic = self._last_traffic

    def sample(self, now: float | None = None) -> None:
        """Record one point of every measured series (the database ones stay empty)."""
        now = time.time() if now is None else now
        traffic = read_traffic()
        previous, self._last_traffic = self._last_traffic, traffic
        self.traffic = traffic
        served = traffic.duration_count - previous.duration_count
        spent = traffic.duration_sum - previous.duration_sum
        values = {
            **self._resources(),
            "requests_total": traffic.requests,
            "response_time": spent / served if served > 0 else 0.0,
            "errors_total": traffic.errors,
            "sessions_created": traffic.sessions_created,
            "sessions_deleted": traffic.sessions_deleted,
            "session_operations": traffic.session_operations,
        }
        for name, value in values.items():
            self._series[name].append((now, float(value)))

    def _resources(self) -> dict[str, float]:
        wall, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu = self._last_cpu
        self._last_cpu = (wall, cpu)
        rss, total = _rss_bytes(), _physical_memory()
        try:
            disk = shutil.disk_usage(self.data_dir)
            disk_percent = 100.0 * disk.used / disk.total if disk.total else 0.0
        except OSError:
            disk_percent = 0.0
        return {
            "cpu_percent": 100.0 * (cpu - last_cpu) / (wall - last_wall)
            if wall > last_wall
            else 0.0,
            "memory_percent": 100.0 * rss / total if total else 0.0,
            "memory_used_mb": rss / (1024 * 1024),
            "disk_percent": disk_percent,
            "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
        }

    def series(self, name: str, minutes: float, now: float | None = None) -> list[dict[str, Any]]:
        """3.x's data points of ``name`` in the last ``minutes``; [] for an unknown name."""
        cutoff = (time.time() if now is None else now) - minutes * 60
        return [
            {"timestamp": at, "value": value, "labels": {}}
            for at, value in self._series.get(name, ())
            if at > cutoff
        ]

    def latest(self, name: str) -> float:
        points = self._series[name]
        return points[-1][1] if points else 0.0

    def mean(self, name: str, seconds: float, now: float) -> float:
        return _mean(value for at, value in self._series[name] if at > now - seconds)

    def rate(self, name: str, seconds: float, now: float) -> float:
        """Per-second change of a total over the window (0 with fewer than two points)."""
        points = [(at, value) for at, value in self._series[name] if at > now - seconds]
        if len(points) < 2 or points[-1][0] <= points[0][0]:
            return 0.0
        return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0])


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _databases() -> dict[str, dict[str, float]]:
    return {db: {"operations": 0.0, "errors": 0.0, "avg_response_time": 0.0} for db in DATABASES}


def summary(
    history: MetricsHistory, active_sessions: int, processors: dict[str, Any], uptime: float
) -> dict[str, Any]:
    """The document 3.x answers at ``GET /metrics`` (JSON)."""
    now = time.time()
    traffic = read_traffic()
    return {
        "timestamp": now,
        "sessions": {
            "total_created": traffic.sessions_created,
            "total_deleted": traffic.sessions_deleted,
            "active": active_sessions,
            "operations_total": traffic.session_operations,
        },
        "performance": {
            "total_requests": traffic.requests,
            "total_errors": traffic.errors,
            "error_rate": traffic.errors / traffic.requests if traffic.requests else 0.0,
            "average_response_time": history.mean("response_time", 60, now),
        },
        "resources": {name: history.latest(name) for name in _SUMMARY_RESOURCES},
        "databases": _databases(),
        "rates": {
            "requests_per_second": history.rate("requests_total", 60, now),
            "requests_per_minute": 60 * history.rate("requests_total", 60, now),
            "errors_per_minute": 60 * history.rate("errors_total", 60, now),
            "sessions_per_minute": 60 * history.rate("sessions_created", 60, now),
        },
        "processor_manager": processors,
        "uptime_seconds": uptime,
        "active_sessions": active_sessions,
    }


def health_status(history: MetricsHistory) -> dict[str, Any]:
    """3.x's ``current_status``: degraded above 80 % CPU or 10 errors/min, unhealthy above
    90 % memory."""
    now = time.time()
    cpu, memory = history.latest("cpu_percent"), history.latest("memory_percent")
    errors_per_minute = 60 * history.rate("errors_total", 60, now)
    issues, status = [], "healthy"
    if cpu > 80:
        issues.append("High CPU usage")
        status = "degraded"
    if memory > 90:
        issues.append("High memory usage")
        status = "unhealthy"
    if errors_per_minute > 10:
        issues.append("High error rate")
        status = "degraded" if status == "healthy" else status
    return {
        "status": status,
        "issues": issues,
        "metrics": {
            "cpu_percent": cpu,
            "memory_percent": memory,
            "error_rate_per_min": errors_per_minute,
        },
        "timestamp": datetime.now(UTC).isoformat(),
    }


def stats(
    history: MetricsHistory,
    minutes: int,
    active_sessions: int,
    processors: dict[str, Any],
    uptime: float,
) -> dict[str, Any]:
    """The document 3.x answers at ``GET /stats?minutes=N``."""
    document = summary(history, active_sessions, processors, uptime)
    return {
        "time_range_minutes": minutes,
        "timestamp": document["timestamp"],
        "processor_manager": processors,
        "current_status": health_status(history),
        "time_series": {name: history.series(name, minutes) for name in SERIES},
        "summary": {
            key: document[key] for key in ("sessions", "performance", "resources", "databases")
        },
    }


def metric_history(history: MetricsHistory, name: str, minutes: int) -> dict[str, Any] | None:
    """The document 3.x answers at ``GET /metrics/{name}``; None when there is no data."""
    points = history.series(name, minutes)
    if not points:
        return None
    values = [point["value"] for point in points]
    return {
        "metric_name": name,
        "time_range_minutes": minutes,
        "timestamp": time.time(),
        "statistics": {
            "count": len(values),
            "min": min(values),
            "max": max(values),
            "avg": sum(values) / len(values),
        },
        "data_points": points,
    }
