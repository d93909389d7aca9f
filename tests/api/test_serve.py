"""``kato serve`` as a real process over loopback HTTP: start-up validation, restart
durability of the knowledge base, trace ids on the wire."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from kato.core.hashing import pattern_hash
from tests.servers import free_port, spawn_logged, wait_until_ready

pytestmark = pytest.mark.slow
AB = "PTRN|" + pattern_hash([["a"], ["b"]])
KATO = [sys.executable, "-m", "kato.cli"]


def _environment(**extra: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("KATO_", "REDIS_", "MONGO"))}
    return {**kept, **extra}


@contextmanager
def serving(data_dir: Path, *options: str, **env: str) -> Iterator[str]:
    """``kato serve`` on a free port until ``/health`` answers; its output goes to a log file
    beside the data directory."""
    port = free_port()
    log_path = data_dir.parent / f"serve-{port}.log"
    command = [*KATO, "serve", "--port", str(port), "--data-dir", str(data_dir), *options]
    process = spawn_logged(command, log_path, env=_environment(**env))
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until_ready(process, healthy, log_path, "kato serve")
    try:
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_knowledge_base_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serving(data_dir) as base, httpx.Client(base_url=base) as client:
        session_id = client.post("/v2/sessions", json={"node_id": "durable"}).json()["session_id"]
        for symbol in ("a", "b"):
            client.post(f"/v2/sessions/{session_id}/observe", json={"strings": [symbol]})
        assert client.post(f"/v2/sessions/{session_id}/learn").json()["pattern_name"] == AB
        traced = client.get("/health", headers={"X-Trace-ID": "wire-trace"})
        assert traced.headers["X-Trace-ID"] == "wire-trace"
    assert (data_dir / "kato.sqlite3").exists()
    with serving(data_dir) as base, httpx.Client(base_url=base) as client:
        session_id = client.post("/v2/sessions", json={"node_id": "durable"}).json()["session_id"]
        for symbol in ("a", "b"):
            client.post(f"/v2/sessions/{session_id}/observe", json={"strings": [symbol]})
        predictions = client.get(f"/v2/sessions/{session_id}/predictions").json()["predictions"]
        assert [p["name"] for p in predictions] == [AB.removeprefix("PTRN|")]


def test_invalid_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "kato.yaml"
    config.write_text("session:\n  max_stm_size: -5\n", encoding="utf-8")
    result = subprocess.run(
        [*KATO, "serve", "--config", str(config), "--data-dir", str(tmp_path)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "session.max_stm_size" in result.stderr and "Traceback" not in result.stderr
    bad_env = subprocess.run(
        [*KATO, "serve"], env=_environment(RECALL_THRESHOLD="2"), capture_output=True, text=True
    )
    assert bad_env.returncode == 2 and "genes.recall_threshold" in bad_env.stderr


def test_several_workers_need_a_shared_session_store(tmp_path: Path) -> None:
    environment = _environment(KATO_DATABASE__QDRANT__LOCAL_STORE="sqlite")
    result = subprocess.run(
        [*KATO, "serve", "--workers", "2", "--data-dir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "REDIS_URL" in result.stderr
