"""The §12 metric functions (kato/core/v3_metrics.py) on hand-computed examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core.genes import Genes
from kato.core.v3_metrics import bayesian, future_potentials, intrinsic_entropies, tfidf_score
from tests.unit.engine_helpers import Engine


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


# -- §12.12: both rule sets from one knowledge base ------------------------------------------

_SYMBOLS = st.sampled_from(["a", "b", "c", "d"])
_PATTERN = st.lists(st.lists(_SYMBOLS, min_size=1, max_size=2), min_size=1, max_size=3)
_STEP = st.tuples(st.sampled_from(["v2", "v3", "delete"]), _PATTERN)


@settings(max_examples=40, deadline=None)
@given(st.lists(_STEP, min_size=1, max_size=12))
def test_v2_and_v3_sessions_of_one_node_each_get_their_own_statistics(steps: list) -> None:
    """Learns through a v2 and a v3 session of one node, interleaved with deletes: the index
    gives each rule set the numbers a from-scratch count of its own rule gives."""
    v2 = Engine()
    node = v2.node
    v3 = Engine(genes=Genes(statistics_rules="distinct_patterns"), node=node)
    learned: list[str] = []
    for kind, events in steps:
        if kind == "delete":
            if learned:
                name = learned.pop(0)
                if node.knowledge_base.get_pattern(name.removeprefix("PTRN|")) is not None:
                    node.delete_pattern(name)
            continue
        session = v2 if kind == "v2" else v3
        name = session.learn_events(*events)
        if name:
            learned.append(name)
        v3.predictions()  # both sessions predict from the one index between learns
        v2.predictions()
    index = node.refresh()
    live = [record for record in node.knowledge_base.iter_patterns()]
    stored = v2.symbol_stats()
    assert index.unique_patterns == len(live)
    for symbol in ["a", "b", "c", "d"]:
        holding = sum(1 for record in live if any(symbol in event for event in record.events))
        assert index.patterns_with_symbol(symbol) == holding
        assert index.member_frequency(symbol) == stored.get(symbol, (0, 0))[1]
