"""KATO 3.x monitoring documents (issue 12 req 6, semantics §12.19): /metrics as JSON for a
client asking for it, /stats and /metrics/{name} time series; Prometheus text stays the default."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from kato.service.v3_monitoring import SERIES
from tests.api.conftest import ClientFactory, assert_error

JSON = {"Accept": "application/json"}


async def stats_when(
    client: httpx.AsyncClient, ready: Any, budget_seconds: float = 10.0
) -> dict[str, Any]:
    """/stats once ``ready(stats)`` holds (the sampler runs every 50 ms here)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_seconds
    while True:
        body: dict[str, Any] = (await client.get("/stats?minutes=5")).json()
        if ready(body) or loop.time() > deadline:
            return body
        await asyncio.sleep(0.05)


def last(body: dict[str, Any], name: str) -> float:
    points = body["time_series"][name]
    return float(points[-1]["value"]) if points else -1.0


async def test_metrics_is_prometheus_text_unless_json_is_asked_for(start: ClientFactory) -> None:
    async with start(monitoring={"history_interval_seconds": 0.05}) as client:
        scrape = await client.get("/metrics")
        assert scrape.headers["content-type"].startswith("text/plain")
        assert "kato_requests_total" in scrape.text
        document = await client.get("/metrics", headers=JSON)
        assert document.headers["content-type"] == "application/json"
        body = document.json()
        assert set(body) == {
            "timestamp",
            "sessions",
            "performance",
            "resources",
            "databases",
            "rates",
            "processor_manager",
            "uptime_seconds",
            "active_sessions",
        }
        assert set(body["sessions"]) == {
            "total_created",
            "total_deleted",
            "active",
            "operations_total",
        }
        assert set(body["performance"]) == {
            "total_requests",
            "total_errors",
            "error_rate",
            "average_response_time",
        }
        assert set(body["databases"]) == {"mongodb", "qdrant", "redis"}
        assert body["performance"]["total_requests"] >= 1  # the scrape above was counted


async def test_stats_report_sessions_created_and_requests(start: ClientFactory) -> None:
    async with start(monitoring={"history_interval_seconds": 0.05}) as client:
        before = await stats_when(client, lambda body: last(body, "requests_total") >= 0)
        created_before = last(before, "sessions_created")
        for node in ("a", "b"):
            assert (await client.post("/sessions", json={"node_id": node})).status_code == 200
        session_id = (await client.post("/v2/sessions", json={"node_id": "c"})).json()["session_id"]
        await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["x"]})
        await client.delete(f"/sessions/{session_id}")
        after = await stats_when(
            client, lambda body: last(body, "sessions_created") >= created_before + 3
        )
        assert set(after["time_series"]) == set(SERIES)
        assert last(after, "sessions_created") == created_before + 3
        assert last(after, "sessions_deleted") >= 1
        assert last(after, "session_operations") >= 2
        assert after["time_series"]["mongodb_operations"] == []  # not measured per operation
        assert after["summary"]["sessions"]["active"] == 2
        assert after["current_status"]["status"] in {"healthy", "degraded", "unhealthy"}
        assert after["time_range_minutes"] == 5
        assert after["processor_manager"]["active_processors"] == 1  # node c observed


async def test_one_metric_history_and_its_statistics(start: ClientFactory) -> None:
    async with start(monitoring={"history_interval_seconds": 0.05}) as client:
        await stats_when(client, lambda body: len(body["time_series"]["requests_total"]) >= 2)
        body = (await client.get("/metrics/requests_total?minutes=1")).json()
        assert body["metric_name"] == "requests_total" and body["time_range_minutes"] == 1
        values = [point["value"] for point in body["data_points"]]
        statistics = body["statistics"]
        assert statistics["count"] == len(values) >= 2
        assert statistics["min"] == min(values) and statistics["max"] == max(values)
        assert values == sorted(values)  # a total never decreases
        assert_error(await client.get("/metrics/no_such_metric"), 404, "KATO_METRIC_NOT_FOUND")
        assert_error(await client.get("/metrics/redis_errors"), 404, "KATO_METRIC_NOT_FOUND")
        assert_error(await client.get("/stats?minutes=0"), 422, "KATO_VALIDATION_ERROR")
