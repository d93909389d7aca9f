"""Prediction objects and every metric of semantics §4.6–§4.14.

Work is split by need. The compiled core (``kato.core._matchcore``) matches every candidate,
applies the threshold and computes the present range, ``itfdf_similarity`` and ``potential``
that ranking needs; for the predictions actually returned it also gives the blocks, entropy,
hamiltonians and confluence — bit-identical to the formulas of §4.10–§4.12 (docs/ENGINE.md).
Here, only the returned predictions are turned into objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate chosen for output, with what the compiled ranking computed for it."""

    pattern: PatternView
    blocks: Sequence[Block]
    potential: float
    itfdf: float
    present_start: int  # first present event (after the boundary adjustment)
    present_end: int  # one past the last present event
    entropy: float
    hamiltonian: float
    grand_hamiltonian: float
    confluence: float


def prediction_objects(state: Sequence[str], ranked: Sequence[Ranked]) -> list[dict[str, object]]:
    """The prediction objects (§4.14) of the ranked candidates, in their order."""
    return [_prediction_object(item, state) for item in ranked]


def _prediction_object(item: Ranked, state: Sequence[str]) -> dict[str, object]:
    pattern = item.pattern
    present_flat = pattern.flat[
        pattern.bounds[item.present_start] : pattern.bounds[item.present_end]
    ]
    # Blocks increase in both sequences: matches are the state's block slices, extras the
    # gaps between them.
    matches: list[str] = []
    extras: list[str] = []
    position = 0
    for _, j, size in item.blocks:
        extras += state[position:j]
        matches += state[j : j + size]
        position = j + size
    extras += state[position:]
    matched_set = set(matches)
    missing = [symbol for symbol in present_flat if symbol not in matched_set]

    matched = len(matches)
    evidence = matched / len(pattern.flat) if pattern.flat else 0.0
    confidence = matched / len(present_flat) if present_flat else 0.0
    denominator = 2 * matched + len(extras)
    snr = (2 * matched - len(extras)) / denominator if denominator else 0.0

    events = [list(event) for event in pattern.events]
    return {
        "type": "prototypical",
        "name": pattern.name,
        "frequency": pattern.frequency,
        "emotives": average_emotives(pattern.emotives),
        "matches": matches,
        "past": events[: item.present_start],
        "present": events[item.present_start : item.present_end],
        "missing": missing,
        "extras": extras,
        "potential": item.potential,
        "evidence": evidence,
        "similarity": 2.0 * matched / (len(pattern.flat) + len(state)),
        "fragmentation": float(len(item.blocks) - 1),
        "snr": snr,
        "entropy": item.entropy,
        "hamiltonian": item.hamiltonian,
        "grand_hamiltonian": item.grand_hamiltonian,
        "confluence": item.confluence,
        "sequence": events,
        "future": events[item.present_end :],
        "confidence": confidence,
        "itfdf_similarity": item.itfdf,
    }
