"""Service load benchmark (issue 3, Performance): real ``kato serve`` processes over loopback.

Every scenario starts its own ``kato serve`` on a free loopback port with a temporary data
directory (vectors in the SQLite file, so several workers may share it) and stops it
afterwards. Every loop is bounded in count and time; the script ends by itself.

* ``sessions``  — 10,000 live sessions in the in-process store: create latency (1 client),
  then one observe into each session with all of them live; RSS growth of the server divided
  by the session count, for empty sessions and after that one observe each.
* ``latency``   — observe latency at 1 client (``wrk -t1 -c1``).
* ``throughput``— observes/s at 32 clients (``wrk``: C code, so the generator is not the
  bottleneck; its CPU share is printed) with 1 worker, and with 2 workers on a shared
  session store (the in-process store is per process, so 2 workers need Redis: a
  ``redis-server`` on a free port); 1 worker on Redis is the like-for-like baseline.
* ``predictions`` — 10,000 patterns of the engine benchmark's seeded generator (5–10 events
  of 1–3 symbols over 1,000 symbols) learned through ``observe-sequence`` (one pattern per
  call, ``learn_at_end``, session ``stm_mode: CLEAR``), then per query: clear-stm, observe a
  3-event fragment of a learned pattern, GET predictions.
* ``ceiling`` — observe with 1 worker and in-process sessions against ``minimal_app.py`` (a
  minimal FastAPI app on the same uvicorn) under the same wrk script, ``--rounds`` times
  each (2), alternating; prints the ratio of the medians of server CPU per request and the
  median of each round's ratio (``ceiling-redis``: the same, 2 workers on Redis sessions).

Python-client figures (``sessions``, ``predictions``) include ~0.1 ms of ``http.client``
overhead per request; ``wrk`` figures include only the C client's. Every row also gives the
server's CPU per request (independent of other load on the machine), and wrk rows split the
machine's busy cores into server, redis, wrk and other processes.

    .venv/bin/python benchmarks/service_load.py                       # everything (~4 min)
    .venv/bin/python benchmarks/service_load.py --only latency throughput --duration 5
    .venv/bin/python benchmarks/service_load.py --only throughput --env LOG_LEVEL=WARNING
    .venv/bin/python benchmarks/service_load.py --only ceiling ceiling-redis --duration 3 --rounds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from benchmarks.engine_bench import generate_patterns, generate_queries  # noqa: E402
from tests.servers import RedisServer, free_port  # noqa: E402

OBSERVE_LUA = REPOSITORY / "benchmarks" / "wrk" / "observe.lua"
SCENARIOS = (
    "sessions", "latency", "throughput", "predictions", "ceiling", "ceiling-redis",
    "ceiling-predictions", "throughput-predictions", "cold-start",
)  # fmt: skip
STARTUP_TIMEOUT = 60.0
# The checkout whose ``kato serve`` (and engine, for ``ceiling-predictions``) is measured:
# this one, or an older commit's worktree given with --repository (before/after figures).
SERVED = REPOSITORY
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- results --------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # CPU seconds the serving processes used during the run
    note: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: what bounds throughput when the server has whole cores."""
        return 1000 * self.server_cpu / self.requests if self.requests else 0.0


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"  {row.scenario}: {row.requests} requests, {row.per_second:,.0f}/s, "
            f"p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms, "
            f"server CPU {row.cpu_ms:.2f} ms/request {row.note}",
            flush=True,
        )

    def print(self, command: str) -> None:
        width = max(len(row.scenario) for row in self.rows)
        print()
        print(
            f"| {'scenario':<{width}} | requests |    req/s | p50 ms | p99 ms "
            "| server CPU ms/req | notes |"
        )
        print(
            f"|{'-' * (width + 2)}|---------:|---------:|-------:|-------:|------------------:|---|"
        )
        for row in self.rows:
            print(
                f"| {row.scenario:<{width}} | {row.requests:>8} | {row.per_second:>8,.0f} "
                f"| {row.p50_ms:>6.2f} | {row.p99_ms:>6.2f} | {row.cpu_ms:>17.2f} | {row.note} |"
            )
        for note in self.notes:
            print(f"- {note}")
        print(f"\nreproduce: {command}")


def percentile_ms(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def timed_row(
    scenario: str, samples: list[float], elapsed: float, server_cpu: float, note: str = ""
) -> Row:
    return Row(
        scenario,
        len(samples),
        elapsed,
        percentile_ms(samples, 0.50),
        percentile_ms(samples, 0.99),
        server_cpu,
        note,
    )


# -- the server under test --------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _stat_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


class KatoServer:
    """``kato serve`` in its own process group on a free port; ``stop`` ends it."""

    def __init__(self, workers: int = 1, environment: dict[str, str] | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self._directory = tempfile.TemporaryDirectory(prefix="kato-bench-")
        self.data_dir = Path(self._directory.name) / "data"
        self.log_path = Path(self._directory.name) / "server.log"
        self._environment = {
            **os.environ,
            "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite",
            **(environment or {}),
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "kato.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", str(self.workers), "--data-dir", str(self.data_dir),
        ]  # fmt: skip

    def start(self) -> KatoServer:
        self.launch()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"kato serve exited: {self.log_path.read_text()[-2000:]}")
            if self._healthy() and len(self.pids()) >= self.workers:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"kato serve did not become healthy in {STARTUP_TIMEOUT:.0f} s")

    def launch(self) -> None:
        """Start the process and return at once (``start`` waits until it is healthy)."""
        command = self.command()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=SERVED,
                env=self._environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _healthy(self) -> bool:
        try:
            status, _ = Client(self.port).call("GET", "/health")
        except OSError:
            return False
        return status == 200

    def pids(self) -> list[int]:
        """The serving processes: the worker processes, or the one process with 1 worker."""
        assert self._process is not None
        if self.workers == 1:
            return [self._process.pid]
        # uvicorn spawns the workers with multiprocessing; its resource tracker is no worker.
        return [
            child
            for child in _children(self._process.pid)
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
        ]

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            total += resident * PAGE
        return total

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[int, float]:
        return {pid: _stat_cpu_seconds(pid) for pid in self.pids()}

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self._directory.cleanup()


class MinimalServer(KatoServer):
    """The ceiling: ``benchmarks/minimal_app.py`` on uvicorn (1 worker unless asked), with the
    options ``kato serve`` gives uvicorn (uvloop and httptools via uvicorn[standard])."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "uvicorn", "benchmarks.minimal_app:app",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            "--no-access-log", "--workers", str(self.workers),
        ]  # fmt: skip


@contextmanager
def serving(
    workers: int = 1, environment: dict[str, str] | None = None, minimal: bool = False
) -> Iterator[KatoServer]:
    server = (MinimalServer(workers) if minimal else KatoServer(workers, environment)).start()
    try:
        yield server
    finally:
        server.stop()


# -- a lean keep-alive client ------------------------------------------------------------------


class Client:
    """One keep-alive connection; ``call`` returns (status, parsed JSON body)."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, raw = self._raw(method, path, json.dumps(body) if body is not None else None)
        return status, json.loads(raw)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        return self.timed(method, path, body)[1]

    def timed(self, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        """Seconds until the whole response body arrived (parsing it is not counted)."""
        payload = json.dumps(body) if body is not None else None
        started = time.perf_counter()
        status, raw = self._raw(method, path, payload)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {raw[:500]!r}")
        return elapsed, json.loads(raw)

    def _raw(self, method: str, path: str, payload: str | None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        return response.status, response.read()


def create_sessions(client: Client, count: int, node_id: str = "bench") -> list[str]:
    return [
        client.ok("POST", "/v2/sessions", {"node_id": node_id})["session_id"] for _ in range(count)
    ]


def random_event(rng: random.Random) -> list[str]:
    return [f"s{rng.randrange(1000):04d}" for _ in range(rng.randint(1, 3))]


# -- wrk ----------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    generator_cpu: float  # seconds of CPU used by wrk
    server_cpu: float  # seconds of CPU used by the serving processes
    worker_cpu: list[float]  # the same, per worker process
    redis_cpu: float  # seconds of CPU used by redis-server (0 without one)
    machine_busy: float  # CPU seconds all processes of the machine used during the run


def machine_busy_seconds() -> float:
    """CPU seconds spent by every process of the machine since boot (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / TICKS


_WRK_LINE = re.compile(r"^KATO_WRK (\{.*\})$", re.MULTILINE)


def run_wrk(
    server: KatoServer,
    session_ids: list[str],
    threads: int,
    connections: int,
    seconds: float,
    redis_pid: int | None = None,
    kind: str = "observe",
) -> WrkResult:
    """``kind``: ``observe`` POSTs observes, ``predictions`` GETs predictions (observe.lua)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as sessions_file:
        sessions_file.write("\n".join(session_ids) + "\n")
        sessions_file.flush()
        command = [
            "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
            "--timeout", "10s", "-s", str(OBSERVE_LUA), server.url,
            "--", sessions_file.name, str(threads), kind,
        ]  # fmt: skip
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = server.cpu_by_process()
        redis_before = _stat_cpu_seconds(redis_pid) if redis_pid else 0.0
        machine_before = machine_busy_seconds()
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=True
        )
        machine_busy = machine_busy_seconds() - machine_before
        redis_cpu = _stat_cpu_seconds(redis_pid) - redis_before if redis_pid else 0.0
        worker_cpu = [
            seconds - server_before.get(pid, 0.0)
            for pid, seconds in server.cpu_by_process().items()
        ]
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    match = _WRK_LINE.search(completed.stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no result: {completed.stdout}\n{completed.stderr}")
    figures = json.loads(match.group(1))
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=figures["status_errors"] + figures["socket_errors"],
        generator_cpu=generator_cpu,
        server_cpu=sum(worker_cpu),
        worker_cpu=worker_cpu,
        redis_cpu=redis_cpu,
        machine_busy=machine_busy,
    )


def wrk_row(scenario: str, result: WrkResult) -> Row:
    served = result.server_cpu + result.redis_cpu
    share = result.generator_cpu / max(result.generator_cpu + served, 1e-9)
    others = result.machine_busy - served - result.generator_cpu

    def cores(cpu_seconds: float) -> str:
        return f"{max(cpu_seconds, 0.0) / result.seconds:.2f}"

    note = (
        f"wrk {share:.0%} of client+server CPU ({cores(result.generator_cpu)} cores); "
        f"cores used: server {cores(result.server_cpu)}"
    )
    if len(result.worker_cpu) > 1:
        note += " (" + " + ".join(cores(worker) for worker in result.worker_cpu) + ")"
    if result.redis_cpu:
        note += f", redis {cores(result.redis_cpu)}"
    note += f", other processes {cores(others)}"
    if result.errors:
        note += f", {result.errors} ERRORS"
    return Row(
        scenario,
        result.requests,
        result.seconds,
        result.p50_ms,
        result.p99_ms,
        result.server_cpu,
        note,
    )


# -- scenarios ----------------------------------------------------------------------------------


def scenario_sessions(report: Report, count: int, seed: int) -> None:
    print(f"sessions: {count} live sessions, in-process store, 1 worker", flush=True)
    rng = random.Random(seed)
    with serving() as server:
        client = Client(server.port)
        warm = create_sessions(client, 200, "warm-up")  # node, imports and caches are loaded
        for session_id in warm:
            client.ok("POST", f"/v2/sessions/{session_id}/observe", {"strings": ["w"]})
            client.ok("DELETE", f"/v2/sessions/{session_id}")
        rss_before = server.rss_bytes()
        samples, session_ids = [], []
        started, cpu = time.perf_counter(), server.cpu_seconds()
        for index in range(count):
            elapsed, body = client.timed("POST", "/v2/sessions", {"node_id": f"n{index % 20}"})
            samples.append(elapsed)
            session_ids.append(body["session_id"])
        scenario = f"create session ({count} live)"
        report.add(timed_row(scenario, samples, _since(started), server.cpu_seconds() - cpu))
        rss_empty = server.rss_bytes()
        samples = []
        started, cpu = time.perf_counter(), server.cpu_seconds()
        for session_id in session_ids:
            elapsed, _ = client.timed(
                "POST", f"/v2/sessions/{session_id}/observe", {"strings": random_event(rng)}
            )
            samples.append(elapsed)
        scenario = f"observe ({count} live sessions)"
        report.add(timed_row(scenario, samples, _since(started), server.cpu_seconds() - cpu))
        rss_observed = server.rss_bytes()
        live = client.ok("GET", "/v2/sessions/count")["active_session_count"]
    empty = (rss_empty - rss_before) / count
    observed = (rss_observed - rss_before) / count
    report.notes.append(
        f"memory per session ({live} live, in-process store): {empty / 1024:.2f} KiB empty, "
        f"{observed / 1024:.2f} KiB after one observe each (server RSS growth / {count})"
    )
    print(f"  {report.notes[-1]}", flush=True)


def scenario_latency(report: Report, seconds: float) -> None:
    print("latency: observe at 1 client (wrk -t1 -c1), 1 worker", flush=True)
    with serving() as server:
        session_ids = create_sessions(Client(server.port), 64)
        run_wrk(server, session_ids, 1, 1, 2)  # warm-up
        result = run_wrk(server, session_ids, 1, 1, seconds)
        report.add(wrk_row("observe, 1 client, 1 worker", result))


def scenario_throughput(report: Report, seconds: float, clients: int) -> None:
    print(f"throughput: observe at {clients} clients (wrk -t2 -c{clients})", flush=True)
    sessions = 8 * clients  # per thread, consecutive requests go to different sessions
    with serving() as server:
        session_ids = create_sessions(Client(server.port), sessions)
        run_wrk(server, session_ids, 2, clients, 2)
        result = run_wrk(server, session_ids, 2, clients, seconds)
        report.add(wrk_row(f"observe, {clients} clients, 1 worker, memory", result))
    redis = RedisServer().start()
    try:
        for workers in (1, 2):
            environment = {"REDIS_URL": redis.url}
            with serving(workers, environment) as server:
                session_ids = create_sessions(Client(server.port), sessions)
                run_wrk(server, session_ids, 2, clients, 2)
                result = run_wrk(server, session_ids, 2, clients, seconds, redis.pid)
                plural = "s" if workers > 1 else ""
                scenario = f"observe, {clients} clients, {workers} worker{plural}, redis"
                report.add(wrk_row(scenario, result))
    finally:
        redis.stop()


def ceiling_note(label: str, cpu: dict[str, list[float]]) -> str:
    """The ratio of the medians of server CPU per request, and the median of each round's
    ratio (its minimal app run and the KATO run right after it): on a machine whose speed
    drifts between rounds, the second compares runs minutes apart less."""
    kato, minimal = statistics.median(cpu["kato"]), statistics.median(cpu["minimal"])
    rounds = [k / m for k, m in zip(cpu["kato"], cpu["minimal"], strict=True)]
    return (
        f"{label} {kato:.3f} ms CPU/request vs minimal app {minimal:.3f}: {kato / minimal:.2f}x "
        f"(medians of {len(rounds)} runs each); per round "
        f"{', '.join(f'{ratio:.2f}' for ratio in rounds)}: median {statistics.median(rounds):.2f}x"
    )


def scenario_ceiling(report: Report, seconds: float, clients: int, rounds: int) -> None:
    """KATO's observe (1 worker, in-process sessions, default settings) against the minimal
    app under the same wrk script, ``rounds`` times each, alternating (``ceiling_note``)."""
    print(f"ceiling: observe vs the minimal FastAPI app at {clients} clients", flush=True)
    cpu: dict[str, list[float]] = {"kato": [], "minimal": []}
    for _ in range(rounds):
        for name in ("minimal", "kato"):
            with serving(minimal=name == "minimal") as server:
                if name == "kato":
                    session_ids = create_sessions(Client(server.port), 8 * clients)
                else:
                    session_ids = [f"session-{index}" for index in range(8 * clients)]
                run_wrk(server, session_ids, 2, clients, 2)
                result = run_wrk(server, session_ids, 2, clients, seconds)
                row = wrk_row(f"observe, {name}, 1 worker", result)
                report.add(row)
                cpu[name].append(row.cpu_ms)
    report.notes.append(ceiling_note("ceiling: KATO observe", cpu))


def scenario_ceiling_redis(report: Report, seconds: float, clients: int, rounds: int) -> None:
    """KATO's observe with 2 workers on Redis sessions (default settings) against the minimal
    app with 2 workers, same wrk script, ``rounds`` times each, alternating (``ceiling_note``;
    Redis's own CPU is in the rows, not counted)."""
    print(f"ceiling-redis: observe, 2 workers, Redis vs the minimal app at {clients}", flush=True)
    cpu: dict[str, list[float]] = {"kato": [], "minimal": []}
    redis = RedisServer().start()
    try:
        for _ in range(rounds):
            for name in ("minimal", "kato"):
                environment = {"REDIS_URL": redis.url}
                with serving(2, environment, minimal=name == "minimal") as server:
                    if name == "kato":
                        session_ids = create_sessions(Client(server.port), 8 * clients)
                    else:
                        session_ids = [f"session-{index}" for index in range(8 * clients)]
                    run_wrk(server, session_ids, 2, clients, 2)
                    result = run_wrk(server, session_ids, 2, clients, seconds, redis.pid)
                    row = wrk_row(f"observe, {name}, 2 workers, redis", result)
                    report.add(row)
                    cpu[name].append(row.cpu_ms)
    finally:
        redis.stop()
    report.notes.append(ceiling_note("ceiling-redis: KATO observe (2 workers, Redis)", cpu))


def scenario_predictions(report: Report, patterns: int, queries: int, seed: int) -> None:
    print(f"predictions: {patterns} learned patterns, {queries} queries, 1 worker", flush=True)
    learned = generate_patterns(patterns, seed)
    fragments = generate_queries(learned, queries, seed)
    with serving() as server:
        client = Client(server.port, timeout=120)
        session = client.ok(
            "POST", "/v2/sessions", {"node_id": "predict", "config": {"stm_mode": "CLEAR"}}
        )["session_id"]
        samples = []
        started, cpu = time.perf_counter(), server.cpu_seconds()
        for index, pattern in enumerate(learned, 1):
            body = {
                "observations": [{"strings": event} for event in pattern],
                "learn_at_end": True,
            }
            elapsed, _ = client.timed("POST", f"/v2/sessions/{session}/observe-sequence", body)
            samples.append(elapsed)
            if index % 1000 == 0:
                print(f"  learned {index}/{patterns} ({_since(started):.0f} s)", flush=True)
        scenario = f"learn via observe-sequence ({patterns})"
        report.add(timed_row(scenario, samples, _since(started), server.cpu_seconds() - cpu))
        base = f"/v2/sessions/{session}"
        client.ok("GET", f"{base}/predictions")  # the first prediction indexes every pattern
        observe_samples, predict_samples, pair_samples = [], [], []
        found = 0
        started, cpu = time.perf_counter(), server.cpu_seconds()
        for fragment in fragments:
            client.ok("POST", f"{base}/clear-stm")
            for event in fragment[:-1]:
                client.ok("POST", f"{base}/observe", {"strings": event})
            observed, _ = client.timed("POST", f"{base}/observe", {"strings": fragment[-1]})
            predicted, body = client.timed("GET", f"{base}/predictions")
            found += bool(body["count"])
            observe_samples.append(observed)
            predict_samples.append(predicted)
            pair_samples.append(observed + predicted)
        elapsed, used = _since(started), server.cpu_seconds() - cpu
        note = f"{found}/{queries} queries predicted something; CPU: per query (5 requests)"
        scenario = f"GET predictions ({patterns} patterns)"
        report.add(timed_row(scenario, predict_samples, elapsed, used, note))
        scenario = f"observe + GET predictions ({patterns})"
        report.add(timed_row(scenario, pair_samples, elapsed, used))


# -- ceiling: GET predictions against the engine; cold start (issue 10 req 4, 5) ------------


def seed_store(data_dir: Path, patterns: list[list[list[str]]], node_id: str) -> None:
    """The patterns learned straight into a data directory's SQLite store, in batches (as
    ``kato learn`` does): 100,000 patterns in seconds rather than an hour of HTTP learns."""
    from kato.config import Settings
    from kato.core.hashing import pattern_hash
    from kato.engine.ports import LearnItem
    from kato.storage.factory import open_knowledge_base

    settings = Settings.model_validate({"service": {"data_dir": str(data_dir)}})
    knowledge_base = open_knowledge_base(settings, node_id)
    events = [tuple(map(tuple, pattern)) for pattern in patterns]
    items = [LearnItem(pattern_hash(pattern), pattern) for pattern in events]
    for start in range(0, len(items), 10_000):
        knowledge_base.learn_many(items[start : start + 10_000], persistence=5)
    knowledge_base.close()


def engine_cpu_per_query(seeded: Path, queries_file: Path) -> tuple[float, int]:
    """``benchmarks/engine_cpu.py`` on a copy of the seeded store: the served checkout's
    engine, in its own process. Returns (CPU seconds per query, queries with predictions)."""
    with tempfile.TemporaryDirectory(prefix="kato-bench-engine-") as directory:
        data_dir = Path(directory) / "data"
        shutil.copytree(seeded, data_dir)
        script = REPOSITORY / "benchmarks" / "engine_cpu.py"
        command = [sys.executable, str(script), str(SERVED), str(data_dir), "predict"]
        completed = subprocess.run(
            [*command, str(queries_file)], capture_output=True, text=True, timeout=600, check=True
        )
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures["cpu_per_query"], figures["found"]


def serve_predictions(seeded: Path, fragments: list[list[list[str]]], patterns: int) -> Row:
    """One ``kato serve`` on a copy of the seeded store: a session per query holding the
    query's events, then one GET predictions per session (each STM seen once, as the
    engine run computes each once). Server CPU over the GETs only."""
    server = KatoServer()
    shutil.copytree(seeded, server.data_dir)
    server.start()
    try:
        client = Client(server.port, timeout=120)
        session_ids = []
        for fragment in fragments:
            body = client.ok("POST", "/v2/sessions", {"node_id": "predict"})
            for event in fragment:
                client.ok("POST", f"/v2/sessions/{body['session_id']}/observe", {"strings": event})
            session_ids.append(body["session_id"])
        warm = client.ok("POST", "/v2/sessions", {"node_id": "predict"})["session_id"]
        for symbol in ("warm", "up"):  # symbols no pattern holds: loads the index, predicts []
            client.ok("POST", f"/v2/sessions/{warm}/observe", {"strings": [symbol]})
        client.ok("GET", f"/v2/sessions/{warm}/predictions")
        samples = []
        started, cpu = time.perf_counter(), server.cpu_seconds()
        for session_id in session_ids:
            elapsed, _ = client.timed("GET", f"/v2/sessions/{session_id}/predictions")
            samples.append(elapsed)
        used = server.cpu_seconds() - cpu
    finally:
        server.stop()
    row = timed_row(f"GET predictions, {patterns} patterns", samples, _since(started), used)
    row.note = f"p99/p50 {row.p99_ms / row.p50_ms:.1f}"
    return row


def scenario_ceiling_predictions(report: Report, patterns: int, queries: int, seed: int) -> None:
    """GET predictions (1 worker, default settings, max_predictions 100) against the
    engine's own in-process CPU for the same queries; twice each, alternating; the ratio of
    the medians of CPU per request / per query."""
    print(f"ceiling-predictions: {patterns} patterns, {queries} queries", flush=True)
    learned = generate_patterns(patterns, seed)
    fragments = generate_queries(learned, queries, seed)
    with tempfile.TemporaryDirectory(prefix="kato-bench-seed-") as directory:
        seeded = Path(directory) / "data"
        seed_store(seeded, learned, "predict")
        queries_file = Path(directory) / "queries.json"
        queries_file.write_text(json.dumps(fragments))
        engine: list[float] = []
        served: list[float] = []
        for _ in range(2):
            cpu, found = engine_cpu_per_query(seeded, queries_file)
            engine.append(1000 * cpu)
            print(f"  engine in-process: {1000 * cpu:.3f} ms CPU/query ({found} found)")
            row = serve_predictions(seeded, fragments, patterns)
            report.add(row)
            served.append(row.cpu_ms)
    kato, own = statistics.median(served), statistics.median(engine)
    report.notes.append(
        f"ceiling: GET predictions at {patterns} patterns {kato:.3f} ms CPU/request vs the "
        f"engine in-process {own:.3f} ms CPU/query: {kato / own:.2f}x (medians of 2 runs each)"
    )


def scenario_throughput_predictions(
    report: Report, patterns: int, sessions: int, seconds: float, clients: int, seed: int
) -> None:
    """GET predictions/s with 2 workers on Redis sessions (issue 10 req 6): the seeded
    patterns, ``sessions`` sessions each holding a fragment of a learned pattern, wrk cycling
    over them. More distinct STMs than a node's prediction cache holds (``_CACHE_SIZE``), in
    round robin, so every request computes its predictions. ``clients`` stays below the two
    workers' prediction slots (``resilience.max_concurrent_predictions``, 8 each), so no
    request is refused for overload; any error is reported and not counted as served."""
    print(
        f"throughput-predictions: {patterns} patterns, {sessions} sessions, 2 workers, redis",
        flush=True,
    )
    learned = generate_patterns(patterns, seed)
    fragments = generate_queries(learned, sessions, seed)
    redis = RedisServer().start()
    try:
        server = KatoServer(2, {"REDIS_URL": redis.url})
        server.data_dir.mkdir(parents=True)
        seed_store(server.data_dir, learned, "predict")
        server.start()
        try:
            client = Client(server.port, timeout=120)
            session_ids = []
            for number, fragment in enumerate(fragments, 1):
                created = client.ok("POST", "/v2/sessions", {"node_id": "predict"})
                session_id = created["session_id"]
                for event in fragment:
                    client.ok("POST", f"/v2/sessions/{session_id}/observe", {"strings": event})
                session_ids.append(session_id)
                if number % 500 == 0:
                    print(f"  {number}/{sessions} sessions filled", flush=True)
            run_wrk(server, session_ids, 2, clients, 3, redis.pid, "predictions")  # warm-up
            result = run_wrk(server, session_ids, 2, clients, seconds, redis.pid, "predictions")
        finally:
            server.stop()
    finally:
        redis.stop()
    row = wrk_row(f"GET predictions, {patterns} patterns, 2 workers, redis", result)
    report.add(row)
    served = (result.requests - result.errors) / result.seconds
    report.notes.append(
        f"throughput-predictions: {served:,.0f} GET predictions/s answered 200 at {patterns} "
        f"patterns with 2 workers and {clients} clients ({result.errors} errors; "
        f"{row.cpu_ms:.2f} ms server CPU/request)"
    )


def scenario_cold_start(report: Report, patterns: int, seed: int) -> None:
    """A node with ``patterns`` patterns in the embedded store: seconds from starting
    ``kato serve`` until its first predictions answer (create session, 2 observes, GET),
    and the CPU the process used until then. First on the store as ``kato learn`` left it
    (every pattern read and indexed; the node then stores its index snapshot), then twice
    on copies of the store that first start left (the index loaded from the snapshot)."""
    print(f"cold-start: {patterns} patterns in the embedded store", flush=True)
    learned = generate_patterns(patterns, seed)
    fragment = generate_queries(learned, 1, seed)[0]
    with tempfile.TemporaryDirectory(prefix="kato-bench-seed-") as directory:
        seeded = Path(directory) / "data"
        seed_store(seeded, learned, "predict")
        for run in ("first start", "restart", "restart"):
            server = KatoServer()
            if run == "first start":
                server.data_dir = seeded  # served in place: the restarts copy what it left
            else:
                shutil.copytree(seeded, server.data_dir)
            started = time.perf_counter()
            server.launch()
            try:
                count = _first_predictions(server, fragment, started + STARTUP_TIMEOUT)
                elapsed, cpu = _since(started), server.cpu_seconds()
            finally:
                server.stop()
            row = Row(f"first predictions, {run}, {patterns} patterns", 1, elapsed, 0, 0, cpu)
            row.p50_ms = row.p99_ms = 1000 * elapsed
            row.note = f"{elapsed:.2f} s after start, {cpu:.2f} s CPU, {count} predictions"
            report.add(row)


def _first_predictions(server: KatoServer, fragment: list[list[str]], deadline: float) -> int:
    while time.perf_counter() < deadline:
        try:
            client = Client(server.port, timeout=120)
            session_id = client.ok("POST", "/v2/sessions", {"node_id": "predict"})["session_id"]
        except (OSError, RuntimeError):  # not listening yet, or still starting (503)
            time.sleep(0.01)
            continue
        for event in fragment:
            client.ok("POST", f"/v2/sessions/{session_id}/observe", {"strings": event})
        count: int = client.ok("GET", f"/v2/sessions/{session_id}/predictions")["count"]
        return count
    raise RuntimeError(f"no predictions before the deadline: {server.log_path.read_text()[-2000:]}")


def _since(started: float) -> float:
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=2, help="ceiling, ceiling-redis: alternations (default 2)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="setting for every server started, e.g. --env LOG_LEVEL=WARNING (repeatable)",
    )
    parser.add_argument(
        "--ceiling-patterns", type=int, nargs="+", default=[1_000, 10_000],
        help="ceiling-predictions: pattern counts (default 1000 10000)",
    )  # fmt: skip
    parser.add_argument("--cold-start-patterns", type=int, default=100_000)
    parser.add_argument(
        "--prediction-sessions", type=int, default=2_000,
        help="throughput-predictions: sessions (distinct STMs) wrk cycles over",
    )  # fmt: skip
    parser.add_argument(
        "--prediction-clients", type=int, default=12,
        help="throughput-predictions: wrk connections (below the 2 workers' 16 slots)",
    )  # fmt: skip
    parser.add_argument(
        "--repository", type=Path, default=REPOSITORY,
        help="serve (and run the engine of) this checkout, e.g. a worktree of an older commit",
    )  # fmt: skip
    args = parser.parse_args()
    global SERVED
    SERVED = args.repository.resolve()
    for assignment in args.env:
        name, _, value = assignment.partition("=")
        os.environ[name] = value  # KatoServer passes its own environment to kato serve
    report = Report()
    if "sessions" in args.only:
        scenario_sessions(report, args.sessions, args.seed)
    if "latency" in args.only:
        scenario_latency(report, args.duration)
    if "throughput" in args.only:
        scenario_throughput(report, args.duration, args.clients)
    if "predictions" in args.only:
        scenario_predictions(report, args.patterns, args.queries, args.seed)
    if "ceiling" in args.only:
        scenario_ceiling(report, args.duration, args.clients, args.rounds)
    if "ceiling-redis" in args.only:
        scenario_ceiling_redis(report, args.duration, args.clients, args.rounds)
    if "ceiling-predictions" in args.only:
        for count in args.ceiling_patterns:
            scenario_ceiling_predictions(report, count, args.queries, args.seed)
    if "throughput-predictions" in args.only:
        scenario_throughput_predictions(
            report,
            args.patterns,
            args.prediction_sessions,
            args.duration,
            args.prediction_clients,
            args.seed,
        )
    if "cold-start" in args.only:
        scenario_cold_start(report, args.cold_start_patterns, args.seed)
    report.notes.append(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    report.print(".venv/bin/python benchmarks/service_load.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
