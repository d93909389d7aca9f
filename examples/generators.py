"""Seeded generators of example data sets for ``kato learn`` and ``kato evaluate``.

- The **embedded Reber grammar**, the classic sequence-learning benchmark: ``B``, then ``T`` or
  ``P``, a string of the Reber grammar, the same ``T`` or ``P`` again, then ``E``. Predicting
  that second ``T``/``P`` needs a memory of the start of the sequence, which is what makes it
  hard for models with a short context.
- A **Markov clickstream**: visits of a web shop as walks through a sparse first-order Markov
  chain over pages, ended by an exit probability — the shape of real click logs (kosarak).

Every sequence is a list of events of one symbol each. The same ``seed`` always gives the same
data (``random.Random`` with an integer seed is stable across Python versions), so examples
and tests are reproducible.

Run ``python -m examples.generators reber --count 2000 --seed 1 --out reber.jsonl`` (JSON Lines,
one ``{"events": [["B"], ["T"], ...]}`` a line) or ``--format csv``
(``sequence_id,step,symbol``).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

Sequence = list[str]

# The Reber grammar as a graph: state -> [(symbol, next state)], chosen with equal odds.
# State 6 is the end. (Reber 1967; the usual numbering of the LSTM literature.)
REBER_GRAPH: dict[int, list[tuple[str, int]]] = {
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
}
REBER_END = 6


def reber_string(rng: random.Random) -> Sequence:
    """One string of the (plain) Reber grammar, with its ``B`` and ``E``."""
    symbols = ["B"]
    state = 1
    while state != REBER_END:
        symbol, state = rng.choice(REBER_GRAPH[state])
        symbols.append(symbol)
    symbols.append("E")
    return symbols


def embedded_reber_string(rng: random.Random) -> Sequence:
    """``B``, ``T``|``P``, a Reber string, the same ``T``|``P``, ``E``."""
    branch = rng.choice("TP")
    return ["B", branch, *reber_string(rng), branch, "E"]


def is_reber(symbols: Sequence) -> bool:
    """Whether ``symbols`` is a string of the plain Reber grammar (``B`` … ``E``)."""
    if len(symbols) < 2 or symbols[0] != "B" or symbols[-1] != "E":
        return False
    state = 1
    for symbol in symbols[1:-1]:
        moves = dict(REBER_GRAPH.get(state, []))
        if symbol not in moves:
            return False
        state = moves[symbol]
    return state == REBER_END


def is_embedded_reber(symbols: Sequence) -> bool:
    """Whether ``symbols`` is a string of the embedded Reber grammar."""
    return (
        len(symbols) >= 6
        and symbols[0] == "B"
        and symbols[-1] == "E"
        and symbols[1] in ("T", "P")
        and symbols[-2] == symbols[1]
        and is_reber(symbols[2:-2])
    )


def reber_sequences(count: int, seed: int) -> list[Sequence]:
    rng = random.Random(seed)
    return [embedded_reber_string(rng) for _ in range(count)]


class Clickstream:
    """A first-order Markov chain over ``pages`` pages of a shop.

    Every page links to ``links`` other pages with random weights (a sparse transition
    matrix, so there is structure to learn); a visit starts on one of a few landing pages and
    ends after each click with probability ``exit_probability``, or at ``max_length``.
    """

    def __init__(
        self,
        seed: int,
        pages: int = 40,
        links: int = 4,
        landing_pages: int = 3,
        exit_probability: float = 0.15,
        max_length: int = 20,
    ) -> None:
        rng = random.Random(seed)
        self.pages = [f"page{number:02d}" for number in range(pages)]
        self.landing = self.pages[:landing_pages]
        self.exit_probability = exit_probability
        self.max_length = max_length
        self.transitions: dict[str, tuple[list[str], list[float]]] = {}
        for page in self.pages:
            targets = rng.sample([other for other in self.pages if other != page], links)
            weights = [rng.random() ** 2 for _ in targets]  # skewed: a few links dominate
            self.transitions[page] = (targets, weights)
        self._rng = rng

    def visit(self) -> Sequence:
        rng = self._rng
        page = rng.choice(self.landing)
        visit = [page]
        while len(visit) < self.max_length and rng.random() >= self.exit_probability:
            targets, weights = self.transitions[page]
            page = rng.choices(targets, weights)[0]
            visit.append(page)
        return visit

    def allows(self, visit: Sequence) -> bool:
        """Whether ``visit`` is a walk this chain can produce."""
        return (
            1 <= len(visit) <= self.max_length
            and visit[0] in self.landing
            and all(b in self.transitions[a][0] for a, b in zip(visit, visit[1:], strict=False))
        )


def clickstream_sequences(count: int, seed: int, min_length: int = 2) -> list[Sequence]:
    """``count`` visits of at least ``min_length`` pages (KATO learns ≥ 2 symbols)."""
    chain = Clickstream(seed)
    visits: list[Sequence] = []
    while len(visits) < count:
        visit = chain.visit()
        if len(visit) >= min_length:
            visits.append(visit)
    return visits


def write_jsonl(sequences: Iterable[Sequence], out: TextIO) -> None:
    """One ``{"events": [[symbol], ...]}`` a line: the format of ``kato learn``."""
    for symbols in sequences:
        out.write(json.dumps({"events": [[symbol] for symbol in symbols]}) + "\n")


def write_csv(sequences: Iterable[Sequence], out: TextIO) -> None:
    """``sequence_id,step,symbol`` rows, steps from 0."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sequence_id", "step", "symbol"])
    for number, symbols in enumerate(sequences):
        for step, symbol in enumerate(symbols):
            writer.writerow([f"s{number}", step, symbol])


def split(sequences: list[Sequence], held_out: float) -> tuple[list[Sequence], list[Sequence]]:
    """Training and held-out parts: the last ``held_out`` fraction is held out."""
    cut = len(sequences) - round(len(sequences) * held_out)
    return sequences[:cut], sequences[cut:]


GENERATORS = {"reber": reber_sequences, "clickstream": clickstream_sequences}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=sorted(GENERATORS))
    parser.add_argument("--count", type=int, default=1000, help="sequences (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    parser.add_argument("--out", type=Path, help="file to write (default stdout)")
    args = parser.parse_args(argv)
    sequences = GENERATORS[args.dataset](args.count, args.seed)
    writer = write_jsonl if args.format == "jsonl" else write_csv
    if args.out is None:
        writer(sequences, sys.stdout)
    else:
        with args.out.open("w", encoding="utf-8", newline="") as out:
            writer(sequences, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
