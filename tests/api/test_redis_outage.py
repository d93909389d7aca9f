"""A real redis-server killed and restarted under the app: 503s with the right codes (never
500), probes and metrics still answer, service resumes by itself within the recovery timeout,
and with an ``appendfsync always`` AOF no acknowledged observation is lost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from kato.api.app import create_app
from tests.api.conftest import make_settings, new_session, observe, running
from tests.servers import RedisServer

RECOVERY_TIMEOUT = 0.5


@pytest.mark.slow
async def test_redis_killed_and_restarted(tmp_path: Path) -> None:
    with RedisServer(appendonly=True, appendfsync="always") as redis_server:
        settings = make_settings(
            tmp_path,
            session={"store_type": "redis"},
            database={"redis": {"url": redis_server.url, "socket_timeout": 1.0}},
            resilience={
                "circuit_breaker": {
                    "failure_threshold": 2,
                    "recovery_timeout": RECOVERY_TIMEOUT,
                },
                "dependency_timeout": 2.0,
            },
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
                session_id = await new_session(client, "alice")
                await observe(client, session_id, "acked")
                assert (await client.get("/health/ready")).status_code == 200

                redis_server.kill()
                codes = []
                for _ in range(4):
                    response = await client.post(
                        f"/v2/sessions/{session_id}/observe", json={"strings": ["lost"]}
                    )
                    assert response.status_code == 503, response.text
                    assert int(response.headers["retry-after"]) >= 1
                    codes.append(response.json()["error"]["code"])
                # The first request's idempotent session read is retried until the breaker
                # opens (threshold 2), so it may already answer KATO_CIRCUIT_OPEN.
                assert codes[-1] == "KATO_CIRCUIT_OPEN"
                assert set(codes) <= {"KATO_DATABASE_ERROR", "KATO_CIRCUIT_OPEN"}

                ready = await client.get("/health/ready")
                assert ready.status_code == 503
                assert ready.json()["dependencies"]["redis"]["status"] == "down"
                assert (await client.get("/health/live")).status_code == 200
                metrics = await client.get("/metrics")
                assert metrics.status_code == 200
                assert 'kato_circuit_breaker_state{service="redis"} 1.0' in metrics.text

                redis_server.start()  # same port and directory: the AOF is replayed
                restarted = time.monotonic()
                while True:
                    response = await client.get(f"/v2/sessions/{session_id}/stm")
                    if response.status_code == 200:
                        break
                    assert response.status_code == 503, response.text
                    assert time.monotonic() - restarted < 10 * RECOVERY_TIMEOUT
                    await asyncio.sleep(0.05)
                recovered_after = time.monotonic() - restarted
                print(f"service resumed {recovered_after:.3f} s after redis-server restarted")
                assert recovered_after <= RECOVERY_TIMEOUT + 1.0
                assert response.json()["stm"] == [["acked"]]
                await observe(client, session_id, "after")
                assert (await client.get("/health/ready")).status_code == 200


@pytest.mark.slow
async def test_the_half_open_trial_never_waits_on_a_session_lock(tmp_path: Path) -> None:
    """A request that waits on a locked session must not be the breaker's half-open trial:
    while it waits, the other sessions are served, not refused KATO_CIRCUIT_OPEN (issue 9
    req 3). The trial is a PING."""
    with RedisServer(appendonly=True, appendfsync="always") as redis_server:
        settings = make_settings(
            tmp_path,
            session={"store_type": "redis", "lock_acquire_timeout_seconds": 10},
            database={"redis": {"url": redis_server.url, "socket_timeout": 1.0}},
            resilience={
                "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": RECOVERY_TIMEOUT},
                "dependency_timeout": 2.0,
            },
        )
        async with running(settings) as client:
            locked, free = await new_session(client, "alice"), await new_session(client, "bob")
            redis_server.kill()
            response = await client.post(f"/v2/sessions/{free}/observe", json={"strings": ["x"]})
            assert response.status_code == 503, response.text  # the breaker opens
            redis_server.start()  # same port and directory: the AOF is replayed
            raw = Redis.from_url(redis_server.url)
            try:
                # A lock no live request holds, as a holder that lost Redis leaves it.
                await raw.set(f"kato:session-lock:{locked}", "lost-holder", px=10_000)
                await asyncio.sleep(RECOVERY_TIMEOUT + 0.2)  # the breaker is half-open
                waiting = asyncio.create_task(
                    client.post(f"/v2/sessions/{locked}/observe", json={"strings": ["w"]})
                )
                await asyncio.sleep(0.3)  # the waiting request came first
                started = time.monotonic()
                response = await client.post(
                    f"/v2/sessions/{free}/observe", json={"strings": ["y"]}
                )
                served_after = time.monotonic() - started
                print(f"\nanother session served in {served_after:.3f} s while one waits")
                assert response.status_code == 200, response.text
                assert not waiting.done()  # still waiting for the lock
                await raw.delete(f"kato:session-lock:{locked}")
                assert (await waiting).status_code == 200
            finally:
                await raw.aclose()
