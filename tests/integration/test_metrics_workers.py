"""``kato serve --workers 2`` as real processes: /metrics on any worker reports the whole
instance, and a worker killed with SIGKILL is replaced while the other keeps serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.security_helpers import free_port
from tests.servers import spawn_logged, wait_until_ready

KATO = [sys.executable, "-m", "kato.cli"]
LIVE_COUNT = 'kato_requests_total{endpoint="/health/live",method="GET",status="200"}'


def scrape(base: str) -> tuple[float, set[str]]:
    """(count of /health/live 200s, pids reporting breaker state) from one /metrics call."""
    text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=5).text
    live_requests = 0.0
    pids: set[str] = set()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kato_requests_total" and sample.labels == {
                "endpoint": "/health/live",
                "method": "GET",
                "status": "200",
            }:
                live_requests = sample.value
            if sample.name == "kato_circuit_breaker_state":
                pids.add(sample.labels["pid"])
    return live_requests, pids


def wait_until(condition: object, deadline_seconds: float, what: str) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            if callable(condition) and condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def two_workers(tmp_path: Path, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KATO_", "PROMETHEUS_"))}
    env.update(
        KATO_DATA_DIR=str(tmp_path / "data"),
        KATO_DATABASE__QDRANT__LOCAL_STORE="sqlite",  # shareable by two processes
        REDIS_URL=redis_url,  # several workers need a shared session store
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    server_log = tmp_path / "serve.log"
    command = [*KATO, "serve", "--port", str(port), "--workers", "2"]
    process = spawn_logged(command, server_log, env=env)
    base = f"http://127.0.0.1:{port}"

    def both_workers_up() -> bool:  # both report their breakers
        try:
            return len(scrape(base)[1]) == 2
        except httpx.HTTPError:
            return False

    wait_until_ready(process, both_workers_up, server_log, "kato serve --workers 2")
    try:
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.slow
def test_any_worker_reports_the_whole_instance_and_a_killed_worker_is_replaced(
    two_workers: str,
) -> None:
    base = two_workers
    for _ in range(30):  # a new connection each time, so both workers take requests
        response = httpx.get(f"{base}/health/live", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200
    counts = [scrape(base) for _ in range(6)]
    assert {count for count, _ in counts} == {30.0}  # whichever worker answered
    pids = counts[0][1]
    assert len(pids) == 2

    victim = int(sorted(pids)[0])
    os.kill(victim, signal.SIGKILL)
    # The other worker keeps serving while the supervisor replaces the killed one.
    for _ in range(10):
        response = httpx.get(f"{base}/health/live", headers={"Connection": "close"}, timeout=5)
        assert response.status_code == 200

    def replaced() -> bool:
        _, now = scrape(base)
        return str(victim) not in now and len(now) == 2

    wait_until(replaced, 30, "the killed worker to be replaced")
    count, _ = scrape(base)
    assert count == 40.0  # the killed worker's requests stay counted
