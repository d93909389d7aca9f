"""The prediction metrics KATO 3.x added (semantics §12.7, §12.8, §12.15): pure functions.

Values are unrounded, as §12.7 and §12.8 say. Sums run in a fixed order (the candidates' or
the present's first-appearance order), so the same inputs always give the same bits.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence


def _entropy_term(p: float, log_base: float) -> float:
    return -p * (math.log(p) / log_base) if p > 0 else 0.0


def intrinsic_entropies(
    present_flat: Sequence[str], probability: Callable[[str], float], t_sym: int
) -> tuple[float, float, float]:
    """``entropy``, ``normalized_entropy``, ``global_normalized_entropy`` of §12.7.

    With ``π(s) = c(s)/|R|`` over the present's symbols: the Shannon entropy of π in bits,
    the same in base ``T_sym``, and ``−Σ_distinct prob(s)·log_{T_sym} prob(s)``. A base
    ``T_sym ≤ 1`` has no logarithm: both normalised values are 0 then, as §4.12's ``hN``.
    """
    counts = Counter(present_flat)
    size = len(present_flat)
    if not size:
        return 0.0, 0.0, 0.0
    log_2 = math.log(2.0)
    log_t_sym = math.log(float(t_sym)) if t_sym > 1 else 0.0
    entropy = normalized = global_normalized = 0.0
    for symbol, count in counts.items():
        share = count / size
        entropy += _entropy_term(share, log_2)
        if log_t_sym:
            normalized += _entropy_term(share, log_t_sym)
            global_normalized += _entropy_term(probability(symbol), log_t_sym)
    return entropy, normalized, global_normalized


def tfidf_score(
    present_flat: Sequence[str], patterns_with_symbol: Callable[[str], int], unique_patterns: int
) -> float:
    """Mean over the present's distinct symbols of ``tf · (log2(N / df) + 1)`` (§12.15), with
    ``tf = c(s)/|R|``, ``N`` the distinct patterns and ``df`` those holding ``s``; a symbol no
    pattern holds (``df = 0``) contributes 0."""
    counts = Counter(present_flat)
    if not counts:
        return 0.0
    size = len(present_flat)
    total = 0.0
    for symbol, count in counts.items():
        holding = patterns_with_symbol(symbol)
        if holding > 0 and unique_patterns > 0:
            total += count / size * (math.log2(unique_patterns / holding) + 1)
    return total / len(counts)


def bayesian(
    frequencies: Sequence[int], similarities: Sequence[float]
) -> list[tuple[float, float, float]]:
    """``(bayesian_prior, bayesian_likelihood, bayesian_posterior)`` per ensemble member
    (§12.15): prior = frequency / Σ frequency, likelihood = similarity, posterior =
    likelihood·prior normalised over the ensemble (0 when every product is 0)."""
    frequency_total = 0
    for frequency in frequencies:
        frequency_total += frequency
    priors = [f / frequency_total if frequency_total else 0.0 for f in frequencies]
    joint = [prior * similarity for prior, similarity in zip(priors, similarities, strict=True)]
    evidence = 0.0
    for value in joint:
        evidence += value
    return [
        (prior, similarity, value / evidence if evidence else 0.0)
        for prior, similarity, value in zip(priors, similarities, joint, strict=True)
    ]


def _future_key(future: Sequence[Sequence[str]]) -> str:
    """Futures are compared after sorting the symbols within each event (§12.8)."""
    return json.dumps([sorted(event) for event in future], separators=(",", ":"))


def future_potentials(
    candidates: Sequence[tuple[int, float, list[list[str]]]],
) -> tuple[list[float], list[dict[str, object]]]:
    """``predictive_information`` per member and the response's ``future_potentials`` (§12.8).

    ``candidates`` are ``(frequency, similarity, future)`` of the ensemble. Every distinct
    future (the empty one included) is a group; the list is sorted by
    ``aggregate_potential`` descending, ties by the future's JSON text (docs/DECISIONS.md).
    """
    frequency_total = 0
    for frequency, _, _ in candidates:
        frequency_total += frequency
    # Grouped by the sorted events as tuples (the same partition as their JSON text, which
    # is computed once per group, for the order of ties).
    keys = [tuple(tuple(sorted(event)) for event in future) for _, _, future in candidates]
    groups: dict[tuple[tuple[str, ...], ...], list] = {}  # -> [future, Σ f·similarity, members]
    for key, (frequency, similarity, future) in zip(keys, candidates, strict=True):
        group = groups.setdefault(key, [future, 0.0, 0])
        group[1] += frequency * similarity
        group[2] += 1
    grand_total = 0.0
    for group in groups.values():
        grand_total += group[1]

    def aggregate(total: float) -> float:
        return total / grand_total if grand_total else 0.0

    information = []
    for key, (frequency, similarity, future) in zip(keys, candidates, strict=True):
        share = aggregate(groups[key][1])
        strength = similarity * (frequency / frequency_total if frequency_total else 0.0)
        information.append(strength / share if future and share else 0.0)
    listed: list[dict[str, object]] = [
        {
            "future": future,
            "aggregate_potential": aggregate(total),
            "supporting_patterns": members,
            "total_weighted_frequency": total,
        }
        for future, total, members in groups.values()
    ]
    listed.sort(key=lambda item: (-float(item["aggregate_potential"]), _future_key(item["future"])))  # type: ignore[arg-type]
    return information, listed
