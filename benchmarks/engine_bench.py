"""Engine benchmark (issue 2, Performance): learn throughput, memory, prediction latency.

A seeded generator makes patterns of 5–10 events of 1–3 symbols over a 1,000-symbol
vocabulary. For each size it learns that many patterns into a fresh in-memory node, then
times 500 predictions, each for a 3-event fragment of a learned pattern. It prints a table;
it is a script, not a test.

    .venv/bin/python benchmarks/engine_bench.py                    # 1k, 10k, 100k
    .venv/bin/python benchmarks/engine_bench.py --sizes 1000 --queries 100
    .venv/bin/python benchmarks/engine_bench.py --sizes 10000 --profile

Columns: ``learn/s`` counts ``Node.learn`` calls (hash, store, statistics); ``index/s`` is
the rate of the node's in-memory index catch-up that the first prediction after those learns
performs (``Node.refresh``); ``KiB/pattern`` is the process RSS growth over learning and
indexing (knowledge base + index) divided by the pattern count; latency is
``Node.predictions`` with its result cache cleared before each query (every query is
computed). ``cpu`` (learns per CPU-second) and ``cpu p50`` use the thread's CPU time, which
a busy shared machine inflates far less than wall time. ``shared``/``bound``/``kept`` are
mean counts per query of patterns sharing a symbol with the query, surviving the pruning
bound, and reaching the recall threshold.

``--features`` adds a second table per size (issue 12 req 7): the CPU median per prediction
of the §12 settings on the same node and queries, with its ratio to the baseline genes —
the ``/sessions`` defaults, the single-symbol fast path (queries of one symbol, the first of
a learned pattern), fuzzy tokens (``fuzzy_token_threshold`` 0.85, one symbol of each query
misspelled with a trailing ``x``: similarity 10/11 to its own symbol, < 0.85 to any other),
character matching (``use_token_matching: false``) and affinity weighting (the generated
patterns carry no emotives, so this measures the weighting's cost, every weight 0.01).

    .venv/bin/python benchmarks/engine_bench.py --sizes 10000 --queries 200 --features
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import statistics
import time
from dataclasses import dataclass

from kato.core.genes import Genes
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from kato.service.v3_config import V3_SESSION_DEFAULTS

VOCABULARY = [f"s{number:04d}" for number in range(1000)]


def generate_patterns(count: int, seed: int) -> list[list[list[str]]]:
    rng = random.Random(seed)
    return [
        [sorted(rng.sample(VOCABULARY, rng.randint(1, 3))) for _ in range(rng.randint(5, 10))]
        for _ in range(count)
    ]


def generate_queries(
    patterns: list[list[list[str]]], count: int, seed: int
) -> list[list[list[str]]]:
    rng = random.Random(seed + 1)
    queries = []
    for _ in range(count):
        pattern = rng.choice(patterns)
        start = rng.randint(0, len(pattern) - 3)
        queries.append(pattern[start : start + 3])
    return queries


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Row:
    patterns: int
    learn_per_second: float
    learn_per_cpu_second: float
    index_per_second: float
    kib_per_pattern: float
    p50_ms: float
    p99_ms: float
    cpu_p50_ms: float
    shared: float
    bound: float
    kept: float


def candidate_counts(node: Node, state: list[str], genes: Genes) -> tuple[int, int, int]:
    index = node.refresh()
    return index.candidate_counts(state, genes.recall_threshold)


def cpu_median_ms(node: Node, probes: list[list[list[str]]], genes: Genes) -> float:
    """Median thread CPU of ``Node.predictions`` per probe, every one computed."""
    session, cpu_times = SessionState(), []
    for events in probes:
        session.stm = events
        node._cache.clear()
        started = time.thread_time()
        node.predictions(session, genes)
        cpu_times.append(time.thread_time() - started)
    return statistics.median(cpu_times) * 1000


def misspelled(probes: list[list[list[str]]]) -> list[list[list[str]]]:
    """Each probe with the first symbol of its first event misspelled (a trailing ``x``)."""
    return [[[events[0][0] + "x", *events[0][1:]], *events[1:]] for events in probes]


def feature_rows(
    node: Node, patterns: list[list[list[str]]], probes: list[list[list[str]]]
) -> list[tuple[str, float]]:
    """(setting, CPU median ms) for the baseline and each §12 feature, same node."""
    single = [[[pattern[0][0]]] for pattern in patterns[: len(probes)]]
    cases = [
        ("baseline genes", probes, Genes()),
        ("/sessions defaults", probes, Genes(**V3_SESSION_DEFAULTS)),
        ("single symbol (fast path)", single, Genes(single_symbol_predictions=True)),
        ("fuzzy tokens 0.85", misspelled(probes), Genes(fuzzy_token_threshold=0.85)),
        ("character matching", probes, Genes(use_token_matching=False)),
        ("affinity weighting", probes, Genes(affinity_emotive="joy")),
    ]
    return [(name, cpu_median_ms(node, queries, genes)) for name, queries, genes in cases]


def run(size: int, queries: int, seed: int, profile: bool, features: bool) -> Row:
    genes = Genes()
    patterns = generate_patterns(size, seed)
    probes = generate_queries(patterns, queries, seed)
    gc.collect()
    rss_before = rss_bytes()
    node = Node("bench", InMemoryKnowledgeBase())
    session = SessionState()
    learning, learning_cpu = time.perf_counter(), time.thread_time()
    for events in patterns:
        session.stm = events
        node.learn(session, genes)
    learned, learned_cpu = time.perf_counter(), time.thread_time()
    node.refresh()
    indexed = time.perf_counter()
    gc.collect()
    kib_per_pattern = (rss_bytes() - rss_before) / size / 1024

    latencies, cpu_times = [], []
    profiler = cProfile.Profile() if profile else None
    for events in probes:
        session.stm = events
        node._cache.clear()
        if profiler:
            profiler.enable()
        started, started_cpu = time.perf_counter(), time.thread_time()
        node.predictions(session, genes)
        latencies.append(time.perf_counter() - started)
        cpu_times.append(time.thread_time() - started_cpu)
        if profiler:
            profiler.disable()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    if features:
        rows = feature_rows(node, patterns, probes)
        print(f"  §12 settings at {size} patterns: CPU p50 ms per prediction, ratio to baseline")
        for name, cpu_ms in rows:
            print(f"  {name:<28} {cpu_ms:>9.3f} {cpu_ms / rows[0][1]:>7.2f}x", flush=True)

    counts = [
        candidate_counts(node, [s for event in events for s in event], genes) for events in probes
    ]
    latencies.sort()
    return Row(
        patterns=size,
        learn_per_second=size / (learned - learning),
        learn_per_cpu_second=size / (learned_cpu - learning_cpu),
        index_per_second=size / (indexed - learned),
        kib_per_pattern=kib_per_pattern,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)] * 1000,
        cpu_p50_ms=statistics.median(cpu_times) * 1000,
        shared=statistics.fmean(count[0] for count in counts),
        bound=statistics.fmean(count[1] for count in counts),
        kept=statistics.fmean(count[2] for count in counts),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the predictions")
    parser.add_argument("--features", action="store_true", help="the §12 settings' table")
    args = parser.parse_args()

    header = (
        f"{'patterns':>9} {'learn/s':>9} {'cpu':>9} {'index/s':>9} {'KiB/pattern':>11}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'cpu p50':>7} {'shared':>7} {'bound':>7} {'kept':>7}"
    )
    print(
        f"recall_threshold={Genes().recall_threshold}, max_predictions="
        f"{Genes().max_predictions}, queries={args.queries}, seed={args.seed},"
        f" load average before start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(header)
    for size in args.sizes:
        row = run(size, args.queries, args.seed, args.profile, args.features)
        print(
            f"{row.patterns:>9} {row.learn_per_second:>9.0f} {row.learn_per_cpu_second:>9.0f}"
            f" {row.index_per_second:>9.0f}"
            f" {row.kib_per_pattern:>11.2f}"
            f" {row.p50_ms:>7.3f} {row.p99_ms:>7.3f} {row.cpu_p50_ms:>7.3f}"
            f" {row.shared:>7.0f} {row.bound:>7.0f} {row.kept:>7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
