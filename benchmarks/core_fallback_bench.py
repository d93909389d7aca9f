"""The pure-Python prediction core against the compiled one (issue 13): what a machine
without a C compiler pays per prediction. Same node, same queries; the two cores take turns
round by round (so load on a shared machine hits both alike), and the figure is the ratio of
their median CPU times per prediction. Results are compared too: they must be identical.

    .venv/bin/python benchmarks/core_fallback_bench.py                 # 1,000 patterns
    .venv/bin/python benchmarks/core_fallback_bench.py --patterns 10000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from kato.core import matcher, pure_matchcore
from kato.core.genes import Genes
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState

VOCABULARY = [f"s{number:03d}" for number in range(300)]


def build(patterns: int, queries: int, seed: int) -> tuple[Node, list[list[list[str]]]]:
    rng = random.Random(seed)
    node, session, genes = Node("bench", InMemoryKnowledgeBase()), SessionState(), Genes()
    learned = []
    for _ in range(patterns):
        events = [rng.sample(VOCABULARY, rng.randint(1, 3)) for _ in range(rng.randint(4, 8))]
        session.stm = events
        node.learn(session, genes)
        learned.append(events)
    fragments = []
    for _ in range(queries):
        events = rng.choice(learned)
        start = rng.randrange(len(events) - 2)
        fragments.append([sorted(event) for event in events[start : start + 3]])
    return node, fragments


def timed_round(node: Node, fragments: list[list[list[str]]]) -> tuple[list[float], str]:
    """CPU seconds of each prediction (cache cleared: every query is computed), and the
    answers as JSON for the comparison."""
    genes, session, times, answers = Genes(), SessionState(), [], []
    for events in fragments:
        node._cache.clear()
        session.stm = events
        started = time.thread_time()
        answers.append(node.predictions(session, genes))
        times.append(time.thread_time() - started)
    return times, json.dumps(answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if matcher.compiled is None:
        raise SystemExit("the C extension kato.core._matchcore is not built: nothing to compare")
    node, fragments = build(args.patterns, args.queries, args.seed)
    cores = {"compiled": matcher.compiled, "python": pure_matchcore}
    samples: dict[str, list[float]] = {name: [] for name in cores}
    answers: dict[str, str] = {}
    for _ in range(args.rounds):
        for name, module in cores.items():
            matcher.core = module
            times, answers[name] = timed_round(node, fragments)
            samples[name] += times
    assert answers["compiled"] == answers["python"], "the cores disagree"
    compiled = statistics.median(samples["compiled"]) * 1e3
    python = statistics.median(samples["python"]) * 1e3
    print(
        f"{args.patterns} patterns, {args.queries} queries x {args.rounds} rounds: median CPU "
        f"per prediction compiled {compiled:.3f} ms, python {python:.3f} ms "
        f"-> python/compiled {python / compiled:.1f}x; answers identical"
    )


if __name__ == "__main__":
    main()
