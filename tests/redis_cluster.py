"""A real Redis Cluster for tests: 3 primaries and 3 replicas, ``redis-server`` processes on
free loopback ports, joined with ``redis-cli --cluster create ... --cluster-replicas 1``.

Each node logs to a file in its own directory; start-up waits (budgeted) for every node to
report ``cluster_state:ok`` and fails with the logs otherwise. ``kill_primary`` crashes the
primary serving a slot (SIGKILL) and ``wait_for_failover`` waits until one of its replicas
has taken its slots over.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import (
    REDIS_PACKAGE_HINT,
    ServerStartError,
    free_port,
    log_tail,
    spawn_logged,
    startup_budget,
    wait_until_ready,
)

CLUSTER_BUS_OFFSET = 10000  # Redis Cluster's node-to-node port is the client port + 10000
NODE_TIMEOUT_MS = 1000  # how long a primary may be silent before its replica takes over


def _free_cluster_port() -> int:
    """A free port whose cluster-bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port + CLUSTER_BUS_OFFSET > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + CLUSTER_BUS_OFFSET))
            except OSError:
                continue
        return port


def _command(port: int, *args: str, timeout: float = 2.0) -> str:
    """One redis-cli command against a node; its output ('' when it does not answer)."""
    try:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout


class ClusterNode:
    def __init__(self, directory: Path) -> None:
        self.port = _free_cluster_port()
        self.directory = directory / str(self.port)
        self.directory.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, binary: str) -> None:
        args = [
            binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--save", "",
            "--appendonly", "no",
            # Replicas sync at once (the default waits 5 s for more replicas to join a sync).
            "--repl-diskless-sync-delay", "0",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = spawn_logged(args, self.log_path)
        wait_until_ready(self.process, self.answers_ping, self.log_path, f"redis {self.port}")

    def answers_ping(self) -> bool:
        return _command(self.port, "PING", timeout=0.5).strip() == "PONG"

    def info(self, *args: str) -> str:
        return _command(self.port, *args)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class RedisCluster:
    """``with RedisCluster() as cluster: cluster.url`` — a seed node's URL."""

    def __init__(self, primaries: int = 3, replicas_per_primary: int = 1) -> None:
        binary = shutil.which("redis-server")
        if binary is None or shutil.which("redis-cli") is None:
            raise RuntimeError(f"redis-server/redis-cli are not on PATH: {REDIS_PACKAGE_HINT}")
        self.binary = binary
        self.replicas_per_primary = replicas_per_primary
        self._workdir = tempfile.TemporaryDirectory(prefix="kato-redis-cluster-")
        self.directory = Path(self._workdir.name)
        self.nodes = [
            ClusterNode(self.directory) for _ in range(primaries * (1 + replicas_per_primary))
        ]

    @property
    def url(self) -> str:
        return f"redis://{self.nodes[0].address}/0"

    def start(self) -> RedisCluster:
        try:
            for node in self.nodes:
                node.start(self.binary)
            self._create()
            self.wait_until_ok()
            self.wait_until_replicated()
        except BaseException:
            self.close()
            raise
        return self

    def _create(self) -> None:
        command = ["redis-cli", "--cluster", "create", *(node.address for node in self.nodes)]
        command += ["--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=startup_budget(), check=False
        )
        if done.returncode != 0:
            raise ServerStartError(
                f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}\n" + self.logs()
            )

    def wait_until_ok(self, budget: float | None = None) -> None:
        """Until every running node reports ``cluster_state:ok`` and agrees on the slots."""
        budget = startup_budget() if budget is None else budget
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            running = [node for node in self.nodes if node.running]
            if all("cluster_state:ok" in node.info("CLUSTER", "INFO") for node in running):
                return
            time.sleep(0.1)
        raise ServerStartError(f"the cluster was not ok within {budget:g} s\n{self.logs()}")

    def wait_until_replicated(self, budget: float | None = None) -> None:
        """Until every replica's link to its primary is up: a replica that has not synced
        yet cannot be promoted, so a failover test killing a primary before that would
        wait for a failover that never comes."""
        budget = startup_budget() if budget is None else budget
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            replicas = [
                info
                for info in (node.info("INFO", "replication") for node in self.nodes)
                if "role:slave" in info
            ]
            if len(replicas) == len(self.nodes) - len(self.primaries()) and all(
                "master_link_status:up" in info for info in replicas
            ):
                return
            time.sleep(0.1)
        raise ServerStartError(f"the replicas did not sync within {budget:g} s\n{self.logs()}")

    def primaries(self) -> list[ClusterNode]:
        """Running nodes that serve slots as primaries (as the cluster now sees it)."""
        roles = {node.port: node for node in self.nodes if node.running}
        seen = "".join(node.info("CLUSTER", "NODES") for node in roles.values())
        ports = set()
        for line in seen.splitlines():
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2] and len(fields) > 8:
                ports.add(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return [roles[port] for port in sorted(ports) if port in roles]

    def primary_of_slot(self, slot: int) -> ClusterNode:
        for node in self.primaries():
            for line in node.info("CLUSTER", "NODES").splitlines():
                fields = line.split()
                if "myself" in fields[2] and "master" in fields[2]:
                    for span in fields[8:]:
                        start, _, end = span.partition("-")
                        if int(start) <= slot <= int(end or start):
                            return node
        raise AssertionError(f"no primary serves slot {slot}")

    def wait_for_failover(self, dead: ClusterNode, slot: int, budget: float = 30.0) -> float:
        """Seconds until a live node is primary of ``slot`` (which ``dead`` served) and every
        live node reports the cluster ok again."""
        started = time.monotonic()
        deadline = started + budget
        while time.monotonic() < deadline:
            running = [node for node in self.nodes if node.running]
            states = [node.info("CLUSTER", "INFO") for node in running]
            if all("cluster_state:ok" in state for state in states):
                try:
                    if self.primary_of_slot(slot) is not dead:
                        return time.monotonic() - started
                except AssertionError:
                    pass  # nobody serves it yet
            time.sleep(0.05)
        raise AssertionError(f"no failover of {dead.address} within {budget} s\n{self.logs()}")

    def flush(self) -> None:
        """Empty every primary (their replicas follow)."""
        for node in self.primaries():
            node.info("FLUSHALL")

    def logs(self) -> str:
        return "\n".join(
            f"--- node {node.port} ---\n{log_tail(node.log_path, 1500)}" for node in self.nodes
        )

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        self._workdir.cleanup()

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One cluster for the test session (tests that kill nodes start their own)."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """The shared cluster's seed URL, every primary empty at the start of the test."""
    redis_cluster.flush()
    return redis_cluster.url
