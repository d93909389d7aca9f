"""Prediction objects and every metric of semantics §4.6–§4.14.

Work is split by need: every surviving candidate gets the cheap base metrics and
``potential`` (which ranking needs); entropy, hamiltonians, confluence and the list fields are
built only for the predictions actually returned.
"""

from __future__ import annotations

import math
from bisect import bisect_left
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


@dataclass(slots=True)
class _Scored:
    pattern: PatternView
    blocks: list[Block]
    similarity: float
    present_start: int  # first present event (after the boundary adjustment)
    present_end: int  # one past the last present event
    matched: int
    potential: float = 0.0
    itfdf: float = 0.0


def _round12(value: float) -> float:
    return round(float(value), 12)


def _h2(p: float) -> float:
    return -p * math.log(p, 2) if p > 0 else 0.0


def _hn(p: float, n: int) -> float:
    return -p * math.log(p, n) if p > 0 and n > 1 else 0.0


def _score(pattern: PatternView, blocks: list[Block], state: Sequence[str]) -> _Scored:
    """Base metrics of one candidate: similarity and the present-event range (§4.6, §4.8)."""
    matched = sum(block[2] for block in blocks)
    length = len(pattern.flat) + len(state)
    similarity = 2.0 * matched / length if length else 1.0
    if not blocks:
        return _Scored(pattern, blocks, similarity, 0, len(pattern.events), 0)
    first_i, first_j, _ = blocks[0]
    last_i, _, last_k = blocks[-1]
    start = bisect_left(pattern.bounds, first_i)
    end = bisect_left(pattern.bounds, last_i + last_k, lo=start)
    # Boundary adjustment (§4.8 step 4): membership by value, as the reference does.
    if start > 0 and state[first_j] in pattern.events[start - 1]:
        start -= 1
    return _Scored(pattern, blocks, similarity, start, end, matched)


def _present(scored: _Scored) -> tuple[str, ...]:
    bounds = scored.pattern.bounds
    return scored.pattern.flat[bounds[scored.present_start] : bounds[scored.present_end]]


def rank_predictions(
    state: Sequence[str],
    candidates: Sequence[tuple[PatternView, list[Block]]],
    stats: EnsembleStats,
    max_predictions: int,
) -> list[dict[str, object]]:
    """Ranked prediction objects for the candidates that passed the recall threshold.

    ``candidates`` pairs each surviving pattern with its matching blocks against ``state``
    (an empty block list marks a no-match candidate, kept only at θ = 0).
    """
    if not candidates:
        return []
    scored = [_score(pattern, blocks, state) for pattern, blocks in candidates]
    ensemble_frequency = sum(item.pattern.frequency for item in scored)
    t_sip = stats.total_symbols_in_patterns

    # The probability table covers every symbol in matches or missing of any candidate,
    # which is exactly the union of the candidates' present symbols (§4.11).
    in_table: set[str] = set()
    for item in scored:
        in_table.update(_present(item))

    def prob(symbol: str) -> float:
        if symbol not in in_table or t_sip <= 0:
            return 0.0
        return stats.member_frequency.get(symbol, 0) / t_sip

    state_counts = Counter(state)
    state_weights = {symbol: prob(symbol) * count for symbol, count in state_counts.items()}
    state_norm = math.sqrt(sum(weight * weight for weight in state_weights.values()))
    state_count = len(state)

    for item in scored:
        present_counts = Counter(_present(item))
        item.itfdf = _itfdf(
            state_weights, state_norm, present_counts, prob, item.pattern.frequency, ensemble_frequency
        )
        item.potential = _potential(item, state_count)

    scored.sort(key=lambda item: (-item.potential, item.pattern.name))
    return [_prediction_object(item, state, stats, prob) for item in scored[:max_predictions]]


def _itfdf(
    state_weights: Mapping[str, float],
    state_norm: float,
    present_counts: Mapping[str, int],
    prob: object,
    frequency: int,
    ensemble_frequency: int,
) -> float:
    assert callable(prob)
    if ensemble_frequency <= 0:
        return 0.0
    present_weights = {symbol: prob(symbol) * count for symbol, count in present_counts.items()}
    present_norm = math.sqrt(sum(weight * weight for weight in present_weights.values()))
    if state_norm == 0 or present_norm == 0:
        distance = 1.0
    else:
        dot = sum(weight * present_weights.get(symbol, 0.0) for symbol, weight in state_weights.items())
        distance = 1 - dot / (state_norm * present_norm)
        if math.isnan(distance):
            distance = 1.0
    return _round12(1 - distance * frequency / ensemble_frequency)


def _potential(item: _Scored, state_count: int) -> float:
    """``(evidence + confidence)·snr + itfdf_similarity + 1/(fragmentation+1)`` (§4.12)."""
    matched = item.matched
    extras = state_count - matched
    evidence = matched / len(item.pattern.flat) if item.pattern.flat else 0.0
    present_length = len(_present(item))
    confidence = matched / present_length if present_length else 0.0
    denominator = 2 * matched + extras
    snr = (2 * matched - extras) / denominator if denominator else 0.0
    fragmentation = len(item.blocks) - 1
    phi = 0.0 if fragmentation == -1 else 1 / (fragmentation + 1)
    return _round12((evidence + confidence) * snr + item.itfdf + phi)


def _prediction_object(
    item: _Scored, state: Sequence[str], stats: EnsembleStats, prob: object
) -> dict[str, object]:
    assert callable(prob)
    pattern = item.pattern
    present_flat = _present(item)
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
        "similarity": item.similarity,
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
