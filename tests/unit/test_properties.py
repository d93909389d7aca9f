"""Property tests of predictions: determinism, learn-order independence and value ranges.

Small alphabets keep collisions (shared symbols, repeats, ties) frequent, which is where
ordering and threshold bugs hide.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.engine_helpers import Engine, engine

# Each test runs against the compiled core and its pure-Python fallback.
pytestmark = pytest.mark.usefixtures("prediction_core")

SYMBOLS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
EVENTS = st.lists(st.lists(SYMBOLS, min_size=1, max_size=3), min_size=1, max_size=5)
PATTERNS = EVENTS.filter(lambda events: sum(map(len, events)) >= 2)
STATES = st.lists(st.lists(SYMBOLS, min_size=1, max_size=3), min_size=1, max_size=4).filter(
    lambda events: sum(map(len, events)) >= 2
)
THRESHOLDS = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.8, 1.0]) | st.floats(0.0, 1.0)
CASES = settings(max_examples=150, deadline=None)


def _identity(events: list[list[str]]) -> str:
    # Learning sorts inside events, so two inputs that sort alike are one pattern.
    return repr([sorted(event) for event in events])


DISTINCT_PATTERNS = st.lists(PATTERNS, min_size=1, max_size=8, unique_by=_identity)


def _predict(
    patterns: list[list[list[str]]], state: list[list[str]], genes: Mapping[str, Any]
) -> list[dict[str, Any]]:
    kato = engine(**genes)
    for events in patterns:
        kato.learn_events(*events)
    kato.observe_events(*state)
    return kato.predictions()


@CASES
@given(patterns=DISTINCT_PATTERNS, state=STATES, threshold=THRESHOLDS)
def test_predictions_are_identical_across_runs(
    patterns: list[list[list[str]]], state: list[list[str]], threshold: float
) -> None:
    genes = {"recall_threshold": threshold}
    first = json.dumps(_predict(patterns, state, genes))
    second = json.dumps(_predict(patterns, state, genes))
    assert first == second


@CASES
@given(
    patterns=DISTINCT_PATTERNS,
    state=STATES,
    threshold=THRESHOLDS,
    max_predictions=st.integers(1, 10),
    data=st.data(),
)
def test_predictions_do_not_depend_on_learn_order(
    patterns: list[list[list[str]]],
    state: list[list[str]],
    threshold: float,
    max_predictions: int,
    data: st.DataObject,
) -> None:
    reordered = data.draw(st.permutations(patterns))
    genes = {"recall_threshold": threshold, "max_predictions": max_predictions}
    assert json.dumps(_predict(patterns, state, genes)) == json.dumps(
        _predict(reordered, state, genes)
    )


@CASES
@given(
    patterns=DISTINCT_PATTERNS,
    relearned=st.lists(st.integers(0, 7), max_size=4),
    state=STATES,
    threshold=THRESHOLDS,
    max_predictions=st.integers(1, 10),
)
def test_every_prediction_respects_threshold_and_ranges(
    patterns: list[list[list[str]]],
    relearned: list[int],
    state: list[list[str]],
    threshold: float,
    max_predictions: int,
) -> None:
    kato: Engine = engine(recall_threshold=threshold, max_predictions=max_predictions)
    for events in patterns + [patterns[i % len(patterns)] for i in relearned]:
        kato.learn_events(*events)
    kato.observe_events(*state)
    predictions = kato.predictions()

    assert len(predictions) <= max_predictions
    assert len({p["name"] for p in predictions}) == len(predictions)
    for prediction in predictions:
        assert prediction["similarity"] >= threshold
        assert 0.0 <= prediction["confidence"] <= 1.0
        assert -1.0 <= prediction["snr"] <= 1.0
        assert 0.0 <= prediction["evidence"] <= 1.0
        assert 0.0 <= prediction["itfdf_similarity"] <= 1.0
        assert prediction["entropy"] >= 0.0
        assert prediction["frequency"] >= 1
    ranking = [(-p["potential"], p["name"]) for p in predictions]
    assert ranking == sorted(ranking)


@CASES
@given(patterns=DISTINCT_PATTERNS, state=STATES)
def test_theta_zero_returns_every_pattern(
    patterns: list[list[list[str]]], state: list[list[str]]
) -> None:
    """Decision D2: the threshold is the only filter, so θ = 0 keeps every pattern."""
    predictions = _predict(patterns, state, {"recall_threshold": 0.0, "max_predictions": 100})
    assert len(predictions) == len(patterns)
    for prediction in predictions:
        if not prediction["matches"]:
            assert prediction["similarity"] == 0.0
            assert prediction["fragmentation"] == -1.0
            assert prediction["extras"] == [s for event in state for s in sorted(event)]


@CASES
@given(patterns=st.lists(PATTERNS, min_size=1, max_size=10))
def test_totals_agree_with_patterns_and_symbol_statistics(
    patterns: list[list[list[str]]],
) -> None:
    """§1.10: T_pf = Σ frequency, T_sip = Σ pattern_member_frequency, and the symbol
    frequencies sum to total_symbol_frequencies."""
    kato = engine()
    names = {kato.learn_events(*events) for events in patterns}
    stats = kato.symbol_stats()
    t_pf, t_sf, t_sip = kato.totals()
    assert t_pf == len(patterns) == sum(kato.node.get_pattern(n).frequency for n in names)
    assert t_sf == sum(frequency for frequency, _ in stats.values())
    assert t_sf == sum(map(len, (s for events in patterns for s in events)))
    assert t_sip == sum(member for _, member in stats.values())
    assert set(stats) == {s for events in patterns for event in events for s in event}


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("learn"), PATTERNS),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("update"), st.integers(0, 20), st.integers(0, 5)),
        st.tuples(st.just("clear_all")),
    ),
    min_size=1,
    max_size=12,
)


def _apply(kato: Engine, operation: tuple[Any, ...]) -> None:
    learned = sorted(record.name for record in kato.node.knowledge_base.changes_since(-1).patterns)
    if operation[0] == "learn":
        kato.learn_events(*operation[1])
    elif learned and operation[0] == "delete":
        kato.node.delete_pattern(learned[operation[1] % len(learned)])
    elif learned and operation[0] == "update":
        name = learned[operation[1] % len(learned)]
        kato.node.update_pattern(name, operation[2], [{"e": 1.0}], kato.genes)
    elif operation[0] == "clear_all":
        kato.node.clear_all()


@CASES
@given(operations=OPERATIONS, state=STATES, threshold=THRESHOLDS)
def test_incrementally_refreshed_index_equals_a_cold_one(
    operations: list[tuple[Any, ...]], state: list[list[str]], threshold: float
) -> None:
    """The node's index catches up through ``changes_since`` after every change; a node that
    predicts after each operation must end where a node that predicts only once ends."""
    warm, cold = engine(recall_threshold=threshold), engine(recall_threshold=threshold)
    probe = Engine(genes=warm.genes, node=warm.node)
    probe.observe_events(*state)
    for operation in operations:
        _apply(warm, operation)
        _apply(cold, operation)
        probe.predictions()
    warm.observe_events(*state)
    cold.observe_events(*state)
    assert json.dumps(warm.predictions()) == json.dumps(cold.predictions())
    assert json.dumps(probe.predictions()) == json.dumps(cold.predictions())
