"""§12.16 token weights and weighted metrics, with hand-computed numbers."""

import pytest

from kato.core.affinity import token_weights, weighted_metrics


def test_token_weight_is_abs_affinity_over_frequency_plus_floor():
    weights = token_weights(["a", "b", "z"], {"a": -2.0, "b": 1.0}, {"a": 4, "b": 2})
    assert weights == pytest.approx({"a": 0.51, "b": 0.51, "z": 0.01})


def test_weighted_metrics_sum_weights_with_repetitions():
    weight = {"a": 1.0, "b": 0.5, "c": 0.25, "x": 0.25}
    got = weighted_metrics(["a", "b"], ["a", "b", "c"], ["a", "b", "c"], ["x"], weight)
    # W(m)=1.5, W(pat)=1.75, W(state)=1.75, W(x)=0.25
    assert got["weighted_similarity"] == pytest.approx(3.0 / 3.5)
    assert got["weighted_evidence"] == pytest.approx(1.5 / 1.75)
    assert got["weighted_confidence"] == pytest.approx(1.5 / 1.75)
    assert got["weighted_snr"] == pytest.approx(2.75 / 3.25)


def test_zero_denominators_give_zero():
    got = weighted_metrics([], [], [], [], {})
    assert set(got.values()) == {0.0}
