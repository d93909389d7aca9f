"""Real servers for tests: a ``redis-server`` process on a free loopback port, and the
start-up helpers every test that runs a server process uses.

Nothing is installed here; a missing binary fails with the package to install.

A server's output goes to a log file, never to a pipe: a pipe nobody reads fills up and
blocks the server, and reading one blocks the test while the server runs. Start-up waits
with a budget (``startup_budget``) and, when the server exits or the budget runs out, kills
it and fails with its log.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import httpx

REDIS_PACKAGE_HINT = "install the Debian package `redis-server` (apt-get install redis-server)"
# Seconds a server may take to become ready. Generous: on a busy 2-core machine importing
# and starting the service has taken over 20 s.
STARTUP_BUDGET_VARIABLE = "KATO_TEST_STARTUP_SECONDS"
DEFAULT_STARTUP_BUDGET = 90.0
LOG_TAIL_CHARACTERS = 4000


class ServerStartError(RuntimeError):
    """A server exited, or was not ready within its budget; the message holds its log."""


def startup_budget() -> float:
    return float(os.environ.get(STARTUP_BUDGET_VARIABLE, DEFAULT_STARTUP_BUDGET))


def spawn_logged(
    command: list[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout and stderr appended to ``log_path``.

    Unbuffered Python output, so the log is complete even when the process is killed.
    """
    environment = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            env=environment,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def log_tail(log_path: Path, characters: int = LOG_TAIL_CHARACTERS) -> str:
    if not log_path.exists():
        return "(no log)"
    return log_path.read_text(errors="replace")[-characters:] or "(empty log)"


def wait_until_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    log_path: Path,
    what: str,
    budget: float | None = None,
) -> None:
    """Poll ``ready`` (which must itself be bounded, e.g. a request with a timeout) until it
    is true. If the process exits or ``budget`` seconds pass first, kill the process and raise
    ``ServerStartError`` with the log."""
    budget = startup_budget() if budget is None else budget
    deadline = time.monotonic() + budget
    while True:
        status = process.poll()
        if status is not None:
            problem = f"{what} exited with status {status} before it was ready"
            break
        if ready():
            return
        if time.monotonic() >= deadline:
            problem = f"{what} was not ready within {budget:g} s"
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
    process.wait()
    raise ServerStartError(
        f"{problem} ({STARTUP_BUDGET_VARIABLE} sets the budget); its log:\n{log_tail(log_path)}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without KATO/store settings, plus ``extra``."""
    prefixes = ("KATO_", "REDIS_", "MONGO", "QDRANT_", "OTEL_")
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**kept, **extra}


@contextmanager
def kato_serving(data_dir: Path, *options: str, **env: str) -> Iterator[str]:
    """``kato serve`` on a free port until ``/health`` answers (its base URL); its output goes
    to a log file beside the data directory; stopped with SIGTERM."""
    with kato_process(data_dir, *options, **env) as (base, _):
        yield base


@contextmanager
def kato_process(
    data_dir: Path, *options: str, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``kato_serving`` that also gives the process (benchmarks read its CPU and memory)."""
    port = free_port()
    log_path = data_dir.parent / f"serve-{port}.log"
    command = [sys.executable, "-m", "kato.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), *options]
    process = spawn_logged(command, log_path, env=clean_environment(**env))
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until_ready(process, healthy, log_path, "kato serve")
    try:
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServer:
    """One ``redis-server``; no persistence unless ``appendonly`` asks for an AOF.

    ``kill`` (SIGKILL), ``pause`` (SIGSTOP) and ``resume`` (SIGCONT) simulate failures;
    ``restart`` starts again on the same port and directory, so an AOF is replayed.
    """

    def __init__(
        self,
        appendonly: bool = False,
        appendfsync: Literal["always", "everysec", "no"] = "everysec",
        port: int | None = None,
        startup_timeout: float | None = None,  # default: startup_budget()
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(f"redis-server is not on PATH: {REDIS_PACKAGE_HINT}")
        self.binary = binary
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._workdir = tempfile.TemporaryDirectory(prefix="kato-redis-")
        self.directory = Path(self._workdir.name)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("redis-server is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        if self.running:
            return self
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
        ]  # fmt: skip
        self._process = spawn_logged(args, self.log_path)  # Redis logs to stdout
        self._wait_until_ready()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful shutdown (SIGTERM): Redis flushes its AOF before exiting."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # a paused server cannot exit
            self._process.terminate()
            self._process.wait(timeout)
        self._process = None

    def kill(self) -> None:
        """Crash (SIGKILL): whatever was not yet fsynced is lost."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def close(self) -> None:
        self.kill()
        self._workdir.cleanup()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        budget = self.startup_timeout
        wait_until_ready(self._process, self._answers_ping, self.log_path, "redis-server", budget)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                # "-LOADING" while an AOF is replayed: not ready yet.
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False
