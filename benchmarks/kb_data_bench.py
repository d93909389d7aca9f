"""Knowledge bases as data (issue 11): learn-batch over HTTP, export and import, batch predict.

Starts a real ``kato serve`` (one worker, a temporary data directory, SQLite knowledge base,
vectors in the SQLite file, ``limits.max_body_bytes`` raised so a whole export fits one
import request), drives it over loopback with one keep-alive ``httpx`` client, prints a
table and stops the server. A script, not a test.

    .venv/bin/python benchmarks/kb_data_bench.py                     # 10,000 patterns, 3 repeats
    .venv/bin/python benchmarks/kb_data_bench.py --patterns 20000 --repeats 5

Data: the engine benchmark's seeded generator — patterns of 5–10 events of 1–3 symbols over
1,000 symbols; contexts are 3-event fragments of learned patterns (a new seed per repeat, so
no repeat is answered from a cache).

Rows (each the median of ``--repeats`` runs; ``server CPU`` is the CPU the server process
used during the step, which a busy shared machine inflates far less than wall time):

* ``learn-batch``: every pattern into a fresh node in requests of 1,000 sequences;
* ``export``: ``GET /v2/nodes/{node}/export`` of that node, streamed and counted;
* ``import``: ``POST /v2/nodes/{fresh}/import?mode=replace`` of that export;
* ``predict``: one ``POST /v2/nodes/{node}/predict`` of ``--contexts`` contexts, against the
  baseline measured in the same run, alternating with it: the engine computing the same
  contexts in-process (``kato.service.knowledge_base.predict_many`` on a ``Node`` over an
  in-memory knowledge base holding the same patterns) — the ratio of the medians is the
  price of HTTP, JSON and the service around the same computation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import LearnItem
from kato.service import knowledge_base as kb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import kato_process  # noqa: E402

VOCABULARY = [f"s{number:04d}" for number in range(1000)]
BATCH = 1000


def generate_patterns(count: int, seed: int) -> list[list[list[str]]]:
    rng = random.Random(seed)
    return [
        [sorted(rng.sample(VOCABULARY, rng.randint(1, 3))) for _ in range(rng.randint(5, 10))]
        for _ in range(count)
    ]


def generate_contexts(
    patterns: list[list[list[str]]], count: int, seed: int
) -> list[list[list[str]]]:
    rng = random.Random(seed + 1)
    contexts = []
    for _ in range(count):
        pattern = rng.choice(patterns)
        start = rng.randint(0, len(pattern) - 3)
        contexts.append(pattern[start : start + 3])
    return contexts


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> tuple[float, float]:
    """Resident and peak resident memory of the process, MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def timed(pid: int, step: Callable[[], int]) -> tuple[float, float, int]:
    """(wall seconds, server CPU seconds, items) of one step."""
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    items = step()
    return time.perf_counter() - started, cpu_seconds(pid) - cpu, items


def learn_batches(client: httpx.Client, node: str, patterns: list[list[list[str]]]) -> int:
    learned = 0
    for start in range(0, len(patterns), BATCH):
        body = {"sequences": [{"events": p} for p in patterns[start : start + BATCH]]}
        response = client.post(f"/v2/nodes/{node}/learn-batch", json=body)
        response.raise_for_status()
        learned += response.json()["learned"]
    return learned


def export_node(client: httpx.Client, node: str, sink: list[bytes]) -> int:
    sink.clear()
    with client.stream("GET", f"/v2/nodes/{node}/export") as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            sink.append(chunk)
    data = b"".join(sink)
    sink[:] = [data]
    return sum(1 for line in data.splitlines()[1:] if line.startswith(b'{"name"'))


def import_node(client: httpx.Client, node: str, data: bytes) -> int:
    response = client.post(
        f"/v2/nodes/{node}/import",
        params={"mode": "replace"},
        content=data,
        headers={"Content-Type": "application/x-ndjson"},
    )
    response.raise_for_status()
    return int(response.json()["imported"])


def predict_http(client: httpx.Client, node: str, contexts: list[list[list[str]]]) -> int:
    response = client.post(f"/v2/nodes/{node}/predict", json={"contexts": contexts})
    response.raise_for_status()
    return len(response.json()["results"])


def engine_node(patterns: list[list[list[str]]]) -> Node:
    node = Node("bench", InMemoryKnowledgeBase())
    items = [LearnItem(pattern_hash(p), tuple(map(tuple, p))) for p in patterns]
    node.knowledge_base.learn_many(items, 5)
    node.refresh()
    return node


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=int, default=10_000)
    parser.add_argument("--contexts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    patterns = generate_patterns(args.patterns, args.seed)
    genes = Genes()
    rows: dict[str, list[tuple[float, float, int]]] = {}
    memory: dict[str, tuple[float, float]] = {}
    baseline: list[tuple[float, float]] = []
    with (
        tempfile.TemporaryDirectory() as work,
        kato_process(
            Path(work) / "data",
            KATO_DATABASE__QDRANT__LOCAL_STORE="sqlite",
            KATO_LIMITS__MAX_BODY_BYTES=str(512 * 1024 * 1024),
            KATO_LIMITS__BODY_READ_TIMEOUT_SECONDS="300",
        ) as (base, process),
        httpx.Client(base_url=base, timeout=600) as client,
    ):
        pid = process.pid
        exported: list[bytes] = []
        for repeat in range(args.repeats):
            node = f"learn-{repeat}"
            rows.setdefault("learn-batch", []).append(
                timed(pid, lambda n=node: learn_batches(client, n, patterns))
            )
        memory["after learn-batch"] = memory_mib(pid)
        for _ in range(args.repeats):
            rows.setdefault("export", []).append(
                timed(pid, lambda: export_node(client, "learn-0", exported))
            )
        memory["after export"] = memory_mib(pid)
        for repeat in range(args.repeats):
            rows.setdefault("import (replace)", []).append(
                timed(pid, lambda n=f"import-{repeat}": import_node(client, n, exported[0]))
            )
        memory["after import"] = memory_mib(pid)
        local = engine_node(patterns)
        predict_http(client, "learn-0", generate_contexts(patterns, 10, args.seed))  # warm
        for repeat in range(args.repeats):
            contexts = generate_contexts(patterns, args.contexts, args.seed + 100 * repeat)
            rows.setdefault("predict", []).append(
                timed(pid, lambda c=contexts: predict_http(client, "learn-0", c))
            )
            observed = [kb.parse_observations(context) for context in contexts]
            started, cpu = time.perf_counter(), time.thread_time()
            kb.predict_many(local, observed, genes)
            baseline.append((time.perf_counter() - started, time.thread_time() - cpu))
    print(f"{args.patterns:,} patterns, batches of {BATCH:,}, {args.repeats} repeats (medians)")
    print(f"{'step':<18}{'items/s (wall)':>16}{'items per server CPU-s':>24}{'wall s':>9}")
    for name, results in rows.items():
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        items = results[0][2]
        print(f"{name:<18}{items / wall:>16,.0f}{items / cpu if cpu else 0:>24,.0f}{wall:>9.2f}")
    for index, what in ((0, "wall"), (1, "CPU")):
        http = statistics.median(r[index] for r in rows["predict"])
        engine = statistics.median(b[index] for b in baseline)
        print(
            f"predict {args.contexts:,} contexts at {args.patterns:,} patterns ({what}):"
            f" HTTP {http:.3f} s (server), engine in-process {engine:.3f} s,"
            f" ratio {http / engine:.2f}x"
        )
    for when, (rss, peak) in memory.items():
        print(f"server memory {when}: RSS {rss:.0f} MiB, peak {peak:.0f} MiB")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
