"""SIGTERM begins a drain (refuse new work, not-ready), and only then stops the server."""

from __future__ import annotations

import asyncio
import os
import signal
from types import FrameType

import httpx
import pytest
from fastapi import FastAPI

from kato.api.draining import NOT_PROCESSED_HEADER
from kato.config import DatabaseSettings, RedisSettings, ServiceSettings, Settings
from kato.service.shutdown import Drain, drain_seconds, sigterm_drains
from tests.pipeline_support import add_pipeline


def test_drain_lasts_only_where_a_balancer_may_be_waiting() -> None:
    on_redis = DatabaseSettings(redis=RedisSettings(url="redis://127.0.0.1:6379/0"))
    assert drain_seconds(Settings()) == 0.0  # one process, in-process sessions
    assert drain_seconds(Settings(database=on_redis)) == 5.0
    explicit = ServiceSettings(shutdown_drain_seconds=1.5)
    assert drain_seconds(Settings(service=explicit, database=on_redis)) == 1.5
    assert drain_seconds(Settings(service=ServiceSettings(shutdown_drain_seconds=0))) == 0.0


def test_drain_runs_its_hooks_once_even_if_one_fails() -> None:
    drain = Drain(1.0)
    calls: list[str] = []

    def failing() -> None:
        calls.append("failing")
        raise RuntimeError("hook broke")

    drain.on_begin(failing)
    drain.on_begin(lambda: calls.append("second"))
    drain.begin()
    drain.begin()

    assert drain.draining
    assert calls == ["failing", "second"]


async def test_sigterm_drains_first_and_runs_the_previous_handler_after_the_delay() -> None:
    received: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    def previous(signum: int, frame: FrameType | None) -> None:
        received.append((loop.time(), signum))

    original = signal.signal(signal.SIGTERM, previous)
    try:
        drain = Drain(0.3)
        with sigterm_drains(drain, loop):
            sent = loop.time()
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            assert drain.draining and received == []
            await asyncio.sleep(0.5)
            assert [signum for _, signum in received] == [signal.SIGTERM]
            assert received[0][0] - sent >= 0.3
        assert signal.getsignal(signal.SIGTERM) is previous  # restored on exit
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_a_second_sigterm_stops_without_waiting() -> None:
    received: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        drain = Drain(60.0)
        with sigterm_drains(drain, asyncio.get_running_loop()):
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.05)
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.fixture
def app_and_drain() -> tuple[FastAPI, Drain, list[str]]:
    handled: list[str] = []
    app = FastAPI()

    @app.post("/v2/sessions/s/observe")
    async def observe() -> dict[str, str]:
        handled.append("observe")
        return {"status": "ok"}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    drain = Drain(1.0)
    add_pipeline(app, drain=drain)
    return app, drain, handled


async def test_draining_refuses_new_requests_unprocessed_but_answers_probes(
    app_and_drain: tuple[FastAPI, Drain, list[str]],
) -> None:
    app, drain, handled = app_and_drain
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
        before = await client.post("/v2/sessions/s/observe")
        drain.begin()
        refused = await client.post("/v2/sessions/s/observe")
        probe = await client.get("/health/live")

    assert before.status_code == 200
    assert refused.status_code == 503
    assert refused.headers[NOT_PROCESSED_HEADER] == "true"
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["Connection"] == "close"
    assert refused.json()["error"]["code"] == "KATO_SHUTTING_DOWN"
    assert handled == ["observe"]  # the refused request never reached the route
    assert probe.status_code == 200


async def test_the_in_flight_limit_refusal_also_promises_not_processed() -> None:
    """nginx re-sends a POST only on this header, so every refusal made before the app
    runs must carry it (deploy/nginx-kato-locations.conf)."""
    release = asyncio.Event()
    app = FastAPI()

    @app.post("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"status": "ok"}

    add_pipeline(app, max_in_flight=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
        first = asyncio.create_task(client.post("/slow"))
        await asyncio.sleep(0.05)
        refused = await client.post("/slow")
        release.set()
        assert (await first).status_code == 200

    assert refused.status_code == 503
    assert refused.headers[NOT_PROCESSED_HEADER] == "true"
