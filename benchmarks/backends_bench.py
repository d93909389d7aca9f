"""Backends benchmark (issue 4, Performance): session stores, process models, knowledge bases.

Three sections, each printing rows of one table:

* ``observe`` — POST observe with ``wrk`` (32 connections over 64 sessions, C client) against
  real ``kato serve`` processes: in-memory sessions with 1 worker, Redis sessions with 1 and
  2 workers, and 2 instances on Redis behind nginx (the multi-instance topology of
  ``tests/integration/cluster.py``). In-memory sessions with 2 workers are refused at start
  (each worker would hold its own sessions), and the row says so.
* ``predictions`` — patterns of the engine benchmark's seeded generator (10,000 by default)
  learned into the SQLite knowledge base and into the MongoDB adapter over ``mongomock``
  (in-process: a mock cannot be shared with a server process), then, as another instance
  would, a fresh node loads them and ``Node.predictions`` runs for distinct 3-event
  fragments, every one computed (no cache hit). Before each prediction the node checks the
  store's revision; the row shows that check's cost. mongomock scans every document on every
  query, so learning into it grows quadratically (2,000 patterns take about 3 minutes here,
  10,000 would take over an hour): it gets ``--mongomock-patterns`` (2,000 by default).
  ``benchmarks/storage_bench.py`` measures the same adapters' learns and catch-ups.
* ``redis-memory`` — Redis ``used_memory`` growth per session with 10,000 live sessions,
  through ``benchmarks/redis_session_memory.py``.

The machine's other load changes latencies; the server CPU per request of the observe rows
does not depend on it as much.

    .venv/bin/python -m benchmarks.backends_bench
    .venv/bin/python -m benchmarks.backends_bench --only observe --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import mongomock

from benchmarks.engine_bench import generate_patterns, generate_queries
from benchmarks.redis_session_memory import memory_per_session
from benchmarks.service_load import (
    REPOSITORY,
    Client,
    Report,
    Row,
    _stat_cpu_seconds,
    create_sessions,
    run_wrk,
    serving,
    wrk_row,
)
from kato.config import DatabaseSettings, QdrantSettings, ServiceSettings, Settings
from kato.core.genes import Genes
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from kato.storage.factory import StorageBackends
from tests.integration.cluster import Cluster
from tests.servers import RedisServer

SECTIONS = ("observe", "predictions", "redis-memory")
SESSIONS = 64
WRK_THREADS = 2


class _ClusterTarget:
    """What ``run_wrk`` needs of a server: the address and the serving processes' CPU."""

    def __init__(self, cluster: Cluster) -> None:
        self.url = cluster.url
        self._pids = [instance.pid for instance in cluster.instances]

    def cpu_by_process(self) -> dict[int, float]:
        return {pid: _stat_cpu_seconds(pid) for pid in self._pids}

    def cpu_seconds(self) -> float:
        return sum(self.cpu_by_process().values())


def _observe(
    report: Report, target: Any, port: int, name: str, seconds: float, clients: int
) -> None:
    session_ids = create_sessions(Client(port), SESSIONS)
    run_wrk(target, session_ids, WRK_THREADS, clients, 2)  # warm-up: imports, node, pools
    report.add(wrk_row(name, run_wrk(target, session_ids, WRK_THREADS, clients, seconds)))


def _refusal(environment: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory() as data_dir:
        result = subprocess.run(
            [sys.executable, "-m", "kato.cli", "serve", "--workers", "2", "--port", "0"],
            env={**environment, "KATO_DATA_DIR": data_dir},
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    first_line = (result.stderr.strip().splitlines() or ["(no message)"])[0]
    return f"exit {result.returncode}: {first_line[:110]}"


def section_observe(report: Report, seconds: float, clients: int) -> None:
    plain = {k: v for k, v in os.environ.items() if not k.startswith(("KATO_", "REDIS_URL"))}
    quiet = {"LOG_LEVEL": "WARNING"}
    with RedisServer() as redis:
        on_redis = {**quiet, "REDIS_URL": redis.url}
        for sessions, workers, environment in (
            ("memory", 1, quiet),
            ("redis", 1, on_redis),
            ("redis", 2, on_redis),
        ):
            plural = "s" if workers > 1 else ""
            name = f"observe, {sessions} sessions, {workers} worker{plural}"
            print(name, flush=True)
            with serving(workers, environment) as server:
                _observe(report, server, server.port, name, seconds, clients)
        refused = _refusal({**plain, "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite"})
        report.add(Row("observe, memory sessions, 2 workers", 0, 0, 0, 0, 0, f"refused: {refused}"))
        name = "observe, redis sessions, 2 instances + nginx"
        print(name, flush=True)
        with Cluster(redis.url, env={"KATO_SESSION__MAX_STM_SIZE": "1000"}) as cluster:
            _observe(report, _ClusterTarget(cluster), cluster.nginx.port, name, seconds, clients)


def _timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _prediction_row(name: str, node: Node, fragments: list[list[list[str]]]) -> Row:
    genes = Genes()
    session = SessionState()
    samples = []
    found = 0
    started = time.perf_counter()
    for fragment in fragments:
        session.stm = [list(event) for event in fragment]
        began = time.perf_counter()
        found += bool(node.predictions(session, genes))
        samples.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - started
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
    note = f"in-process Node.predictions; {found}/{len(fragments)} queries predicted something"
    return Row(name, len(samples), elapsed, statistics.median(samples) * 1e3, p99 * 1e3, 0, note)


def _fragments(learned: list[list[list[str]]], queries: int) -> list[list[list[str]]]:
    # Distinct, in the generator's order: a repeated fragment would be a cache hit.
    distinct = dict.fromkeys(
        tuple(map(tuple, q)) for q in generate_queries(learned, queries * 2, 7)
    )
    return [[list(event) for event in query] for query in list(distinct)[: queries + 1]]


def section_predictions(
    report: Report, patterns: int, mongomock_patterns: int, queries: int
) -> None:
    genes = Genes()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            service=ServiceSettings(data_dir=data_dir),
            database=DatabaseSettings(qdrant=QdrantSettings(local_store="sqlite")),
        )
        stores = {
            "sqlite": StorageBackends(settings),
            "mongomock": StorageBackends(settings, mongo_client=mongomock.MongoClient()),
        }
        sizes = {"sqlite": patterns, "mongomock": mongomock_patterns}
        for adapter, backends in stores.items():
            learned = generate_patterns(sizes[adapter], seed=7)
            fragments = _fragments(learned, queries)
            print(f"predictions, {adapter}: learning {len(learned)} patterns", flush=True)
            writer = Node("bench", backends.knowledge_base("bench"))
            session = SessionState()
            started = time.perf_counter()
            for count, pattern in enumerate(learned, 1):
                session.stm = [list(event) for event in pattern]
                writer.learn(session, genes)
                if count % 2000 == 0:
                    print(f"  {count} learned ({time.perf_counter() - started:.0f} s)", flush=True)
            learn_seconds = time.perf_counter() - started
            reader = Node("bench", backends.knowledge_base("bench"))  # as another instance
            load_started = time.perf_counter()
            reader.refresh()
            load_ms = (time.perf_counter() - load_started) * 1e3
            revision_us = min(_timed(reader.knowledge_base.revision) for _ in range(200)) * 1e6
            reader.predictions(SessionState(stm=fragments[0]), genes)  # warm-up, not counted
            name = f"predictions, {adapter}, {len(learned)} patterns"
            row = _prediction_row(name, reader, fragments[1:])
            row.note += (
                f"; revision check {revision_us:.0f} µs; learn {len(learned) / learn_seconds:,.0f}"
                f"/s; first load {load_ms:,.0f} ms"
            )
            report.add(row)
            backends.close()


def section_redis_memory(report: Report, sessions: int, stm_events: int) -> None:
    with RedisServer() as redis:
        for events in (0, stm_events):
            print(f"redis memory: {sessions} sessions of {events} STM events", flush=True)
            per_session = asyncio.run(memory_per_session(redis.url, sessions, events, False))
            report.notes.append(
                f"Redis used_memory per session, {sessions} live sessions, {events} STM "
                f"events: {per_session / 1024:.2f} KiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--mongomock-patterns", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--stm-events", type=int, default=50)
    args = parser.parse_args()
    report = Report()
    if "observe" in args.only:
        section_observe(report, args.duration, args.clients)
    if "predictions" in args.only:
        section_predictions(report, args.patterns, args.mongomock_patterns, args.queries)
    if "redis-memory" in args.only:
        section_redis_memory(report, args.sessions, args.stm_events)
    report.print(" ".join([".venv/bin/python -m benchmarks.backends_bench", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
