"""The §12 prediction pipeline (kato/engine/v3_predictions.py): semantics §12.6, §12.8,
§12.9, §12.11 with their worked examples, and deterministic ranking by every metric."""

from __future__ import annotations

import math
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core.genes import Genes, RankMetric
from tests.unit.engine_helpers import Engine


def _engine(*patterns: list[list[str]], **genes: Any) -> Engine:
    kato = Engine(genes=Genes(**genes))
    for events in patterns:
        kato.learn_events(*events)
    return kato


def _result(kato: Engine) -> Any:
    return kato.node.prediction_result(kato.session, kato.genes)


# -- §12.6 event-structured missing / extras ------------------------------------------------


def test_12_6_worked_example_missing_and_extras_by_event() -> None:
    kato = _engine([["a", "b"], ["c", "d"]], missing_extras_by_event=True)
    kato.observe_events(["a", "x"], ["c", "y"])
    (prediction,) = kato.predictions()
    assert prediction["missing"] == [["b"], ["d"]]
    assert prediction["extras"] == [["x"], ["y"]]
    assert prediction["snr"] == pytest.approx((4 - 2) / (4 + 2))


def test_12_6_snr_counts_every_extra_across_the_sublists() -> None:
    kato = _engine([["a", "b"], ["c", "d"]], missing_extras_by_event=True)
    kato.observe_events(["a", "x", "z"], ["c"], ["w"])
    (prediction,) = kato.predictions()
    assert prediction["extras"] == [["x", "z"], [], ["w"]]
    assert prediction["snr"] == pytest.approx((2 * 2 - 3) / (2 * 2 + 3))
    phi = 1.0 / (prediction["fragmentation"] + 1.0)
    expected = (prediction["evidence"] + prediction["confidence"]) * prediction["snr"]
    assert prediction["potential"] == pytest.approx(expected + prediction["itfdf_similarity"] + phi)


def test_12_6_extras_are_symbols_absent_from_the_whole_present() -> None:
    # Matches a, b: the present is [a], [b]; c lies after it (in the future), so it is an
    # extra of its STM event, and the empty events stay as empty sublists.
    kato = _engine([["a"], ["b"], ["c"]], missing_extras_by_event=True)
    kato.observe_events(["a"], ["c"], ["b"])
    (prediction,) = kato.predictions()
    assert prediction["present"] == [["a"], ["b"]]
    assert prediction["extras"] == [[], ["c"], []]


# -- §12.8 predictive information and future potentials --------------------------------------


def _two_futures(**genes: Any) -> Engine:
    kato = _engine([["a"], ["b"], ["c"]], [["a"], ["b"], ["c"]], [["a"], ["b"], ["d"]], **genes)
    kato.observe_events(["a"], ["b"])
    return kato


def test_12_8_predictive_information_over_the_ensemble() -> None:
    predictions, futures = _result(_two_futures(predictive_information=True))
    by_future = {str(p["future"]): p for p in predictions}
    # pp = 2/3 and 1/3, ws = 0.8·pp; group totals 2·0.8 and 1·0.8, aggregates 2/3 and 1/3.
    assert by_future["[['c']]"]["predictive_information"] == pytest.approx((0.8 * 2 / 3) / (2 / 3))
    assert by_future["[['d']]"]["predictive_information"] == pytest.approx((0.8 / 3) / (1 / 3))
    assert [f["future"] for f in futures] == [[["c"]], [["d"]]]
    assert [f["aggregate_potential"] for f in futures] == pytest.approx([2 / 3, 1 / 3])


def test_12_8_empty_future_has_no_predictive_information() -> None:
    kato = _engine([["a"], ["b"]], predictive_information=True)
    kato.observe_events(["a"], ["b"])
    (prediction,) = kato.predictions()
    assert prediction["future"] == []
    assert prediction["predictive_information"] == 0.0


def test_12_8_potential_is_unrounded() -> None:
    # §4.15.2's potential is 1.54044011452 after round12; §12.8 keeps the exact sum.
    kato = _engine([["a", "b"], ["c", "d"]], predictive_information=True)
    kato.observe_events(["a", "x"], ["c", "y"])
    (prediction,) = kato.predictions()
    exact = (0.5 + 0.5) * (1 / 3) + prediction["itfdf_similarity"] + 0.5
    assert prediction["potential"] == exact
    assert prediction["potential"] != round(exact, 12)


def test_12_8_off_means_no_field_and_null_future_potentials() -> None:
    predictions, futures = _result(_two_futures(extended_metrics=True))
    assert futures is None
    assert all("predictive_information" not in p for p in predictions)


def test_12_8_future_potentials_list_when_nothing_is_predicted() -> None:
    kato = _engine(predictive_information=True)
    assert _result(kato) == ([], [])


# -- §12.9 ranking and ensemble pre-pruning ---------------------------------------------------


def _four_branches(**genes: Any) -> Engine:
    kato = _engine(
        [["a"], ["b"], ["c"]],
        [["a"], ["b"], ["c"], ["d"]],
        [["a"], ["x"]],
        [["a"], ["y"], ["z"], ["w"]],
        extended_metrics=True,
        **genes,
    )
    kato.observe_events(["a"], ["b"])
    return kato


def test_12_9_prepruning_keeps_three_times_max_predictions_for_the_ensemble() -> None:
    pruned = _four_branches(max_predictions=1, ensemble_prepruning=True).predictions()
    whole = _four_branches(max_predictions=1).predictions()
    assert [p["name"] for p in pruned] == [p["name"] for p in whole]
    # The ensemble of §4.11/§12.15 is the 3 best pre-potentials, not all 4 survivors.
    assert pruned[0]["bayesian_prior"] == pytest.approx(1 / 3)
    assert whole[0]["bayesian_prior"] == pytest.approx(1 / 4)


def test_12_9_prepruning_drops_the_worst_pre_potential() -> None:
    kato = _four_branches(max_predictions=1, ensemble_prepruning=True, rank_sort_algo="frequency")
    ranked = kato.predictions()
    # Ranked by frequency (all 1) the name decides among the 3 kept; [a, y, z, w] (the
    # lowest pre-potential: evidence 1/4, snr 1/3) is never among them.
    lowest = _four_branches(max_predictions=4).predictions()[-1]["name"]
    assert ranked[0]["name"] == min(
        p["name"] for p in _four_branches(max_predictions=4).predictions() if p["name"] != lowest
    )


def test_12_9_prepruning_is_exact_when_survivors_fit() -> None:
    for max_predictions in (2, 100):
        pruned = _four_branches(max_predictions=max_predictions, ensemble_prepruning=True)
        plain = _four_branches(max_predictions=max_predictions)
        assert pruned.predictions() == plain.predictions()


_ALL_FIELDS = dict(extended_metrics=True, predictive_information=True, entropy_metrics="intrinsic")
_symbols = st.sampled_from("abcde")
_patterns = st.lists(
    st.lists(st.lists(_symbols, min_size=1, max_size=2), min_size=2, max_size=4),
    min_size=1,
    max_size=6,
)


@settings(max_examples=30, deadline=None)
@given(
    patterns=_patterns,
    observed=st.lists(st.lists(_symbols, min_size=1, max_size=2), min_size=2, max_size=3),
    metric=st.sampled_from(get_args(RankMetric)),
)
def test_12_9_every_rank_metric_orders_descending_with_name_ties(
    patterns: list[list[list[str]]], observed: list[list[str]], metric: str
) -> None:
    kato = _engine(*patterns, rank_sort_algo=metric, max_predictions=3, **_ALL_FIELDS)
    kato.observe_events(*observed)
    first = kato.predictions()
    keys = [(-p[metric], p["name"]) for p in first]
    assert keys == sorted(keys)
    # Deterministic: a fresh engine with the same history gives the same list.
    again = _engine(*patterns, rank_sort_algo=metric, max_predictions=3, **_ALL_FIELDS)
    again.observe_events(*observed)
    assert again.predictions() == first


# -- §12.11 single-symbol predictions ---------------------------------------------------------


def _single(**genes: Any) -> Engine:
    kato = _engine(
        [["a"], ["b"], ["c"]],
        [["b"], ["a"], ["d"]],
        [["x", "a"], ["y"]],
        single_symbol_predictions=True,
        **genes,
    )
    kato.observe_events(["a"])
    return kato


def test_12_11_candidates_start_with_the_observed_symbol() -> None:
    predictions = _single().predictions()
    assert sorted(p["pattern_data"] for p in predictions) == [
        [["a"], ["b"], ["c"]],
        [["a", "x"], ["y"]],
    ]


def test_12_11_base_fields_flat_lists_and_fast_potential() -> None:
    (abc,) = [p for p in _single().predictions() if p["pattern_data"][0] == ["a"]]
    assert set(abc) == {
        "name", "frequency", "emotives", "matches", "past", "present", "future", "missing",
        "extras", "similarity", "evidence", "confidence", "snr", "fragmentation", "anomalies",
        "weighted_similarity", "weighted_evidence", "weighted_confidence", "weighted_snr",
        "pattern_data", "length", "potential",
    }  # fmt: skip
    assert (abc["past"], abc["present"], abc["future"]) == ([], ["a"], ["b", "c"])
    assert abc["snr"] == 1.0  # m / (m + x) = 1 / 1
    assert abc["potential"] == pytest.approx((1 / 3 + 1.0) * 1.0 + 1.0)
    (first_event,) = [p for p in _single().predictions() if p["pattern_data"][0] == ["a", "x"]]
    assert first_event["present"] == ["a", "x"]
    assert first_event["missing"] == ["x"]
    assert first_event["future"] == ["y"]
    assert first_event["confidence"] == 0.5


def test_12_11_off_one_symbol_predicts_nothing() -> None:
    kato = _engine([["a"], ["b"]], extended_metrics=True)
    kato.observe_events(["a"])
    assert kato.predictions() == []


def test_12_11_threshold_is_zero_on_the_fast_path() -> None:
    long = [[symbol] for symbol in "abcdefghijklmnopqrst"]  # similarity 2/21 < θ = 0.1
    kato = _engine(long, single_symbol_predictions=True, recall_threshold=0.5)
    kato.observe_events(["a"])
    (prediction,) = kato.predictions()
    assert prediction["similarity"] == pytest.approx(2 / 21)


# -- §12.7 intrinsic entropies ----------------------------------------------------------------


def test_12_7_intrinsic_entropies_from_the_present() -> None:
    kato = _engine([["a"], ["b"], ["c"]], entropy_metrics="intrinsic")
    kato.observe_events(["a"], ["b"])
    (prediction,) = kato.predictions()
    assert "hamiltonian" not in prediction and "grand_hamiltonian" not in prediction
    assert prediction["entropy"] == pytest.approx(1.0)  # two symbols, π = 1/2 each
    assert prediction["normalized_entropy"] == pytest.approx(math.log(2, 3))  # T_sym = 3
    # baseline statistics: prob = 1/3 for a and b → 2 · (1/3) · log_3 3
    assert prediction["global_normalized_entropy"] == pytest.approx(2 / 3)


# -- the baseline path --------------------------------------------------------------------------


def test_default_genes_take_the_baseline_path() -> None:
    kato = _engine([["a"], ["b"], ["c"]])
    kato.observe_events(["a"], ["b"])
    predictions, futures = _result(kato)
    assert futures is None
    assert "pattern_data" not in predictions[0] and "anomalies" not in predictions[0]
    assert predictions[0]["potential"] == 3.666666666667
