"""The §12 metric functions (kato/core/v3_metrics.py) on hand-computed examples."""

from __future__ import annotations

import pytest

from kato.core.v3_metrics import bayesian, future_potentials, intrinsic_entropies, tfidf_score


def test_intrinsic_entropies_use_the_present_distribution_and_global_probabilities() -> None:
    probability = {"a": 0.5, "b": 0.25}.get
    # π = a 2/4, b 1/4, c 1/4: entropy = 0.5·1 + 0.25·2 + 0.25·2 = 1.5 bits; in base
    # T_sym = 4 that is 1.5 / 2 = 0.75; global: −(0.5·log4 0.5 + 0.25·log4 0.25) = 0.25 + 0.25.
    entropy, normalized, global_normalized = intrinsic_entropies(
        ["a", "a", "b", "c"], lambda s: probability(s, 0.0), 4
    )
    assert entropy == pytest.approx(1.5)
    assert normalized == pytest.approx(0.75)
    assert global_normalized == pytest.approx(0.5)


def test_intrinsic_entropies_edge_cases() -> None:
    assert intrinsic_entropies([], lambda s: 1.0, 4) == (0.0, 0.0, 0.0)
    # T_sym = 1 has no logarithm base: the normalised values are 0, the bits are not.
    assert intrinsic_entropies(["a", "b"], lambda s: 0.5, 1) == (1.0, 0.0, 0.0)


def test_tfidf_score_is_the_mean_over_distinct_present_symbols() -> None:
    holding = {"a": 2, "b": 1}
    # a: 2/3 · (log2(4/2) + 1) = 4/3; b: 1/3 · (log2(4/1) + 1) = 1; mean 7/6.
    score = tfidf_score(["a", "a", "b"], lambda s: holding.get(s, 0), 4)
    assert score == pytest.approx(7 / 6)
    assert tfidf_score([], lambda s: 1, 4) == 0.0
    assert tfidf_score(["z"], lambda s: 0, 4) == 0.0  # held by no pattern


def test_bayesian_prior_likelihood_posterior() -> None:
    # priors 1/4, 3/4; joint 0.125, 0.75; posterior 1/7, 6/7.
    (p1, l1, q1), (p2, l2, q2) = bayesian([1, 3], [0.5, 1.0])
    assert (p1, l1, p2, l2) == (0.25, 0.5, 0.75, 1.0)
    assert q1 == pytest.approx(1 / 7) and q2 == pytest.approx(6 / 7)
    assert bayesian([1], [0.0]) == [(1.0, 0.0, 0.0)]


def test_future_potentials_group_identical_futures_after_sorting_events() -> None:
    information, listed = future_potentials(
        [(2, 0.5, [["x", "y"]]), (1, 1.0, [["y", "x"]]), (1, 0.5, [])]
    )
    # Σf = 4; group xy: 2·0.5 + 1·1.0 = 2.0 (two members); group []: 0.5; total 2.5.
    # ws = 0.5·2/4 = 0.25 and 1.0·1/4 = 0.25 -> 0.25 / 0.8; an empty future has 0.
    assert information == [pytest.approx(0.3125), pytest.approx(0.3125), 0.0]
    assert [item["aggregate_potential"] for item in listed] == [
        pytest.approx(0.8),
        pytest.approx(0.2),
    ]
    assert listed[0]["supporting_patterns"] == 2
    assert listed[0]["total_weighted_frequency"] == pytest.approx(2.0)
    assert listed[1]["future"] == []


def test_future_potentials_ties_are_ordered_by_the_future() -> None:
    _, listed = future_potentials([(1, 1.0, [["b"]]), (1, 1.0, [["a"]])])
    assert [item["future"] for item in listed] == [[["a"]], [["b"]]]
    assert future_potentials([]) == ([], [])
