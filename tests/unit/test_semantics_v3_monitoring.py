"""How the 3.x monitoring totals are read from the Prometheus request metrics (§12.19)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from kato.service.v3_monitoring import read_traffic


def test_requests_are_classified_by_route_template_and_status() -> None:
    registry = CollectorRegistry()
    requests = Counter(
        "kato_requests_total", "", ["method", "endpoint", "status"], registry=registry
    )
    durations = Histogram(
        "kato_request_duration_seconds", "", ["method", "endpoint"], registry=registry
    )
    requests.labels("POST", "/sessions", "200").inc(2)
    requests.labels("POST", "/v2/sessions", "200").inc()
    requests.labels("POST", "/sessions", "422").inc()  # refused: nothing created
    requests.labels("DELETE", "/sessions/{session_id}", "200").inc()
    requests.labels("POST", "/v2/sessions/{session_id}/observe", "200").inc(4)
    requests.labels("GET", "/health", "503").inc()
    durations.labels("GET", "/health").observe(0.5)
    durations.labels("GET", "/health").observe(1.5)
    traffic = read_traffic(registry)
    assert traffic.requests == 10
    assert traffic.errors == 1  # status >= 500 only
    assert traffic.sessions_created == 3
    assert traffic.sessions_deleted == 1
    assert traffic.session_operations == 5  # the delete and the four observes
    assert (traffic.duration_sum, traffic.duration_count) == (2.0, 2)
