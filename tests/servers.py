"""Real servers for tests: a ``redis-server`` process on a free loopback port.

Nothing is installed here; a missing binary fails with the package to install.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

REDIS_PACKAGE_HINT = "install the Debian package `redis-server` (apt-get install redis-server)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
        startup_timeout: float = 10.0,
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
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
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
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start:\n{self._log_tail()}")
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer within {self.startup_timeout} s")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                # "-LOADING" while an AOF is replayed: not ready yet.
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
