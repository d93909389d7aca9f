"""Graceful degradation when a storage dependency is down (requirement 4).

The dependency is seen through the real driver (no MongoDB or Qdrant server runs here) at a
loopback address that is either a closed port (connections refused: a dead server) or a
blackholing TCP proxy (connections accepted, nothing ever answered: a network partition, where
only the drivers' timeouts end a call). Only the operations that need the dead dependency
answer 503; everything else answers 200, and once the breaker is open the failing ones are
refused at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import ClientFactory, assert_error, new_session, observe
from tests.integration.tcp_proxy import TcpProxy
from tests.servers import free_port

BREAKER = {"circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 30}}
OUTAGE_CODES = {"KATO_DATABASE_ERROR", "KATO_CIRCUIT_OPEN"}


@pytest.fixture(params=["refused", "partitioned"])
def dead_port(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback port where the dependency should be, dead in one of two ways."""
    if request.param == "refused":
        yield free_port()
        return
    with TcpProxy(free_port()) as proxy:
        proxy.blackhole()
        yield proxy.port


async def breaker_state(client: httpx.AsyncClient, service: str) -> float:
    text = (await client.get("/metrics")).text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kato_circuit_breaker_state" and sample.labels["service"] == service
    )


async def outage_answers(response: httpx.Response, service: str) -> str:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] in OUTAGE_CODES and error["details"]["service"] == service
    code: str = error["code"]
    return code


async def test_qdrant_down_fails_only_vector_bearing_observations(
    start: ClientFactory, dead_port: int
) -> None:
    qdrant = {"url": f"http://127.0.0.1:{dead_port}", "timeout": 1.0}
    async with start(database={"qdrant": qdrant}, resilience=BREAKER) as client:
        session_id = await new_session(client)
        await observe(client, session_id, "a")
        codes, latencies = [], []
        for _ in range(3):
            started = time.perf_counter()
            response = await client.post(
                f"/v2/sessions/{session_id}/observe", json={"strings": ["v"], "vectors": [[1.0]]}
            )
            latencies.append(time.perf_counter() - started)
            codes.append(await outage_answers(response, "qdrant"))
        print(
            f"vector observes, Qdrant down: 503 after {', '.join(f'{t:.3f}' for t in latencies)} s"
        )
        # The upsert is retried (idempotent) until the breaker opens at its second failure.
        assert codes == ["KATO_CIRCUIT_OPEN"] * 3
        # Strings, learning and predictions use the knowledge base only (SQLite here).
        await observe(client, session_id, "b")
        stm = (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"]
        assert stm == [["a"], ["b"]]  # the failed vector observations left no trace
        learned = await client.post(f"/v2/sessions/{session_id}/learn")
        assert learned.status_code == 200, learned.text
        await observe(client, session_id, "a")
        await observe(client, session_id, "b")
        predictions = await client.get(f"/v2/sessions/{session_id}/predictions")
        assert predictions.status_code == 200 and len(predictions.json()["predictions"]) == 1

        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["dependencies"]["qdrant"]["status"] == "down"
        assert await breaker_state(client, "qdrant") == 1.0
        assert await breaker_state(client, "mongodb") == 0.0


async def test_mongodb_down_keeps_sessions_and_stm_and_refuses_learning_fast(
    start: ClientFactory, dead_port: int
) -> None:
    mongodb = {"url": f"mongodb://127.0.0.1:{dead_port}/", "server_selection_timeout_ms": 1000}
    async with start(database={"mongodb": mongodb}, resilience=BREAKER) as client:
        session_id = await new_session(client)
        await observe(client, session_id, "a")
        await observe(client, session_id, "b")
        session = await client.get(f"/v2/sessions/{session_id}")
        assert session.status_code == 200 and session.json()["node_id"] == "alice"

        started = time.perf_counter()
        first = await client.post(f"/v2/sessions/{session_id}/learn")
        print(f"first learn, MongoDB down: 503 after {time.perf_counter() - started:.3f} s")
        assert await outage_answers(first, "mongodb") == "KATO_DATABASE_ERROR"
        await outage_answers(await client.get(f"/v2/sessions/{session_id}/predictions"), "mongodb")
        started = time.perf_counter()
        refused = await client.post(f"/v2/sessions/{session_id}/learn")
        refused_after = time.perf_counter() - started
        assert_error(refused, 503, "KATO_CIRCUIT_OPEN")
        assert refused_after < 0.5  # no 1 s server selection: the open breaker answers
        print(f"learn refused {refused_after * 1000:.1f} ms after MongoDB's breaker opened")

        # Session reads and KB-free writes still answer; the failed learns changed nothing.
        stm = await client.get(f"/v2/sessions/{session_id}/stm")
        assert stm.status_code == 200 and stm.json()["stm"] == [["a"], ["b"]]
        await observe(client, session_id, "c")
        other = await new_session(client, "bob")
        await observe(client, other, "x")

        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["dependencies"]["mongodb"]["status"] == "down"
        assert (await client.get("/health/live")).status_code == 200
        assert await breaker_state(client, "mongodb") == 1.0
