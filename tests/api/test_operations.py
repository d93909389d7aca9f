"""Health probes, /metrics, trace ids and 503 mapping through the real app (create_app)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import httpx
import pymongo.errors
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kato.api.app import create_app
from kato.observability import configure_logging
from kato.resilience import CircuitOpenError, DependencyError, Resilience
from tests.api.conftest import ClientFactory, assert_error, make_settings, new_session, observe
from tests.servers import free_port

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_probes_answer_after_startup(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "alive"}
    assert (await client.get("/health/startup")).json() == {"status": "started"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    # /health keeps its documented v1 shape.
    assert (await client.get("/health")).json()["status"] == "healthy"


async def test_startup_and_readiness_before_and_after_the_lifespan(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
        assert (await client.get("/health/startup")).status_code == 503
        assert (await client.get("/health/ready")).json()["reason"] == "starting"
        async with app.router.lifespan_context(app):
            assert (await client.get("/health/startup")).status_code == 200
        not_ready = await client.get("/health/ready")
        assert not_ready.status_code == 503
        assert not_ready.json()["reason"] == "shutting_down"
        assert (await client.get("/health/live")).status_code == 200


async def test_readiness_lists_dependencies_and_fails_on_an_open_breaker(tmp_path: Path) -> None:
    app = create_app(
        make_settings(tmp_path, resilience={"circuit_breaker": {"failure_threshold": 1}})
    )
    resilience: Resilience = app.state.resilience

    async def reachable() -> None:
        await asyncio.sleep(0)

    resilience.health.register("mongodb", reachable)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            mongodb = ready.json()["dependencies"]["mongodb"]
            assert mongodb["status"] == "ok" and mongodb["breaker"] == "closed"
            assert mongodb["latency_ms"] >= 0

            async def refused() -> None:
                raise ConnectionError("refused")

            with pytest.raises(DependencyError):
                await resilience.acall("mongodb", refused)
            not_ready = await client.get("/health/ready")
            assert not_ready.status_code == 503
            body = not_ready.json()
            assert body["dependencies"]["mongodb"]["status"] == "circuit_open"
            assert body["reason"] == "unavailable: mongodb"
            metrics = metric_samples((await client.get("/metrics")).text)
            breaker = [
                value
                for (name, labels), value in metrics.items()
                if name == "kato_circuit_breaker_state" and ("service", "mongodb") in labels
            ]
            assert breaker == [1.0]


async def test_dependency_errors_answer_503_with_retry_after(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    async def circuit_open() -> None:
        raise CircuitOpenError("redis", 12.2)

    async def database_down() -> None:
        raise DependencyError("mongodb", "ServerSelectionTimeoutError: no servers")

    async def mongo_unreachable() -> None:
        raise pymongo.errors.ServerSelectionTimeoutError("no servers found")

    async def invalid() -> None:
        raise pymongo.errors.OperationFailure("bad query")  # not an outage: stays a 500

    app.add_api_route("/test/circuit-open", circuit_open)
    app.add_api_route("/test/database-down", database_down)
    app.add_api_route("/test/mongo-unreachable", mongo_unreachable)
    app.add_api_route("/test/invalid", invalid)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
        opened = await client.get("/test/circuit-open", headers={"X-Request-ID": "req-1"})
        error = assert_error(opened, 503, "KATO_CIRCUIT_OPEN")
        assert opened.headers["retry-after"] == "13"
        assert error["details"]["trace_id"] == "req-1" == opened.headers["x-trace-id"]
        down = await client.get("/test/database-down")
        assert_error(down, 503, "KATO_DATABASE_ERROR")
        assert down.headers["retry-after"] == "1"
        unreachable = await client.get("/test/mongo-unreachable")
        error = assert_error(unreachable, 503, "KATO_DATABASE_ERROR")
        assert error["details"]["service"] == "mongodb"
        assert unreachable.headers["retry-after"] == "1"
        assert_error(await client.get("/test/invalid"), 500, "KATO_INTERNAL_ERROR")


async def test_trace_id_from_traceparent_in_header_and_error_body(
    client: httpx.AsyncClient,
) -> None:
    headers = {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"}
    missing = await client.get("/v2/sessions/no-such-session", headers=headers)
    error = assert_error(missing, 404, "KATO_SESSION_NOT_FOUND")
    assert error["details"]["trace_id"] == TRACE
    assert missing.headers.get_list("x-trace-id") == [TRACE]
    generated = await client.get("/health/live")
    assert len(generated.headers["x-trace-id"]) == 32


async def test_metrics_endpoint_reports_requests_sessions_and_nodes(start: ClientFactory) -> None:
    async with start() as client:
        session_id = await new_session(client, "alice")
        for symbol in ("a", "b", "c"):
            await observe(client, session_id, symbol)
        assert (await client.post(f"/v2/sessions/{session_id}/learn")).status_code == 200
        for symbol in ("a", "b"):
            await observe(client, session_id, symbol)
        predicted = await client.get(f"/v2/sessions/{session_id}/predictions")
        assert predicted.status_code == 200, predicted.text
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)
    observe_key = (
        "kato_requests_total",
        frozenset(
            {
                ("method", "POST"),
                ("endpoint", "/v2/sessions/{session_id}/observe"),
                ("status", "200"),
            }
        ),
    )
    assert samples[observe_key] >= 3
    assert samples[("kato_active_sessions", frozenset())] >= 1
    assert samples[("kato_cached_nodes", frozenset())] >= 1
    assert samples[("kato_patterns", frozenset())] >= 1
    assert samples[("kato_stm_size_count", frozenset())] >= 5
    assert samples[("kato_prediction_duration_seconds_count", frozenset())] >= 1
    assert samples[("kato_prediction_candidates_sum", frozenset())] >= 1
    assert session_id not in response.text


async def test_database_connections_report_the_embedded_stores(start: ClientFactory) -> None:
    """Default storage (SQLite file, in-memory sessions): the gauge was empty before."""
    async with start() as client:
        session_id = await new_session(client, "alice")
        await observe(client, session_id, "a", "b")
        assert (await client.post(f"/v2/sessions/{session_id}/learn")).status_code == 200
        samples = metric_samples((await client.get("/metrics")).text)
    connections = {
        dict(labels)["database"]: value
        for (name, labels), value in samples.items()
        if name == "kato_database_connections"
    }
    assert connections["sqlite"] >= 1  # one per thread that used the file
    assert connections["memory"] == 1


async def test_prediction_limit_refuses_at_once(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, resilience={"max_concurrent_predictions": 1}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            session_id = await new_session(client, "alice")
            await observe(client, session_id, "a")
            await observe(client, session_id, "b")
            slots = app.state.service.prediction_slots
            assert slots.try_acquire()  # another computation holds the only slot
            try:
                refused = await client.get(f"/v2/sessions/{session_id}/predictions")
            finally:
                slots.release()
            assert_error(refused, 503, "KATO_OVERLOADED")
            assert refused.headers["retry-after"] == "1"
            again = await client.get(f"/v2/sessions/{session_id}/predictions")
            assert again.status_code == 200


async def test_request_log_line_names_session_and_node(start: ClientFactory) -> None:
    stream = io.StringIO()
    async with start() as client:
        configure_logging("INFO", stream=stream)  # after create_app configured stdout
        session_id = await new_session(client, "bob")
        await observe(client, session_id, "x")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    observed = [line for line in lines if line.get("path", "").endswith("/observe")]
    assert len(observed) == 1
    assert observed[0]["session_id"] == session_id
    assert observed[0]["node_id"] == "bob"
    assert observed[0]["status"] == 200


async def test_readiness_probes_a_configured_mongodb(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: MongoDB is configured but unreachable
    settings = make_settings(
        tmp_path,
        database={
            "mongodb": {
                "url": f"mongodb://127.0.0.1:{port}/",
                "server_selection_timeout_ms": 200,
            }
        },
        resilience={"dependency_timeout": 2.0},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            ready = await client.get("/health/ready")
    assert ready.status_code == 503
    mongodb = ready.json()["dependencies"]["mongodb"]
    assert mongodb["status"] == "down"
    assert "ServerSelectionTimeoutError" in mongodb["error"]
