"""Node-affinity routing measured (issue 14 req 3, docs/OPERATIONS.md "Node-affinity routing:
measured"): resident memory per instance with and without affinity, and the cost of a node
moving to an instance that has not loaded it.

1. Builds ``--nodes`` knowledge bases of ``--patterns`` patterns each (the engine benchmark's
   generator: 5-10 events of 1-3 symbols over 1,000 symbols, seed 7 + node number) into one
   embedded SQLite data directory, through ``kato learn``'s in-process path
   (``kato.data_targets.EmbeddedTarget``). The directory (``--data-dir``) is kept: a rerun
   of the same size skips the build.
2. **Without affinity**: 2 fresh ``kato serve`` instances on that directory (in-process
   sessions); each answers one predictions request on every node (create a session on the
   node, observe 2 events, ``GET predictions``), so each holds every node's index; VmRSS of
   each process from ``/proc/<pid>/status``.
3. **With affinity**: 2 fresh instances behind nginx running the shipped
   ``deploy/nginx-affinity.conf`` (only its addresses, ports, paths and log format rewritten
   for loopback); every request carries ``X-Kato-Node``, so nginx's consistent hash picks
   the instance; the split is read from nginx's access log (``$upstream_addr``); VmRSS.
4. **Node move**: on the first affinity instance, the same three requests for nodes the hash
   gave to the other instance (cold: the index of ``--patterns`` patterns is built from the
   store) against nodes it already holds (warm); wall time and the instance's CPU time
   (``/proc/<pid>/stat``), medians. Then a third instance joins: nginx with 3 upstreams, a
   probe per node carrying ``X-Kato-Node``, and how many nodes the hash moves.

    .venv/bin/python -m benchmarks.node_affinity_memory --nodes 20 --patterns 2000 \\
        --data-dir /tmp/kato-affinity-20x2000          # smoke size
    .venv/bin/python -m benchmarks.node_affinity_memory --data-dir /tmp/kato-affinity-100x10000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.engine_bench import generate_patterns
from kato.cli_data import tune_gc_for_bulk_work
from kato.data_targets import EmbeddedTarget
from kato.service.settings_loader import load_settings
from tests.servers import clean_environment, free_port, spawn_logged, wait_until_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
AFFINITY_CONFIG = REPO_ROOT / "deploy" / "nginx-affinity.conf"
PROXY_RULES = REPO_ROOT / "deploy" / "nginx-kato-locations.conf"
BATCH = 5_000  # sequences per learn transaction
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def node_id(number: int) -> str:
    return f"affinity-{number:03d}"


def store_env(data_dir: Path) -> dict[str, str]:
    # Several processes on one data directory: vectors in the SQLite file.
    return {"KATO_DATA_DIR": str(data_dir), "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite"}


# -- 1. the knowledge bases --------------------------------------------------------------------


def build(data_dir: Path, nodes: int, patterns: int) -> None:
    marker = data_dir / "affinity-built.json"
    wanted = {"nodes": nodes, "patterns": patterns}
    if marker.exists():
        if json.loads(marker.read_text()) != wanted:
            sys.exit(f"{data_dir} holds another size ({marker.read_text()}); name another dir")
        print(f"knowledge bases already built in {data_dir}: {nodes} x {patterns:,}", flush=True)
        return
    if data_dir.exists() and any(data_dir.iterdir()):
        sys.exit(f"{data_dir} is not empty and was not built by this script; name another dir")
    tune_gc_for_bulk_work()
    settings = load_settings(env=store_env(data_dir))
    started = time.perf_counter()
    for number in range(nodes):
        target = EmbeddedTarget(settings, node_id(number))
        sequences = [{"events": p} for p in generate_patterns(patterns, seed=7 + number)]
        for start in range(0, len(sequences), BATCH):
            target.learn(sequences[start : start + BATCH])
        target.close()
        elapsed = time.perf_counter() - started
        print(f"  built {number + 1}/{nodes} nodes ({elapsed:.0f} s)", flush=True)
    marker.write_text(json.dumps(wanted))


# -- 2. processes: kato serve, nginx -----------------------------------------------------------


class Instance:
    """One ``kato serve`` process on the shared data directory, in-process sessions."""

    def __init__(self, name: str, data_dir: Path, nodes: int, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        env = clean_environment(
            **store_env(data_dir),
            LOG_LEVEL="WARNING",
            # Every node stays cached: the measurement is of holding them, not of evicting.
            KATO_SERVICE__MAX_NODES_CACHED=str(max(100, 2 * nodes)),
        )
        command = [sys.executable, "-m", "kato.cli", "serve", "--port", str(self.port)]
        self.process = spawn_logged(command, self.log_path, env=env, cwd=REPO_ROOT)
        wait_until_ready(self.process, self._ready, self.log_path, f"instance {name}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert kib is not None
        return int(kib.group(1)) / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def affinity_config(directory: Path, listen_port: int, upstream_ports: list[int]) -> str:
    """The shipped configuration with its addresses, paths and logs made local; the map and
    the ``hash ... consistent`` upstream are kept as shipped."""
    text = AFFINITY_CONFIG.read_text()
    servers = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstream_ports
    )
    temp_paths = "".join(
        f"    {kind}_temp_path {directory}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    rewrites = [
        (r"worker_processes auto;", "daemon off;\nworker_processes 1;"),
        (r"error_log /dev/stderr warn;", f"error_log {directory}/error.log warn;"),
        (r"pid /tmp/nginx.pid;", f"pid {directory}/nginx.pid;"),
        (
            r"    access_log /dev/stdout;\n",
            "    log_format affinity '$http_x_kato_node $upstream_addr $status';\n"
            f"    access_log {directory}/access.log affinity;\n{temp_paths}",
        ),
        (r"(        server kato-\d:8000 [^\n]*\n)+", servers + "\n"),
        (r"listen 80;", f"listen 127.0.0.1:{listen_port};"),
        (r"include /etc/nginx/kato-locations.conf;", f"include {PROXY_RULES};"),
    ]
    for pattern, replacement in rewrites:
        # Escaped: the replacements are literal text (paths), never group references.
        text, count = re.subn(pattern, replacement.replace("\\", "\\\\"), text)
        if count != 1:
            raise RuntimeError(f"deploy/nginx-affinity.conf changed: {pattern!r} not found once")
    return text


class Nginx:
    def __init__(self, upstream_ports: list[int], directory: Path) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.directory = directory
        directory.chmod(0o755)  # workers may run as an unprivileged user
        self.port = free_port()
        config = directory / "nginx.conf"
        config.write_text(affinity_config(directory, self.port, upstream_ports))
        command = [binary, "-p", str(directory), "-c", str(config)]
        subprocess.run([*command, "-t"], check=True, capture_output=True)
        self.process = spawn_logged(command, directory / "nginx.out")
        wait_until_ready(self.process, self._answers, directory / "error.log", "nginx")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/live", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def split(self) -> dict[str, set[str]]:
        """Upstream address -> the nodes nginx sent there."""
        placed: dict[str, set[str]] = {}
        for line in (self.directory / "access.log").read_text().splitlines():
            node, upstream, _status = line.split(" ")
            if node != "-":
                placed.setdefault(upstream, set()).add(node)
        return placed

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)


# -- 3. the requests ---------------------------------------------------------------------------


def first_events(number: int) -> list[list[str]]:
    """Two events of the node's first pattern: a context that has predictions."""
    return generate_patterns(1, seed=7 + number)[0][:2]


def predict_on(client: httpx.Client, base: str, number: int) -> int:
    """Create a session on the node, observe 2 events, GET predictions; their count."""
    headers = {"X-Kato-Node": node_id(number)}
    created = client.post(f"{base}/v2/sessions", json={"node_id": node_id(number)}, headers=headers)
    created.raise_for_status()
    session = f"{base}/v2/sessions/{created.json()['session_id']}"
    for event in first_events(number):
        client.post(
            f"{session}/observe", json={"strings": event}, headers=headers
        ).raise_for_status()
    answer = client.get(f"{session}/predictions", headers=headers)
    answer.raise_for_status()
    count = int(answer.json()["count"])
    if count == 0:
        raise RuntimeError(f"node {node_id(number)} answered no predictions")
    return count


def timed_predict(client: httpx.Client, instance: Instance, number: int) -> tuple[float, float]:
    """(wall seconds, instance CPU seconds) of ``predict_on`` straight to ``instance``."""
    cpu, wall = instance.cpu_seconds(), time.perf_counter()
    predict_on(client, instance.url, number)
    return time.perf_counter() - wall, instance.cpu_seconds() - cpu


# -- the run -----------------------------------------------------------------------------------


def without_affinity(data_dir: Path, nodes: int, logs: Path) -> dict[str, float]:
    instances = [Instance(f"plain-{i + 1}", data_dir, nodes, logs) for i in range(2)]
    try:
        idle = {i.name: i.rss_mib() for i in instances}
        with httpx.Client(timeout=300) as client:
            for number in range(nodes):
                for instance in instances:
                    predict_on(client, instance.url, number)
                if (number + 1) % 10 == 0:
                    print(f"  without affinity: {number + 1}/{nodes} nodes", flush=True)
        rss = {i.name: i.rss_mib() for i in instances}
        for instance in instances:
            print(
                f"  {instance.name}: idle {idle[instance.name]:.0f} MiB, "
                f"{nodes} nodes {rss[instance.name]:.0f} MiB"
            )
        return {"idle": statistics.mean(idle.values()), **rss}
    finally:
        for instance in instances:
            instance.stop()


def with_affinity(data_dir: Path, nodes: int, moves: int, logs: Path) -> dict[str, object]:
    instances = [Instance(f"affine-{i + 1}", data_dir, nodes, logs) for i in range(2)]
    nginx_dir = Path(tempfile.mkdtemp(prefix="kato-affinity-nginx-"))
    try:
        nginx = Nginx([i.port for i in instances], nginx_dir)
        try:
            with httpx.Client(timeout=300) as client:
                for number in range(nodes):
                    predict_on(client, nginx.url, number)
            placed = nginx.split()
        finally:
            nginx.stop()
        held = {i.name: placed.get(f"127.0.0.1:{i.port}", set()) for i in instances}
        rss = {i.name: i.rss_mib() for i in instances}
        for instance in instances:
            print(
                f"  {instance.name}: {len(held[instance.name])} nodes {rss[instance.name]:.0f} MiB"
            )
        first, second = instances
        numbers = {node: n for n, node in enumerate(map(node_id, range(nodes)))}
        cold = sorted(numbers[n] for n in held[second.name])[:moves]
        warm = sorted(numbers[n] for n in held[first.name])[:moves]
        with httpx.Client(timeout=300) as client:
            warm_costs = [timed_predict(client, first, n) for n in warm]
            before = first.rss_mib()
            cold_costs = [timed_predict(client, first, n) for n in cold]
            grown = (first.rss_mib() - before) / max(1, len(cold))
        joined = Instance("affine-3", data_dir, nodes, logs)
        instances.append(joined)
        moved = placement_after_join(instances, nodes, placed, joined)
        return {
            "held": held,
            "rss": rss,
            "warm": warm_costs,
            "cold": cold_costs,
            "grown": grown,
            "moved": moved,
        }
    finally:
        for instance in instances:
            instance.stop()
        shutil.rmtree(nginx_dir, ignore_errors=True)


def placement_after_join(
    instances: list[Instance], nodes: int, placed: dict[str, set[str]], joined: Instance
) -> tuple[int, int]:
    """(nodes the hash now sends to the joined instance, nodes moved between the others)
    with a third upstream added to the same configuration. Only the placement is asked for:
    a probe carrying ``X-Kato-Node`` is routed by the same hash and loads nothing."""
    nginx_dir = Path(tempfile.mkdtemp(prefix="kato-affinity-nginx-"))
    try:
        nginx = Nginx([i.port for i in instances], nginx_dir)
        try:
            with httpx.Client(timeout=30) as client:
                for number in range(nodes):
                    headers = {"X-Kato-Node": node_id(number)}
                    client.get(f"{nginx.url}/health/live", headers=headers).raise_for_status()
            after = nginx.split()
        finally:
            nginx.stop()
    finally:
        shutil.rmtree(nginx_dir, ignore_errors=True)
    to_joined = len(after.get(f"127.0.0.1:{joined.port}", set()))
    between = sum(len(after.get(upstream, set()) - held) for upstream, held in placed.items())
    return to_joined, between


def median_ms(costs: list[tuple[float, float]], index: int) -> float:
    return 1000 * statistics.median(cost[index] for cost in costs) if costs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--moves", type=int, default=5, help="nodes moved in the move test")
    parser.add_argument("--data-dir", type=Path, required=True, help="kept between runs")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    build(args.data_dir, args.nodes, args.patterns)
    with tempfile.TemporaryDirectory(prefix="kato-affinity-logs-") as logs:
        print("without affinity: every instance answers on every node", flush=True)
        plain = without_affinity(args.data_dir, args.nodes, Path(logs))
        print("with affinity: nginx (deploy/nginx-affinity.conf) routes by X-Kato-Node", flush=True)
        affine = with_affinity(args.data_dir, args.nodes, args.moves, Path(logs))
    held, rss = affine["held"], affine["rss"]
    assert isinstance(held, dict) and isinstance(rss, dict)
    warm, cold = affine["warm"], affine["cold"]
    assert isinstance(warm, list) and isinstance(cold, list)
    plain_rss = [value for name, value in plain.items() if name != "idle"]

    print()
    print(f"{args.nodes} nodes x {args.patterns:,} patterns, 2 instances, in-process sessions")
    print(f"{'':28} {'instance 1':>12} {'instance 2':>12}")
    print(f"{'idle (no node loaded), MiB':28} {plain['idle']:12.0f} {plain['idle']:12.0f}")
    print(f"{'without affinity, MiB':28} {plain_rss[0]:12.0f} {plain_rss[1]:12.0f}")
    print(f"{'  nodes held':28} {args.nodes:12d} {args.nodes:12d}")
    affine_rss = list(rss.values())
    print(f"{'with affinity, MiB':28} {affine_rss[0]:12.0f} {affine_rss[1]:12.0f}")
    counts = [len(nodes) for nodes in held.values()]
    print(f"{'  nodes held (nginx hash)':28} {counts[0]:12d} {counts[1]:12d}")
    print()
    print(f"node move (median of {len(cold)} nodes, create + 2 observes + GET predictions):")
    print(
        f"  cold (index of {args.patterns:,} patterns built): wall {median_ms(cold, 0):8.1f} ms, "
        f"instance CPU {median_ms(cold, 1):8.1f} ms"
    )
    print(
        f"  warm (node already held):          wall {median_ms(warm, 0):8.1f} ms, "
        f"instance CPU {median_ms(warm, 1):8.1f} ms"
    )
    print(f"  RSS growth per node taken over: {affine['grown']:.1f} MiB")
    moved = affine["moved"]
    assert isinstance(moved, tuple)
    print(
        f"a third instance joins (same nginx hash, 3 upstreams): {moved[0]} of {args.nodes} "
        f"nodes move to it, {moved[1]} move between the other two"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
