"""Learn and evaluate the example data sets with the ``kato`` command line.

For each data set (the embedded Reber grammar and a Markov clickstream) it writes a training
and a held-out file from one seeded generation, runs ``kato learn`` on the training file and
``kato evaluate --json`` on the held-out one, both on a data directory of their own, and
prints the figures side by side. Run from the repository root:

    .venv/bin/python -m examples.learn_and_evaluate --out /tmp/kato-example

docs/DATA.md walks through it, with its output.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from examples import generators


def kato(*arguments: str) -> str:
    command = [sys.executable, "-m", "kato.cli", *arguments, "--quiet"]
    print("$ kato " + " ".join(arguments), flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"kato {arguments[0]} failed: {result.stderr.strip()}")
    return result.stdout


def run(name: str, sequences: list[list[str]], out: Path, k: int) -> dict[str, Any]:
    train, held_out = generators.split(sequences, held_out=0.2)
    train_file, held_file = out / f"{name}-train.jsonl", out / f"{name}-test.jsonl"
    for path, part in ((train_file, train), (held_file, held_out)):
        with path.open("w", encoding="utf-8") as handle:
            generators.write_jsonl(part, handle)
    data_dir = str(out / "data")
    print(kato("learn", name, str(train_file), "--data-dir", data_dir).strip())
    report: dict[str, Any] = json.loads(
        kato("evaluate", name, str(held_file), "--data-dir", data_dir, "--k", str(k), "--json")
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for files and data")
    parser.add_argument("--count", type=int, default=1000, help="sequences per data set")
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    reports = {
        "reber": run("reber", generators.reber_sequences(args.count, seed=1), args.out, args.k),
        "clickstream": run(
            "clickstream", generators.clickstream_sequences(args.count, seed=2), args.out, args.k
        ),
    }
    metrics = ["accuracy_at_1", f"accuracy_at_{args.k}", "mrr", "coverage"]
    print()
    print(f"{'data set':<12} {'scoring':<10} " + " ".join(f"{m:>14}" for m in metrics))
    for name, report in reports.items():
        for scoring, figures in report["scores"].items():
            values = " ".join(f"{figures[m]:>14.4f}" for m in metrics)
            print(f"{name:<12} {scoring:<10} {values}")
    for name, report in reports.items():
        latency = report["latency_ms"]
        print(
            f"{name}: {report['prefixes']:,} next events of {report['sequences']:,} held-out "
            f"sequences; latency p50 {latency['p50']:.2f} ms, p99 {latency['p99']:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
