"""``kato serve`` as a real process over loopback HTTP: start-up validation, restart
durability of the knowledge base, trace ids on the wire, the spec's production configuration,
owner-only data files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from kato.core.hashing import pattern_hash
from tests.servers import clean_environment, free_port, kato_serving
from tests.spec_examples import production_yaml

pytestmark = pytest.mark.slow
AB = "PTRN|" + pattern_hash([["a"], ["b"]])
KATO = [sys.executable, "-m", "kato.cli"]


def test_knowledge_base_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with kato_serving(data_dir) as base, httpx.Client(base_url=base) as client:
        session_id = client.post("/v2/sessions", json={"node_id": "durable"}).json()["session_id"]
        for symbol in ("a", "b"):
            client.post(f"/v2/sessions/{session_id}/observe", json={"strings": [symbol]})
        assert client.post(f"/v2/sessions/{session_id}/learn").json()["pattern_name"] == AB
        traced = client.get("/health", headers={"X-Trace-ID": "wire-trace"})
        assert traced.headers["X-Trace-ID"] == "wire-trace"
    assert (data_dir / "kato.sqlite3").exists()
    with kato_serving(data_dir) as base, httpx.Client(base_url=base) as client:
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
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "session.max_stm_size" in result.stderr and "Traceback" not in result.stderr
    bad_env = subprocess.run(
        [*KATO, "serve"],
        env=clean_environment(RECALL_THRESHOLD="2"),
        capture_output=True,
        text=True,
    )
    assert bad_env.returncode == 2 and "genes.recall_threshold" in bad_env.stderr


def test_several_workers_need_a_shared_session_store(tmp_path: Path) -> None:
    environment = clean_environment(KATO_DATABASE__QDRANT__LOCAL_STORE="sqlite")
    result = subprocess.run(
        [*KATO, "serve", "--workers", "2", "--data-dir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "REDIS_URL" in result.stderr


def _serve_refused(*options: str, cwd: Path | None = None, **env: str) -> str:
    """Run a ``kato serve`` expected to refuse its configuration; its stderr."""
    result = subprocess.run(
        [*KATO, "serve", "--port", str(free_port()), *options],
        env=clean_environment(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one readable message
    return result.stderr


def test_the_specs_production_config_without_redis_url_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "production.yaml"
    config.write_text(production_yaml(), encoding="utf-8")
    message = _serve_refused("--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert "session.store_type" in message and "REDIS_URL" in message


@contextmanager
def otlp_collector() -> Iterator[tuple[str, list[str]]]:
    """A stand-in OTLP/HTTP collector on loopback: yields its endpoint and the paths posted."""
    posted: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server interface)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posted.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", posted
    finally:
        server.shutdown()
        server.server_close()


def test_the_specs_production_config_serves_and_exports_traces(
    tmp_path: Path, redis_url: str
) -> None:
    config = tmp_path / "production.yaml"
    config.write_text(production_yaml(), encoding="utf-8")  # tracing_enabled: true
    with otlp_collector() as (endpoint, posted):
        environment = {
            "REDIS_URL": redis_url,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "KATO_SERVICE__SHUTDOWN_DRAIN_SECONDS": "0",
        }
        with kato_serving(tmp_path / "data", "--config", str(config), **environment) as base:
            created = httpx.post(f"{base}/v2/sessions", json={"node_id": "traced"}, timeout=10)
            assert created.status_code < 300
        # Shutdown flushes the pending spans to the collector.
        assert "/v1/traces" in posted


def test_an_empty_data_dir_is_refused(tmp_path: Path) -> None:
    message = _serve_refused("--data-dir", "", cwd=tmp_path)
    assert "service.data_dir" in message and "--data-dir" in message
    message = _serve_refused(cwd=tmp_path, KATO_DATA_DIR="")
    assert "service.data_dir" in message and "KATO_DATA_DIR" in message
    assert list(tmp_path.iterdir()) == []  # nothing was created in the current directory


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KATO_SECURITY__AUTH_MODE": "jwt"}, "security.jwt_secret"),
        (
            {"KATO_SECURITY__RATE_LIMIT_ENABLED": "true", "KATO_SECURITY__RATE_LIMIT_GLOBAL": "x"},
            "rate limit string 'x'",
        ),
        ({"REDIS_URL": "cache:6379"}, "database.redis.url"),
        ({"KATO_SESSION__ENCRYPTION_KEYS": "[typo]"}, "session.encryption_keys"),
        ({"KATO_DATA_DIR": "{file}/sub"}, "service.data_dir"),
    ],
)
def test_problems_found_while_wiring_the_service_exit_2(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory", encoding="utf-8")
    env = {"KATO_DATA_DIR": str(tmp_path / "data"), **env}
    env = {key: value.replace("{file}", str(a_file)) for key, value in env.items()}
    assert named in _serve_refused(**env)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_data_directory_and_its_files_are_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    previous = os.umask(0o022)  # a permissive umask, as on most hosts
    try:
        keys_dir = tmp_path / "keys-first"
        subprocess.run(
            [*KATO, "keys", "create", "--name", "etl", "--role", "writer"],
            env=clean_environment(KATO_DATA_DIR=str(keys_dir)),
            capture_output=True,
            timeout=60,
            check=True,
        )
        with kato_serving(data_dir) as base, httpx.Client(base_url=base) as client:
            session_id = client.post("/v2/sessions", json={"node_id": "private"}).json()
            observe = f"/v2/sessions/{session_id['session_id']}/observe"
            client.post(observe, json={"strings": ["a"], "vectors": [[0.1, 0.2]]})
            client.post(observe, json={"strings": ["b"]})
            client.post(f"/v2/sessions/{session_id['session_id']}/learn")
            sqlite_files = [data_dir / f"kato.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
            modes = {path.name: _mode(path) for path in sqlite_files}
    finally:
        os.umask(previous)
    assert _mode(keys_dir) == 0o700 and _mode(keys_dir / "api_keys.json") == 0o600
    assert _mode(data_dir) == 0o700
    assert modes == {path.name: 0o600 for path in sqlite_files}
    qdrant = data_dir / "qdrant"
    assert _mode(qdrant) == 0o700
    for path in qdrant.rglob("*"):
        assert _mode(path) & 0o077 == 0, f"{path} is open to others: {oct(_mode(path))}"
