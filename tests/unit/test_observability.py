"""Metrics, structured request logs, trace ids and tracing (kato.observability)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kato.config import MonitoringSettings
from kato.observability import (
    EXPORTED_METRIC_NAMES,
    bind_request_fields,
    configure_logging,
    current_trace_id,
    extract_trace_id,
    parse_traceparent,
    prepare_multiprocess_dir,
    record_breaker_state,
    record_prediction,
    render_metrics,
    setup_tracing,
    shutdown_tracing,
)
from kato.resilience import BreakerState, async_redis_driver_retry
from tests.pipeline_support import add_pipeline

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def demo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/v2/sessions/{session_id}")
    async def get_session(session_id: str) -> dict[str, str]:
        bind_request_fields(node_id="node-7")
        return {"session_id": session_id, "trace_id": current_trace_id() or ""}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    add_pipeline(app)
    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://kato",
    )


# -- trace ids -------------------------------------------------------------------------------


def test_traceparent_trace_id_is_used() -> None:
    assert parse_traceparent(TRACEPARENT) == TRACE
    headers = [(b"traceparent", TRACEPARENT.encode()), (b"x-request-id", b"req-1")]
    assert extract_trace_id(headers) == TRACE


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is invalid
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
    ],
)
def test_invalid_traceparent_falls_back_to_request_id(value: str) -> None:
    assert parse_traceparent(value) is None
    headers = [(b"traceparent", value.encode()), (b"X-Request-ID", b"req-42")]
    assert extract_trace_id(headers) == "req-42"


def test_unsafe_request_id_is_replaced_by_a_generated_id() -> None:
    generated = extract_trace_id([(b"x-request-id", b"bad id\r\nInjected: 1")])
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert extract_trace_id([]) != extract_trace_id([])


def test_client_trace_id_header_is_accepted() -> None:
    assert extract_trace_id([(b"x-trace-id", b"abc-123"), (b"x-request-id", b"r")]) == "abc-123"


# -- request logs ----------------------------------------------------------------------------


async def test_one_json_log_line_per_request_with_all_fields() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    async with client_for(demo_app()) as client:
        response = await client.get("/v2/sessions/s-1", headers={"traceparent": TRACEPARENT})
        missing = await client.get("/nowhere", headers={"X-Request-ID": "req-9"})
    assert response.headers["x-trace-id"] == TRACE
    assert response.json()["trace_id"] == TRACE  # the contextvar is set inside handlers
    assert missing.headers["x-trace-id"] == "req-9"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["event"] == "request"
    assert first["method"] == "GET"
    assert first["path"] == "/v2/sessions/{session_id}"
    assert first["status"] == 200
    assert first["trace_id"] == TRACE
    assert first["session_id"] == "s-1"
    assert first["node_id"] == "node-7"
    assert first["level"] == "info"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert "timestamp" in first
    assert second["path"] == "<unmatched>" and second["status"] == 404
    assert second["trace_id"] == "req-9"


async def test_log_level_filters_request_lines() -> None:
    stream = io.StringIO()
    configure_logging("WARNING", stream=stream)
    async with client_for(demo_app()) as client:
        await client.get("/v2/sessions/s-1")
        failed = await client.get("/boom")
    assert failed.status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["path"], line["status"], line["level"]) for line in lines] == [
        ("/boom", 500, "warning")
    ]


async def test_standard_library_logs_are_json_with_the_trace_id() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    configure_logging("INFO", stream=stream)  # reconfiguring must not duplicate lines
    app = FastAPI()

    @app.get("/fails")
    async def fails() -> None:
        try:
            raise ValueError("bad state")
        except ValueError:
            logging.getLogger("kato.api").exception("unhandled error")
        logging.getLogger("kato.api").debug("below the level")

    add_pipeline(app, metrics=False)
    async with client_for(app) as client:
        await client.get("/fails", headers={"X-Request-ID": "req-77"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["unhandled error", "request"]
    error = lines[0]
    assert error["logger"] == "kato.api" and error["level"] == "error"
    assert error["trace_id"] == "req-77"
    assert "ValueError: bad state" in error["exception"]


# -- metrics ---------------------------------------------------------------------------------


async def test_request_metrics_use_the_route_template() -> None:
    labels = {"method": "GET", "endpoint": "/v2/sessions/{session_id}", "status": "200"}
    before = sample("kato_requests_total", labels)
    before_count = sample(
        "kato_request_duration_seconds_count",
        {"method": "GET", "endpoint": "/v2/sessions/{session_id}"},
    )
    unmatched = {"method": "GET", "endpoint": "<unmatched>", "status": "404"}
    before_unmatched = sample("kato_requests_total", unmatched)
    async with client_for(demo_app()) as client:
        for session in ("a", "b", "c"):
            await client.get(f"/v2/sessions/{session}")
        await client.get("/random/path/1")
        await client.get("/boom")
    assert sample("kato_requests_total", labels) == before + 3
    assert (
        sample(
            "kato_request_duration_seconds_count",
            {"method": "GET", "endpoint": "/v2/sessions/{session_id}"},
        )
        == before_count + 3
    )
    assert sample("kato_requests_total", unmatched) == before_unmatched + 1
    assert sample("kato_requests_total", {"method": "GET", "endpoint": "/boom", "status": "500"})
    body, content_type = render_metrics()
    assert content_type.startswith("text/plain")
    assert b"/v2/sessions/a" not in body  # raw paths never become label values


def test_exposition_contains_every_exported_metric() -> None:
    record_breaker_state("redis", BreakerState.OPEN)
    record_prediction(0.004, 17)
    body, _ = render_metrics()
    parsed = list(text_string_to_metric_families(body.decode()))
    families = {family.name for family in parsed}
    # The parser strips the counter suffix: kato_requests_total -> kato_requests.
    exposed = {name if name in EXPORTED_METRIC_NAMES else f"{name}_total" for name in families}
    assert exposed >= EXPORTED_METRIC_NAMES
    assert sample("kato_circuit_breaker_state", {"service": "redis"}) == 1.0
    assert sample("kato_prediction_candidates_bucket", {"le": "50.0"}) >= 1
    label_names = {name for family in parsed for s in family.samples for name in s.labels}
    assert not label_names & {"session_id", "node_id", "node", "path"}  # unbounded labels


def test_metrics_aggregate_across_worker_processes(tmp_path: Path) -> None:
    """Multiprocess mode: real worker processes, one scrape sees all of them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = textwrap.dedent(
        """
        import sys
        from kato.observability import metrics
        requests = metrics.REQUESTS.labels(method="GET", endpoint="/health", status="200")
        requests.inc(int(sys.argv[1]))
        metrics.DATABASE_CONNECTIONS.labels(database="redis").set(30)
        metrics.CIRCUIT_BREAKER_STATE.labels(service="redis").set(int(sys.argv[2]))
        metrics.ACTIVE_SESSIONS.set(int(sys.argv[1]) * 10)
        print("ready", flush=True)
        sys.stdin.readline()  # stay alive until told to exit
        """
    )

    def start(count: str, breaker: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", worker, count, breaker],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        return process

    def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = subprocess.run(
            [
                sys.executable,
                "-c",
                "from kato.observability import render_metrics as r;"
                "import sys; sys.stdout.write(r()[0].decode())",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    first, second = start("2", "0"), start("5", "1")
    try:
        samples = scrape()
        key = (
            "kato_requests_total",
            (("endpoint", "/health"), ("method", "GET"), ("status", "200")),
        )
        assert samples[key] == 7.0
        assert samples[("kato_database_connections", (("database", "redis"),))] == 60.0
        breakers = {
            dict(labels)["pid"]: value
            for (name, labels), value in samples.items()
            if name == "kato_circuit_breaker_state"
        }
        assert breakers == {str(first.pid): 0.0, str(second.pid): 1.0}
        assert samples[("kato_active_sessions", ())] == 50.0  # the most recent write wins

        second.communicate("exit\n")  # a worker dies (and would be replaced)
        samples = scrape()
        assert samples[key] == 7.0  # its counts stay in the totals
        assert samples[("kato_database_connections", (("database", "redis"),))] == 30.0
        live_pids = {
            dict(labels)["pid"]
            for (name, labels), _ in samples.items()
            if name == "kato_circuit_breaker_state"
        }
        assert live_pids == {str(first.pid)}
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.communicate("exit\n")


def test_prepare_multiprocess_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first so that monkeypatch restores the variable (absent) after the test.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert prepare_multiprocess_dir(1) is None
    created = prepare_multiprocess_dir(3)
    assert created is not None and Path(created).is_dir()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == created
    Path(created).rmdir()

    chosen = tmp_path / "metrics"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(chosen))
    assert prepare_multiprocess_dir(2) == str(chosen)
    assert not list(chosen.iterdir())


# -- tracing ---------------------------------------------------------------------------------


def test_tracing_is_off_by_default() -> None:
    assert setup_tracing(FastAPI(), MonitoringSettings()) is None


async def test_tracing_exports_request_and_redis_spans() -> None:
    exporter = InMemorySpanExporter()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        client = redis.asyncio.Redis(
            port=1, socket_connect_timeout=0.2, retry=async_redis_driver_retry()
        )
        with contextlib.suppress(redis.exceptions.ConnectionError):
            await client.get(item_id)  # refused: the span is recorded all the same
        await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
        return {"trace_id": current_trace_id() or ""}

    add_pipeline(app, metrics=False)
    provider = setup_tracing(app, MonitoringSettings(tracing_enabled=True), exporter=exporter)
    assert provider is not None
    try:
        async with client_for(app) as client:
            traced = await client.get("/items/42", headers={"traceparent": TRACEPARENT})
            untraced = await client.get("/items/43")
            await client.get("/health/live")
        provider.force_flush()
    finally:
        shutdown_tracing(app, provider)
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.name == "GET /items/{item_id}"]
    assert len(servers) == 2
    assert format(servers[0].context.trace_id, "032x") == TRACE
    assert traced.json()["trace_id"] == TRACE
    # Without incoming ids, logs and error bodies use the span's trace id.
    assert untraced.json()["trace_id"] == format(servers[1].context.trace_id, "032x")
    # And the span carries KATO's trace id (one lookup of the span serves both).
    assert [s.attributes and s.attributes.get("kato.trace_id") for s in servers] == [
        TRACE,
        untraced.json()["trace_id"],
    ]
    redis_spans = [s for s in spans if s.attributes and s.attributes.get("db.system") == "redis"]
    assert {format(s.context.trace_id, "032x") for s in redis_spans} >= {TRACE}
    assert not [s for s in spans if "/health" in s.name]
