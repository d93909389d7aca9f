"""Symbol affinity and affinity-weighted metrics (semantics §12.16).

A symbol's affinity for an emotive is §1.9's ``emotives.<key>``: the sum of the zero-filtered
averaged emotive value over the learns whose pattern held the symbol. The knowledge base keeps
each pattern's window of those averages, so the sum is read from the patterns (decision in
docs/DECISIONS.md: equal to §1.9 while no window was trimmed by ``persistence``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# The +0.01 of §12.16: a symbol with no affinity (or no statistics) still counts a little.
WEIGHT_FLOOR = 0.01


def token_weights(
    symbols: Iterable[str], affinity: Mapping[str, float], frequency: Mapping[str, int]
) -> dict[str, float]:
    """w(t) = |affinity(t)| / frequency(t) + 0.01; a symbol of frequency 0 (state-only,
    no statistics) gets only the floor."""
    weights: dict[str, float] = {}
    for symbol in symbols:
        count = frequency.get(symbol, 0)
        share = abs(affinity.get(symbol, 0.0)) / count if count else 0.0
        weights[symbol] = share + WEIGHT_FLOOR
    return weights


def _total(symbols: Iterable[str], weight: Mapping[str, float]) -> float:
    # Repetitions count again, as the counts of §4.10 do.
    return sum(weight.get(symbol, WEIGHT_FLOOR) for symbol in symbols)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def weighted_metrics(
    matches: Sequence[str],
    pattern_flat: Sequence[str],
    present_flat: Sequence[str],
    extras: Sequence[str],
    weight: Mapping[str, float],
) -> dict[str, float]:
    """The §4.10 metrics with sums of weights instead of counts (0.0 on a zero denominator).
    The state of the similarity is the matched symbols plus the extras."""
    w_m = _total(matches, weight)
    w_p = _total(pattern_flat, weight)
    w_x = _total(extras, weight)
    w_state = w_m + w_x
    return {
        "weighted_similarity": _ratio(2 * w_m, w_p + w_state),
        "weighted_evidence": _ratio(w_m, w_p),
        "weighted_confidence": _ratio(w_m, _total(present_flat, weight)),
        "weighted_snr": _ratio(2 * w_m - w_x, 2 * w_m + w_x),
    }


def affinities(knowledge_base: Any, emotive: str | None = None) -> dict[str, dict[str, float]]:
    """symbol -> {emotive: affinity} over every pattern of the knowledge base (one pass)."""
    sums: dict[str, dict[str, float]] = {}
    for record in knowledge_base.iter_patterns():
        learned: dict[str, float] = {}
        for entry in record.emotives:
            for key, value in entry.items():
                if emotive is None or key == emotive:
                    learned[key] = learned.get(key, 0.0) + value
        for symbol in {s for event in record.events for s in event}:
            own = sums.setdefault(symbol, {})
            for key, value in learned.items():
                own[key] = own.get(key, 0.0) + value
    return sums


def symbol_affinity(knowledge_base: Any, symbols: Iterable[str], emotive: str) -> dict[str, float]:
    """Affinity of each of ``symbols`` for ``emotive`` (0.0 for a symbol never learned with it)."""
    wanted = set(symbols)
    sums = affinities(knowledge_base, emotive)
    return {symbol: sums.get(symbol, {}).get(emotive, 0.0) for symbol in wanted}
