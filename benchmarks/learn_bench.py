"""Learning benchmark (issue 11, Performance): the engine's batch path and ``kato learn``.

A seeded generator makes patterns of 5–10 events of 1–3 symbols over a 1,000-symbol
vocabulary (the issue's shape). It prints figures; it is a script, not a test.

    .venv/bin/python benchmarks/learn_bench.py                       # 20,000 patterns, 5 runs
    .venv/bin/python benchmarks/learn_bench.py --patterns 100000 --runs 3
    .venv/bin/python benchmarks/learn_bench.py --profile             # cProfile of the batch path
    .venv/bin/python benchmarks/learn_bench.py --stream 1000000      # kato learn, RSS

Scenarios (medians of ``--runs``, pure and compiled runs alternating):

- ``engine``: ``kato.service.knowledge_base.learn_batch`` (what ``learn-batch`` and
  ``kato learn`` call) into a fresh in-memory node, batches of ``--batch`` sequences already
  parsed into observations; once with the compiled pattern hash, once with the pure one, and
  their ratio. ``cpu`` is patterns per CPU-second of the thread, which a busy shared machine
  inflates far less than wall time.
- stages of that path: ``parse`` (JSON-shaped sequences → observations), ``items`` (events,
  emotive average and hash: ``learn_item``) and ``store`` (``InMemoryKnowledgeBase.learn_many``
  / ``SQLiteKnowledgeBase.learn_many`` of the items).
- ``kato learn`` (and ``--no-index``): the command's own function, in this process, from a
  JSON Lines file into a fresh SQLite data directory (the check pass and the learning pass;
  "with the close" adds keeping the index snapshot and the final WAL checkpoint).
- ``--stream N``: ``python -m kato.cli learn`` as its own process on a file of N patterns; its
  peak RSS (``ru_maxrss``) against the same command on N/10 patterns shows whether memory
  grows with the file.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kato.config import Settings
from kato.core import hashing
from kato.core.genes import Genes
from kato.data_targets import EmbeddedTarget, batch_sequence
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import LearnItem
from kato.service import knowledge_base as kb_service
from kato.storage.sqlite_kb import SQLiteKnowledgeBase

VOCABULARY = [f"s{number:04d}" for number in range(1000)]


def generate(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"events": [rng.sample(VOCABULARY, rng.randint(1, 3)) for _ in range(rng.randint(5, 10))]}
        for _ in range(count)
    ]


def batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, thread CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.thread_time()
    work()
    return time.perf_counter() - wall, time.thread_time() - cpu


def engine_run(
    sequences: list[list[kb_service.BatchSequence]], genes: Genes
) -> tuple[float, float]:
    node = Node("bench", InMemoryKnowledgeBase())
    return timed(lambda: [kb_service.learn_batch(node, batch, genes) for batch in sequences])


def with_hash(
    functions: tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]],
    work: Callable[[], tuple[float, float]],
) -> tuple[float, float]:
    """``work`` with ``functions`` as the service's pattern hash, string events and list
    events (compiled or pure: the events functions hash too)."""
    saved = kb_service.pattern_hash, kb_service.string_events, kb_service.list_events
    kb_service.pattern_hash, kb_service.string_events, kb_service.list_events = functions  # type: ignore[assignment]
    try:
        return work()
    finally:
        kb_service.pattern_hash, kb_service.string_events, kb_service.list_events = saved  # type: ignore[assignment]


def rate(count: int, seconds: list[float]) -> float:
    return count / statistics.median(seconds)


def learn_all(
    kb: InMemoryKnowledgeBase | SQLiteKnowledgeBase, items: list[LearnItem], size: int
) -> float:
    return timed(lambda: [kb.learn_many(batch, 5) for batch in batches(items, size)])[0]


def stages(raw: list[dict[str, Any]], size: int, genes: Genes, runs: int) -> dict[str, float]:
    parse, items_s, memory, sqlite = [], [], [], []
    sequences = [batch_sequence(item) for item in raw]
    items: list[LearnItem] = [
        item for item in (kb_service.learn_item(s, genes) for s in sequences) if item
    ]
    for _ in range(runs):
        parse.append(timed(lambda: [batch_sequence(item) for item in raw])[0])
        items_s.append(timed(lambda: [kb_service.learn_item(s, genes) for s in sequences])[0])
        memory.append(learn_all(InMemoryKnowledgeBase(), items, size))
        with tempfile.TemporaryDirectory() as directory:
            store = SQLiteKnowledgeBase(Path(directory) / "kato.sqlite3", "bench")
            sqlite.append(learn_all(store, items, size))
            store.close()
    count = len(raw)
    return {
        "parse": rate(count, parse),
        "items": rate(count, items_s),
        "store (memory)": rate(count, memory),
        "store (sqlite)": rate(count, sqlite),
    }


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(item) + "\n")


def cli_learn_once(path: Path, size: int | None, index: bool = True) -> tuple[float, float, float]:
    """(wall, CPU, close CPU) seconds of ``kato learn``'s own functions (the check pass, then
    learning) into a fresh SQLite data directory, its summary line discarded, and of closing
    it (keeping the node's index snapshot); ``size`` None is the command's own batch,
    ``index=False`` is ``--no-index``."""
    from rich.console import Console

    from kato.cli_data import check_sequences, learn_command, tune_gc_for_bulk_work

    with tempfile.TemporaryDirectory() as directory:
        target = EmbeddedTarget(Settings(service={"data_dir": directory}), "bench", index=index)
        args = argparse.Namespace(file=path, batch=size, node="bench")
        console = Console(quiet=True)
        tune_gc_for_bulk_work()  # as the command does before it runs

        def command() -> None:
            with check_sequences(path, console) as args.sequences:
                learn_command(target, args, console)

        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            wall, cpu = timed(command)
        _, close = timed(target.close)
    return wall, cpu, close


def stream(count: int, seed: int, size: int | None) -> None:
    """``kato learn`` as a process on ``count`` and ``count // 10`` patterns: rate, peak RSS."""
    with tempfile.TemporaryDirectory() as directory:
        for n in (count // 10, count):
            path = Path(directory) / f"patterns-{n}.jsonl"
            rng_items = generate_stream(path, n, seed)
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "kato.cli",
                    "learn",
                    "bench",
                    str(path),
                    "--quiet",
                    *(["--batch", str(size)] if size else []),
                    "--data-dir",
                    str(Path(directory) / f"data-{n}"),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            print(f"  kato learn {rng_items:>9,} patterns: {result.stdout.strip()}")
            print(
                f"    process wall {wall:.1f} s; peak RSS {peak / 1024:.0f} MiB"
                + ("" if peak > before else " (not above the smaller run's peak)")
            )


def generate_stream(path: Path, count: int, seed: int) -> int:
    """Write ``count`` generated patterns to ``path`` without holding them (chunks)."""
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, count, 10_000):
            for item in generate(min(10_000, count - start), seed + start):
                out.write(json.dumps(item) + "\n")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000, help="engine and stage batches")
    parser.add_argument(
        "--learn-batch", type=int, help="kato learn's --batch (default: the command's own)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--stream", type=int, help="also run kato learn on this many patterns")
    args = parser.parse_args()
    genes = Genes()
    raw = generate(args.patterns, args.seed)
    sequences = batches([batch_sequence(item) for item in raw], args.batch)
    # The benchmark's own input (every parsed sequence of the run) out of the collector's
    # sight: full collections walking it landed in one run or another and swung the engine
    # figures by up to 2x. A server or `kato learn` holds one batch, not the whole input.
    gc.collect()
    gc.freeze()
    print(
        f"{args.patterns:,} patterns of 5-10 events of 1-3 symbols over 1,000 symbols, "
        f"batches of {args.batch}, median of {args.runs} runs"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(engine_run, sequences, genes)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return
    compiled_hash = hashing.pattern_hash, hashing.string_events, hashing.list_events
    pure_hash = hashing.pure_pattern_hash, hashing.pure_string_events, hashing.pure_list_events
    pure, compiled = [], []
    for _ in range(args.runs):
        pure.append(with_hash(pure_hash, lambda: engine_run(sequences, genes)))
        compiled.append(with_hash(compiled_hash, lambda: engine_run(sequences, genes)))
    for label, runs in (("engine, pure hash", pure), ("engine, compiled hash", compiled)):
        wall = rate(args.patterns, [w for w, _ in runs])
        cpu = rate(args.patterns, [c for _, c in runs])
        print(f"  {label:<24} {wall:>10,.0f} patterns/s   cpu {cpu:>10,.0f} patterns/s")
    ratio = statistics.median(w for w, _ in pure) / statistics.median(w for w, _ in compiled)
    print(f"  compiled / pure speed-up {ratio:.2f}x")
    for stage, value in stages(raw, args.batch, genes, args.runs).items():
        print(f"  stage {stage:<18} {value:>10,.0f} patterns/s")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "patterns.jsonl"
        write_jsonl(path, raw)
        for label, index in (("kato learn (SQLite)", True), ("kato learn --no-index", False)):
            runs = [cli_learn_once(path, args.learn_batch, index) for _ in range(args.runs)]
            wall = rate(args.patterns, [w for w, _, _ in runs])
            cpu = rate(args.patterns, [c for _, c, _ in runs])
            with_close = rate(args.patterns, [c + close for _, c, close in runs])
            print(
                f"  {label:<24} {wall:>10,.0f} patterns/s"
                f"   cpu {cpu:>10,.0f} patterns/s; with the close"
                f" {with_close:,.0f} patterns/CPU-s"
            )
    if args.stream:
        stream(args.stream, args.seed, args.learn_batch)


if __name__ == "__main__":
    main()
