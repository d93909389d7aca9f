"""Matching modes, fuzzy tokens and symbol affinity (semantics §12.3, §12.14, §12.16), from
the text: one test per rule, worked examples computed by hand (RapidFuzz's ``fuzz.ratio``
is the normalised Indel similarity, ``1 - (|a| + |b| - 2·LCS) / (|a| + |b|)``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core.errors import GeneError
from kato.core.genes import Genes
from kato.engine.index import PatternIndex
from tests.unit.engine_helpers import Engine


def _engine(*patterns: list[list[str]], **genes: Any) -> Engine:
    kato = Engine(genes=Genes(**genes))
    for events in patterns:
        kato.learn_events(*events)
    return kato


def _index(kato: Engine) -> PatternIndex:
    return kato.node.refresh()


# -- §12.3 the settings ---------------------------------------------------------------------


def test_12_3_use_token_matching_without_sort_symbols_sets_it_alike() -> None:
    assert Genes().replace({"use_token_matching": False}).sort is False
    assert Genes(sort=False).replace({"use_token_matching": True}).sort is True
    # Given together, each keeps its own value.
    both = Genes().replace({"use_token_matching": False, "sort_symbols": True})
    assert (both.use_token_matching, both.sort) == (False, True)


@pytest.mark.parametrize(
    "changes",
    [
        {"fuzzy_token_threshold": 1.5},
        {"fuzzy_token_threshold": "0.5"},
        {"use_token_matching": "no"},
        {"affinity_emotive": ""},
        {"affinity_emotive": 3},
    ],
)
def test_12_3_bad_matching_settings_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(GeneError):
        Genes().replace(changes)


# -- §12.14 character-level matching ----------------------------------------------------------


def test_12_14_character_matching_uses_the_similarity_of_the_joined_strings() -> None:
    kato = _engine([["hello"], ["world"]], use_token_matching=False, recall_threshold=0.5)
    kato.observe_events(["helo"], ["world"])
    (prediction,) = kato.predictions()
    # "hello world" (11) vs "helo world" (10): LCS 10, 1 - 1/21.
    assert prediction["similarity"] == pytest.approx(20 / 21)
    # Blocks stay symbol-level: only "world" is a matched symbol, "helo" an extra.
    assert prediction["matches"] == ["world"]
    assert prediction["extras"] == ["helo"]


def test_12_14_character_matching_admits_patterns_without_a_shared_symbol() -> None:
    kato = _engine([["abcd"], ["efgh"]], use_token_matching=False, recall_threshold=0.6)
    kato.observe_events(["abce"], ["efgx"])
    (prediction,) = kato.predictions()
    # "abcd efgh" vs "abce efgx": LCS "abc efg" (7 of 9 + 9).
    assert prediction["similarity"] == pytest.approx(14 / 18)
    assert prediction["matches"] == []
    # Token matching finds nothing: no shared symbol.
    assert (
        _engine([["abcd"], ["efgh"]], recall_threshold=0.6).node.predictions(
            kato.session, Genes(recall_threshold=0.6)
        )
        == []
    )


def test_12_14_character_threshold_selects_the_survivors() -> None:
    kato = _engine([["aaaa"], ["bbbb"]], [["zzzz"], ["yyyy"]], use_token_matching=False)
    kato.genes = kato.genes.replace({"recall_threshold": 0.5})
    kato.observe_events(["aaaa"], ["bbbx"])
    assert [p["pattern_data"] for p in _all_fields(kato)] == [[["aaaa"], ["bbbb"]]]


def _all_fields(kato: Engine) -> list[dict[str, Any]]:
    kato.genes = kato.genes.replace({"extended_metrics": True})
    return kato.predictions()


# -- §12.14 fuzzy tokens ------------------------------------------------------------------------


def test_12_14_fuzzy_token_matches_the_most_similar_pattern_symbol() -> None:
    kato = _engine([["hello"], ["world"], ["end"]], fuzzy_token_threshold=0.8)
    kato.observe_events(["helo"], ["world"])
    (prediction,) = kato.predictions()
    assert prediction["anomalies"] == [
        {"observed": "helo", "expected": "hello", "similarity": pytest.approx(8 / 9)}
    ]
    # missing / extras honour the fuzzy match: helo counts as hello.
    assert prediction["matches"] == ["hello", "world"]
    assert prediction["extras"] == [] and prediction["missing"] == []
    assert prediction["similarity"] == pytest.approx(2 * 2 / (3 + 2))


def test_12_14_fuzzy_below_threshold_is_no_match() -> None:
    kato = _engine([["hello"], ["world"], ["end"]], fuzzy_token_threshold=0.95)
    kato.observe_events(["helo"], ["world"])
    (prediction,) = kato.predictions()
    assert prediction["anomalies"] == []
    assert prediction["extras"] == ["helo"]
    assert prediction["matches"] == ["world"]


def test_12_14_fuzzy_ties_go_to_the_first_name() -> None:
    # "abx" is 2/3 similar to both "abc" and "abd": the earlier name wins.
    kato = _engine([["abd", "abc"], ["q"]], fuzzy_token_threshold=0.6, sort=False)
    kato.observe_events(["abx"], ["q"])
    (prediction,) = kato.predictions()
    assert prediction["anomalies"] == [
        {"observed": "abx", "expected": "abc", "similarity": pytest.approx(2 / 3)}
    ]


def test_12_14_fuzzy_is_per_pattern_and_exact_symbols_win() -> None:
    # In the first pattern "cat" is present; in the second only "car" resembles it.
    kato = _engine([["cat"], ["dog"]], [["car"], ["dog"]], fuzzy_token_threshold=0.6)
    kato.observe_events(["cat"], ["dog"])
    by_first = {p["present"][0][0]: p for p in kato.predictions()}
    assert by_first["cat"]["anomalies"] == []
    assert by_first["car"]["anomalies"] == [
        {"observed": "cat", "expected": "car", "similarity": pytest.approx(2 / 3)}
    ]
    assert by_first["car"]["matches"] == ["car", "dog"]


def test_12_14_fuzzy_by_event_extras_name_the_observed_symbols() -> None:
    kato = _engine(
        [["hello"], ["world"]],
        fuzzy_token_threshold=0.8,
        missing_extras_by_event=True,
    )
    kato.observe_events(["helo"], ["world", "zzz"])
    (prediction,) = kato.predictions()
    assert prediction["extras"] == [[], ["zzz"]]
    assert prediction["missing"] == [[], []]


def test_12_14_anomalies_are_emitted_only_when_fuzzy_or_extended() -> None:
    kato = _engine([["a"], ["b"], ["c"]], predictive_information=True)
    kato.observe_events(["a"], ["b"])
    assert "anomalies" not in kato.predictions()[0]
    kato.genes = kato.genes.replace({"fuzzy_token_threshold": 0.5})
    assert kato.predictions()[0]["anomalies"] == []


_symbols = st.sampled_from(["ab", "abc", "abd", "b", "bc", "cd", "xyz"])
_patterns = st.lists(
    st.lists(st.lists(_symbols, min_size=1, max_size=2), min_size=2, max_size=4),
    min_size=1,
    max_size=6,
)
_observed = st.lists(st.lists(_symbols, min_size=1, max_size=2), min_size=2, max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    patterns=_patterns,
    observed=_observed,
    threshold=st.sampled_from([0.0, 0.1, 0.5]),
    fuzzy_threshold=st.sampled_from([0.0, 1.0]),
)
def test_12_14_fuzzy_that_pairs_nothing_equals_exact_matching(
    patterns: list[list[list[str]]],
    observed: list[list[str]],
    threshold: float,
    fuzzy_threshold: float,
) -> None:
    """Threshold 0 is exact matching; threshold 1 pairs no two different symbols, so the
    fuzzy path (every reachable pattern a candidate, no per-pattern state) must give exact
    matching's predictions byte for byte."""
    genes: dict[str, Any] = dict(extended_metrics=True, recall_threshold=threshold)
    exact = _engine(*patterns, **genes)
    exact.observe_events(*observed)
    fuzzy = _engine(*patterns, fuzzy_token_threshold=fuzzy_threshold, **genes)
    fuzzy.observe_events(*observed)
    assert fuzzy.predictions() == exact.predictions()


@settings(max_examples=40, deadline=None)
@given(patterns=_patterns, observed=_observed)
def test_12_14_own_states_equal_to_the_state_change_nothing(
    patterns: list[list[list[str]]], observed: list[list[str]]
) -> None:
    """Per-slot states (the Python core, the path fuzzy tokens take), each equal to the
    shared state, score exactly as the shared state does in the serving core."""
    kato = _engine(*patterns)
    index = _index(kato)
    state = [symbol for event in observed for symbol in event]
    ids = index.state_ids(state)
    slots = index.live_slots()
    shared = index.score(ids, slots, 0.1, 100)
    own = index.score(ids, slots, 0.1, 100, slot_states={int(s): ids for s in slots})
    assert own == shared


# -- §12.16 affinity -------------------------------------------------------------------------


def _moods() -> Engine:
    kato = Engine()
    kato.observe(["a"], emotives={"joy": 1.0})
    kato.observe(["b"])
    kato.learn()
    kato.observe(["a"], emotives={"joy": -3.0, "fear": 0.5})
    kato.observe(["c"])
    kato.learn()
    return kato


def test_12_16_affinity_sums_frequency_times_mean_over_patterns_holding_the_symbol() -> None:
    index = _index(_moods())
    assert index.affinities("a") == {"fear": 0.5, "joy": -2.0}
    assert index.affinities("b") == {"joy": 1.0}
    assert index.affinity("c", "joy") == -3.0
    assert index.affinity("b", "fear") == 0.0
    assert index.affinities("unknown") == {}


def test_12_16_affinity_counts_frequency_and_follows_deletes() -> None:
    kato = _moods()
    kato.observe(["a"], emotives={"joy": 1.0})
    kato.observe(["b"])
    first = kato.learn()  # frequency 2, mean joy 1.0
    assert _index(kato).affinity("a", "joy") == 2.0 * 1.0 - 3.0
    kato.node.delete_pattern(first)
    assert _index(kato).affinities("a") == {"fear": 0.5, "joy": -3.0}


def test_12_16_weighted_metrics_and_potential() -> None:
    kato = _moods()
    kato.genes = Genes(affinity_emotive="joy")
    kato.observe_events(["a"], ["b"])
    by_future = {p["name"]: p for p in kato.predictions()}
    # w = |affinity| / frequency + 0.01: a 2/2, b 1/1, c 3/1 (+ 0.01 each).
    w_a, w_b, w_c = 1.01, 1.01, 3.01
    (ab,) = [p for p in by_future.values() if p["matches"] == ["a", "b"]]
    (ac,) = [p for p in by_future.values() if p["matches"] == ["a"]]
    assert ab["weighted_similarity"] == pytest.approx(1.0)
    assert ac["weighted_evidence"] == pytest.approx(w_a / (w_a + w_c))
    assert ac["weighted_confidence"] == pytest.approx(1.0)  # the present is [a]
    assert ac["weighted_snr"] == pytest.approx((2 * w_a - w_b) / (2 * w_a + w_b))
    assert ac["weighted_similarity"] == pytest.approx(2 * w_a / (w_a + w_c + w_a + w_b))
    # The weighted metrics replace the unweighted ones in the potential.
    phi = 1.0 / (ac["fragmentation"] + 1.0)
    expected = (ac["weighted_evidence"] + ac["weighted_confidence"]) * ac["weighted_snr"]
    assert ac["potential"] == pytest.approx(expected + ac["itfdf_similarity"] + phi)
    assert ac["potential"] != pytest.approx(
        (ac["evidence"] + ac["confidence"]) * ac["snr"] + ac["itfdf_similarity"] + phi
    )


def test_12_16_without_affinity_emotive_weighted_equal_unweighted() -> None:
    kato = _moods()
    kato.genes = Genes(extended_metrics=True)
    kato.observe_events(["a"], ["b"])
    for prediction in kato.predictions():
        for field in ("similarity", "evidence", "confidence", "snr"):
            assert prediction[f"weighted_{field}"] == prediction[field]


def test_12_16_unknown_affinity_emotive_weighs_every_symbol_alike() -> None:
    kato = _moods()
    kato.genes = Genes(affinity_emotive="nobody-feels-this")
    kato.observe_events(["a"], ["b"])
    for prediction in kato.predictions():  # every weight is 0.01: ratios are unweighted
        assert prediction["weighted_evidence"] == pytest.approx(prediction["evidence"])
        assert prediction["weighted_snr"] == pytest.approx(prediction["snr"])


def test_12_16_single_symbol_fast_path_is_weighted_too() -> None:
    kato = _moods()
    kato.genes = Genes(affinity_emotive="joy", single_symbol_predictions=True)
    kato.observe_events(["a"])
    for prediction in kato.predictions():
        expected = (prediction["weighted_evidence"] + prediction["weighted_confidence"]) * (
            prediction["weighted_snr"]
        )
        assert prediction["potential"] == pytest.approx(expected + 1.0)
