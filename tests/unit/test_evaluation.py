"""Next-event scoring of ``kato evaluate`` (kato/core/evaluation.py), checked by hand."""

from __future__ import annotations

import pytest

from kato.core.evaluation import Scorer, aggregate_guesses, prefixes, top_guesses


def prediction(future: list[list[str]], frequency: int = 1, similarity: float = 1.0) -> dict:
    return {"future": future, "frequency": frequency, "similarity": similarity}


def test_top_guesses_are_distinct_first_future_events_in_rank_order() -> None:
    ranked = [
        prediction([["b", "a"], ["z"]]),
        prediction([]),  # no future: guesses nothing
        prediction([["a", "b"]]),  # same event as the first (symbols have no order)
        prediction([["c"]]),
    ]
    assert top_guesses(ranked) == [("a", "b"), ("c",)]


def test_aggregate_guesses_vote_over_identical_futures() -> None:
    ranked = [
        prediction([["x"]], frequency=3, similarity=0.5),  # group x: 1.5
        prediction([["y"], ["q"]], frequency=1, similarity=0.9),  # group y,q: 0.9 + 0.9
        prediction([["y"], ["q"]], frequency=1, similarity=0.9),
        prediction([["y"]], frequency=1, similarity=0.4),  # group y: 0.4 (y already guessed)
    ]
    assert aggregate_guesses(ranked) == [("y",), ("x",)]
    assert top_guesses(ranked) == [("x",), ("y",)]


def test_scorer_figures_computed_by_hand() -> None:
    scorer = Scorer(k=2)
    scorer.add([prediction([["a"]]), prediction([["b"]])], ["a"])  # rank 1
    scorer.add([prediction([["a"]]), prediction([["b"]])], ["b"])  # rank 2
    scorer.add([prediction([["a"]]), prediction([["b"]]), prediction([["c"]])], ["c"])  # rank 3
    scorer.add([], ["a"])  # no prediction: not covered, a miss
    top = scorer.figures()["top"]
    assert top == {
        "accuracy_at_1": 1 / 4,
        "accuracy_at_2": 2 / 4,
        "mrr": (1 + 1 / 2 + 1 / 3) / 4,
        "coverage": 3 / 4,
    }
    assert scorer.prefixes == 4


def test_empty_data_scores_zero_and_k_must_be_positive() -> None:
    assert Scorer(k=3).figures()["aggregate"]["accuracy_at_3"] == 0
    with pytest.raises(ValueError, match="k must be at least 1"):
        Scorer(k=0)


def test_prefixes_of_a_sequence() -> None:
    assert list(prefixes([["a"], ["b", "c"], ["d"]])) == [
        ([["a"]], ["b", "c"]),
        ([["a"], ["b", "c"]], ["d"]),
    ]
    assert list(prefixes([["a"]])) == []
