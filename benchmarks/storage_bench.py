"""Knowledge-base adapter benchmark: learns, revision checks, catch-up, predictions.

For each adapter (SQLite file in a temporary directory, MongoDB through mongomock, and the
in-memory reference) it learns N patterns (the engine benchmark's generator) through
``Node.learn``, then measures:

- ``learn/s``: learns per second (one transaction each on SQLite);
- ``revision µs``: ``KnowledgeBase.revision()``, called before every prediction;
- ``load ms``: a fresh node's first catch-up (``changes_since(-1)``, the full load);
- ``catch-up ms``: a node's incremental catch-up after one learn made elsewhere;
- ``predict p50/p99 ms``: ``Node.predictions`` for 3-event fragments (cache disabled).

    .venv/bin/python -m benchmarks.storage_bench                  # memory, sqlite: 10,000
    .venv/bin/python -m benchmarks.storage_bench --adapters mongomock --patterns 2000

mongomock has no indexes (every query and every unique-index check scans the collection),
so its learns and catch-ups grow with the store; its figures say nothing about a real
MongoDB, where ``name`` and ``rev`` are indexed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mongomock

from benchmarks.engine_bench import generate_patterns, generate_queries
from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import KnowledgeBase
from kato.engine.session_state import SessionState
from kato.storage.mongo_kb import MongoKnowledgeBase
from kato.storage.sqlite_kb import SQLiteKnowledgeBase


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(name: str, open_kb: Callable[[], KnowledgeBase], args: argparse.Namespace) -> str:
    genes = Genes()
    patterns = generate_patterns(args.patterns, seed=7)
    writer = Node("bench", open_kb())
    session = SessionState()
    start = time.perf_counter()
    for pattern in patterns:
        session.stm = [list(event) for event in pattern]
        writer.learn(session, genes)
    learn_rate = len(patterns) / (time.perf_counter() - start)

    reader = Node("bench", open_kb())
    kb = reader.knowledge_base
    revision_us = min(timed(kb.revision) for _ in range(1000)) * 1e6
    load_ms = timed(reader.refresh) * 1e3
    catch_up: list[float] = []
    for step in range(20):
        extra = (("extra", f"e{step}"), ("more",))
        writer.knowledge_base.learn(pattern_hash(extra), extra, None, genes.persistence)
        catch_up.append(timed(reader.refresh) * 1e3)

    latencies: list[float] = []
    for query in generate_queries(patterns, args.queries, seed=7):
        session.stm = [list(event) for event in query]
        reader._cache.clear()  # every query computed, as in the engine benchmark
        latencies.append(timed(lambda: reader.predictions(session, genes)) * 1e3)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return (
        f"{name:>10} {len(patterns):>8} {learn_rate:>8.0f} {revision_us:>11.1f} "
        f"{load_ms:>8.0f} {statistics.median(catch_up):>11.2f} "
        f"{statistics.median(latencies):>9.2f} {p99:>9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--adapters", default="memory,sqlite")
    args = parser.parse_args()
    memory = InMemoryKnowledgeBase()
    client: Any = mongomock.MongoClient()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "kato.sqlite3"
        adapters: dict[str, Callable[[], KnowledgeBase]] = {
            "memory": lambda: memory,
            "sqlite": lambda: SQLiteKnowledgeBase(path, "bench_kato"),
            "mongomock": lambda: MongoKnowledgeBase(client, "bench_kato"),
        }
        print(
            f"{'adapter':>10} {'patterns':>8} {'learn/s':>8} {'revision µs':>11} "
            f"{'load ms':>8} {'catch-up ms':>11} {'p50 ms':>9} {'p99 ms':>9}"
        )
        for name in args.adapters.split(","):
            print(bench(name, adapters[name], args), flush=True)


if __name__ == "__main__":
    main()
