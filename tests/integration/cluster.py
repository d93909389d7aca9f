"""Real multi-instance topology for tests: N ``kato serve`` processes behind one nginx.

Every instance is a separate ``python -m kato.cli serve`` process on its own free loopback
port, sharing one Redis or one Redis Cluster (sessions) and one data directory (the SQLite
knowledge base, with vectors in the same file so several processes may open it). nginx runs
in a temporary directory with a generated configuration whose ``server`` block includes the
shipped ``deploy/nginx-kato-locations.conf``, so the tests exercise the production retry
rules.
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
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.servers import free_port, log_tail, spawn_logged, wait_until_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
PROXY_RULES = REPO_ROOT / "deploy" / "nginx-kato-locations.conf"
NGINX_PACKAGE_HINT = "install the Debian package `nginx` (apt-get install nginx)"


class KatoInstance:
    """One ``kato serve`` process; ``start`` returns once ``/health/ready`` answers 200."""

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"instance {self.name} is not running")
        return self._process.pid

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has ended."""
        assert self._process is not None
        return self._process.wait(timeout)

    def spawn(self, *extra_args: str) -> subprocess.Popen[bytes]:
        """Start the process without waiting (tests of refused start-ups use this)."""
        command = [sys.executable, "-m", "kato.cli", "serve", "--port", str(self.port)]
        self._process = spawn_logged(
            [*command, *extra_args], self.log_path, env={**os.environ, **self.env}, cwd=REPO_ROOT
        )
        return self._process

    def start(self, timeout: float | None = None) -> KatoInstance:
        self.spawn()
        return self.wait_ready(timeout)

    def wait_ready(self, timeout: float | None = None) -> KatoInstance:
        """Until ``/health/ready`` answers 200; ``timeout`` defaults to ``startup_budget()``."""
        assert self._process is not None
        wait_until_ready(self._process, self.ready, self.log_path, f"instance {self.name}", timeout)
        return self

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the drain and the graceful shutdown; the exit status."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        status = self._process.wait(timeout)
        self._process = None
        return status

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def log_tail(self) -> str:
        return log_tail(self.log_path)


# How long nginx keeps an idle connection to an instance (the upstream's keepalive_timeout).
UPSTREAM_KEEPALIVE_SECONDS = 4


def nginx_config(
    directory: Path, listen_port: int, upstream_ports: list[int], fail_timeout: float
) -> str:
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout={fail_timeout:g}s;"
        for port in upstream_ports
    )
    return f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$status $request_method $upstream_status';
    access_log {directory}/access.log upstreams;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    upstream kato {{
        zone kato 64k;
{servers}
        keepalive 32;
        keepalive_timeout {UPSTREAM_KEEPALIVE_SECONDS}s;
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        include {PROXY_RULES};
    }}
}}
"""


class Nginx:
    """An nginx master in a temporary directory, proxying to the given instances."""

    def __init__(self, upstream_ports: list[int], fail_timeout: float = 1.0) -> None:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if binary is None:
            raise RuntimeError(f"nginx is not installed: {NGINX_PACKAGE_HINT}")
        self.binary = binary
        self.port = free_port()
        self._workdir = tempfile.TemporaryDirectory(prefix="kato-nginx-")
        self.directory = Path(self._workdir.name)
        self.directory.chmod(0o755)  # workers may run as an unprivileged user
        self.config = self.directory / "nginx.conf"
        self.config.write_text(
            nginx_config(self.directory, self.port, upstream_ports, fail_timeout)
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        command = [self.binary, "-p", str(self.directory), "-c", str(self.config)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected its configuration:\n{check.stderr}")
        self._process = spawn_logged(command, self.directory / "nginx.out")
        wait_until_ready(self._process, self._answers, self.directory / "error.log", "nginx")
        return self

    def _answers(self) -> bool:
        # A TCP connect, not a request: a request would reach (and count against) upstreams.
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def access_log(self) -> list[tuple[int, str, str]]:
        """(status sent to the client, method, statuses of every upstream attempt) per request."""
        log = self.directory / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [(int(s), m, attempts) for s, m, attempts in (ln.split(" ", 2) for ln in lines)]

    def error_log(self) -> str:
        log = self.directory / "error.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)  # fast shutdown
            self._process.wait(10)
        self._process = None
        self._workdir.cleanup()


class Cluster:
    """``size`` instances sharing ``redis_url`` and one data directory, behind nginx.

    ``redis_cluster``: ``redis_url`` is a seed node of a Redis Cluster
    (``database.redis.cluster``; tests/redis_cluster.py starts one).
    """

    def __init__(
        self,
        redis_url: str,
        size: int = 2,
        *,
        redis_cluster: bool = False,
        env: Mapping[str, str] | None = None,
        drain_seconds: float = 1.0,
        grace_seconds: float = 10.0,
        fail_timeout: float = 1.0,
    ) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="kato-cluster-")
        self.directory = Path(self._workdir.name)
        self.data_dir = self.directory / "data"
        self.fail_timeout = fail_timeout
        base_env = {
            "REDIS_URL": redis_url,
            "KATO_DATABASE__REDIS__CLUSTER": "true" if redis_cluster else "false",
            "KATO_DATA_DIR": str(self.data_dir),
            # Several processes on one data directory: vectors in the SQLite file.
            "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite",
            "KATO_SERVICE__SHUTDOWN_DRAIN_SECONDS": str(drain_seconds),
            "KATO_SERVICE__SHUTDOWN_GRACE_SECONDS": str(grace_seconds),
            "LOG_LEVEL": "WARNING",
            # nginx counts any 503 as a failed attempt (max_fails=1): an instance shedding a
            # burst of predictions on a slow machine would drop out of rotation and, during a
            # rolling restart, leave no live upstream. These tests are about restarts, not
            # overload (tests/integration/test_failures.py covers that).
            "KATO_RESILIENCE__MAX_CONCURRENT_PREDICTIONS": "256",
            **(env or {}),
        }
        self.instances = [
            KatoInstance(f"kato-{index + 1}", base_env, self.directory) for index in range(size)
        ]
        self.nginx = Nginx([instance.port for instance in self.instances], fail_timeout)

    @property
    def url(self) -> str:
        return self.nginx.url

    def start(self) -> Cluster:
        try:
            for instance in self.instances:
                instance.spawn()
            for instance in self.instances:
                instance.wait_ready()
            self.nginx.start()
        except Exception:
            self.stop()
            raise
        return self

    def rolling_restart(self) -> list[int]:
        """Restart every instance in turn (SIGTERM, wait, start, wait ready); exit statuses.

        After an instance is ready again, wait nginx's ``fail_timeout`` so nginx has taken
        it back before the next one drains, and its keepalive timeout, so nginx has dropped
        any idle connection to the stopped process (reusing one fails, which takes the
        restarted instance out of rotation again) — both counted from the instance being
        ready: counted from its stop, a slow restart (a loaded machine) left too little of
        the wait, and both instances were out of rotation at once.
        """
        statuses = []
        for instance in self.instances:
            statuses.append(instance.terminate())
            instance.start()
            time.sleep(max(self.fail_timeout, UPSTREAM_KEEPALIVE_SECONDS) + 0.5)
        return statuses

    def stop(self) -> None:
        self.nginx.stop()
        for instance in self.instances:
            instance.kill()
        self._workdir.cleanup()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
