"""Prediction objects and every metric of semantics §4.6–§4.14.

Work is split by need. The compiled core (``kato.core._matchcore``) matches every candidate,
applies the threshold and computes the present range, ``itfdf_similarity`` and ``potential``
that ranking needs; for the predictions actually returned it also gives the blocks, entropy,
hamiltonians and confluence — bit-identical to the formulas of §4.10–§4.12 (docs/ENGINE.md).
Here, only the returned predictions are turned into objects, straight from the core's
tuples (no intermediate records).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from kato.core.emotives import average_emotives
from kato.core.matcher import Block


@dataclass(frozen=True, slots=True)
class PatternView:
    """What prediction needs of a stored pattern."""

    name: str
    events: tuple[tuple[str, ...], ...]
    flat: tuple[str, ...]
    bounds: tuple[int, ...]  # cumulative symbol counts C_0 = 0 … C_K = |flat|
    frequency: int
    emotives: tuple[Mapping[str, float], ...]


class Scored(NamedTuple):
    """A survivor as the prediction core returns it (the tuple layout of
    ``kato/core/_matchcore.c``'s ``score``), with what ranking computed for it."""

    slot: int
    potential: float
    itfdf: float
    present_start: int  # first present event (after the boundary adjustment)
    present_end: int  # one past the last present event
    blocks: tuple[Block, ...]
    entropy: float
    hamiltonian: float
    grand_hamiltonian: float
    confluence: float


def prediction_objects(
    state: Sequence[str], chosen: Sequence[tuple[PatternView, Scored]]
) -> list[dict[str, object]]:
    """The prediction objects (§4.14) of the chosen survivors, in their order."""
    return [_prediction_object(pattern, item, state) for pattern, item in chosen]


def _prediction_object(
    pattern: PatternView, item: Scored, state: Sequence[str]
) -> dict[str, object]:
    start, end = item.present_start, item.present_end
    flat, blocks = pattern.flat, item.blocks
    present_flat = flat[pattern.bounds[start] : pattern.bounds[end]]
    # Blocks increase in both sequences: matches are the state's block slices, extras the
    # gaps between them.
    matches: list[str] = []
    extras: list[str] = []
    position = 0
    for _, j, size in blocks:
        extras += state[position:j]
        matches += state[j : j + size]
        position = j + size
    extras += state[position:]
    matched_set = set(matches)
    missing = [symbol for symbol in present_flat if symbol not in matched_set]

    matched, extra = len(matches), len(extras)
    denominator = 2 * matched + extra
    events = list(map(list, pattern.events))
    return {
        "type": "prototypical",
        "name": pattern.name,
        "frequency": pattern.frequency,
        "emotives": average_emotives(pattern.emotives) if pattern.emotives else {},
        "matches": matches,
        "past": events[:start],
        "present": events[start:end],
        "missing": missing,
        "extras": extras,
        "potential": item.potential,
        "evidence": matched / len(flat) if flat else 0.0,
        "similarity": 2.0 * matched / (len(flat) + len(state)),
        "fragmentation": float(len(blocks) - 1),
        "snr": (2 * matched - extra) / denominator if denominator else 0.0,
        "entropy": item.entropy,
        "hamiltonian": item.hamiltonian,
        "grand_hamiltonian": item.grand_hamiltonian,
        "confluence": item.confluence,
        "sequence": events,
        "future": events[end:],
        "confidence": matched / len(present_flat) if present_flat else 0.0,
        "itfdf_similarity": item.itfdf,
    }
