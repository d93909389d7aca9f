"""Prediction objects and every metric of semantics §4.6–§4.14.

Work is split by need: matching, the threshold, the present range, ``itfdf_similarity`` and
``potential`` of every candidate are computed by the compiled core (``kato.core._matchcore``,
bit-identical to the formulas of §4.11–§4.12); entropy, hamiltonians, confluence and the list
fields are built here only for the predictions actually returned.
"""

from __future__ import annotations

import math
from collections import Counter
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
class EnsembleStats:
    """Knowledge-base statistics read at the start of a prediction (§4.2)."""

    member_frequency: Mapping[str, int]  # pattern_member_frequency per symbol
    total_symbols: int  # T_sym
    total_pattern_frequencies: int  # T_pf
    total_symbols_in_patterns: int  # T_sip


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate chosen for output, with what the compiled ranking computed for it."""

    pattern: PatternView
    blocks: list[Block]
    potential: float
    itfdf: float
    present_start: int  # first present event (after the boundary adjustment)
    present_end: int  # one past the last present event


def _round12(value: float) -> float:
    return round(float(value), 12)


def _h2(p: float) -> float:
    return -p * math.log(p, 2) if p > 0 else 0.0


def _hn(p: float, n: int) -> float:
    return -p * math.log(p, n) if p > 0 and n > 1 else 0.0


def prediction_objects(
    state: Sequence[str], ranked: Sequence[Ranked], stats: EnsembleStats
) -> list[dict[str, object]]:
    """The prediction objects (§4.14) of the ranked candidates, in their order."""
    t_sip = stats.total_symbols_in_patterns

    # Only present symbols are looked up below, and every one of them is in the ensemble's
    # probability table (the union of the candidates' present symbols, §4.11).
    def prob(symbol: str) -> float:
        if t_sip <= 0:
            return 0.0
        return stats.member_frequency.get(symbol, 0) / t_sip

    return [_prediction_object(item, state, stats, prob) for item in ranked]


def _prediction_object(
    item: Ranked, state: Sequence[str], stats: EnsembleStats, prob: object
) -> dict[str, object]:
    assert callable(prob)
    pattern = item.pattern
    present_flat = pattern.flat[
        pattern.bounds[item.present_start] : pattern.bounds[item.present_end]
    ]
    matches = [state[j + offset] for _, j, size in item.blocks for offset in range(size)]
    covered = {j + offset for _, j, size in item.blocks for offset in range(size)}
    extras = [symbol for position, symbol in enumerate(state) if position not in covered]
    matched_set = set(matches)
    missing = [symbol for symbol in present_flat if symbol not in matched_set]

    matched = len(matches)
    evidence = matched / len(pattern.flat) if pattern.flat else 0.0
    confidence = matched / len(present_flat) if present_flat else 0.0
    denominator = 2 * matched + len(extras)
    snr = (2 * matched - len(extras)) / denominator if denominator else 0.0

    t_sym = stats.total_symbols
    present_counts = Counter(present_flat)
    entropy = sum(_h2(prob(symbol)) for symbol in present_flat)
    if present_flat:
        size = len(present_flat)
        hamiltonian = sum(_hn(present_counts[symbol] / size, t_sym) for symbol in present_flat)
        grand_hamiltonian = sum(_hn(prob(symbol), t_sym) for symbol in present_counts)
        log_cp = sum(math.log10(prob(symbol) or 1e-10) for symbol in present_flat)
        combined_probability = 10**log_cp
    else:
        hamiltonian = grand_hamiltonian = combined_probability = 0.0
    t_pf = stats.total_pattern_frequencies
    pattern_probability = pattern.frequency / t_pf if t_pf else 0.0

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
        "entropy": _round12(entropy),
        "hamiltonian": _round12(hamiltonian),
        "grand_hamiltonian": _round12(grand_hamiltonian),
        "confluence": _round12(pattern_probability * (1 - combined_probability)),
        "sequence": events,
        "future": events[item.present_end :],
        "confidence": confidence,
        "itfdf_similarity": item.itfdf,
    }
