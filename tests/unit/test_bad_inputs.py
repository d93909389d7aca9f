"""Bad inputs (issue 2, requirement 7): typed errors, and nothing changed.

Every case starts from a node that already holds a pattern and a session with STM and
emotive accumulator content, so "nothing changed" is a real check: the session's full state
and the knowledge base's revision are compared before and after.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from kato.core.errors import (
    EmptySTMError,
    GeneError,
    KatoError,
    ObservationError,
    PatternNotFoundError,
    ValidationError,
)
from kato.core.genes import Genes
from tests.unit.engine_helpers import Engine, engine

NAN, INF = math.nan, math.inf


@pytest.fixture
def busy() -> Engine:
    kato = engine()
    kato.learn_events(["a"], ["b"], ["c"])
    kato.observe(["a"], emotives={"joy": 0.5})
    kato.observe(["b", "x"])
    kato.predictions()
    return kato


@pytest.mark.parametrize(
    "strings",
    [
        [1],
        ["a", None],
        ["a", 2.5],
        [["nested"]],
        [b"bytes"],
        [True],
        "not-a-list",
        b"bytes",
        5,
        {"a": 1},
    ],
)
def test_bad_strings(busy: Engine, strings: Any) -> None:
    before = busy.snapshot()
    with pytest.raises(ObservationError) as caught:
        busy.observe(strings)
    assert caught.value.details["field"] == "strings"
    assert busy.snapshot() == before


@pytest.mark.parametrize(
    "vectors",
    [
        [["1.0", 2.0]],
        [[None]],
        [[NAN, 1.0]],
        [[INF]],
        [[-INF, 0.0]],
        [[10**400, 1.0]],
        [[True, 1.0]],
        [[1.0], [1.0, 2.0]],
        [[1.0, 2.0], [1.0, 2.0], [3.0]],
        [[]],
        [[1.0], []],
        [1.0, 2.0],
        "vector",
        [None],
        5,
    ],
)
def test_bad_vectors(busy: Engine, vectors: Any) -> None:
    before = busy.snapshot()
    with pytest.raises(ObservationError) as caught:
        busy.observe(["fine"], vectors=vectors)
    assert caught.value.details["field"] == "vectors"
    assert busy.snapshot() == before


@pytest.mark.parametrize(
    "emotives",
    [
        {"joy": "high"},
        {"joy": None},
        {"joy": NAN},
        {"joy": INF},
        {"joy": -INF},
        {"joy": -(10**400)},
        {"joy": True},
        {"joy": [1.0]},
        {"": 1.0},
        {1: 1.0},
        ["joy"],
        "joy",
    ],
)
def test_bad_emotives(busy: Engine, emotives: Any) -> None:
    before = busy.snapshot()
    with pytest.raises(ObservationError) as caught:
        busy.observe(["fine"], emotives=emotives)
    assert caught.value.details["field"] == "emotives"
    assert busy.snapshot() == before


def test_observation_errors_are_typed_validation_errors(busy: Engine) -> None:
    with pytest.raises(ValidationError) as caught:
        busy.observe([1])
    assert isinstance(caught.value, KatoError)
    assert caught.value.code == "KATO_VALIDATION_ERROR"


def test_integers_are_numbers_for_vectors_and_emotives(busy: Engine) -> None:
    busy.observe(["fine"], vectors=[[1, 2]], emotives={"joy": 1})
    assert busy.session.stm[-1][1] == "fine"
    assert busy.session.emotives[-1] == {"joy": 1}


# -- genes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"no_such_gene": 1}, "Unknown gene: no_such_gene"),
        ({"persistence": 0}, "persistence"),
        ({"persistence": 101}, "persistence"),
        ({"recall_threshold": 1.5}, "recall_threshold"),
        ({"recall_threshold": -0.1}, "recall_threshold"),
        ({"recall_threshold": NAN}, "recall_threshold"),
        ({"max_predictions": 0}, "max_predictions"),
        ({"max_predictions": 10001}, "max_predictions"),
        ({"max_pattern_length": -1}, "max_pattern_length"),
        ({"smoothness": 11}, "smoothness"),
        ({"quiescence": 101}, "quiescence"),
        ({"search_depth": 0}, "search_depth"),
        ({"auto_act_threshold": 2.0}, "auto_act_threshold"),
        ({"auto_learn_threshold": 0}, "auto_learn_threshold"),
        ({"persistence": "5"}, "persistence"),
        ({"max_predictions": 1.5}, "max_predictions"),
        ({"max_pattern_length": True}, "max_pattern_length"),
        ({"recall_threshold": "0.5"}, "recall_threshold"),
        ({"sort": "yes"}, "sort"),
        ({"stm_mode": "SIDEWAYS"}, "stm_mode"),
        ({"indexer_type": "KNN"}, "indexer_type"),
        ({"auto_act_method": "always"}, "auto_act_method"),
    ],
)
def test_bad_gene_is_a_gene_error(changes: dict[str, Any], mentions: str) -> None:
    genes = Genes()
    with pytest.raises(GeneError) as caught:
        genes.replace(changes)
    assert len(caught.value.errors) == 1
    assert mentions in caught.value.errors[0]
    assert caught.value.details["validation_errors"] == caught.value.errors
    assert genes == Genes()


def test_gene_error_lists_every_problem() -> None:
    genes = Genes().replace({"recall_threshold": 0.3})
    with pytest.raises(GeneError) as caught:
        genes.replace(
            {
                "bogus": 1,
                "persistence": 0,
                "recall_threshold": "high",
                "max_predictions": 2.5,
                "stm_mode": "NOPE",
                "max_pattern_length": 3,
            }
        )
    errors = caught.value.errors
    assert len(errors) == 5
    for name in ("bogus", "persistence", "recall_threshold", "max_predictions", "stm_mode"):
        assert sum(name in error for error in errors) == 1, name
    assert not any("max_pattern_length" in error for error in errors)
    assert genes.recall_threshold == 0.3
    assert genes.max_pattern_length == 0


def test_gene_boundaries_are_accepted() -> None:
    genes = Genes().replace(
        {
            "persistence": 100,
            "recall_threshold": 0,
            "max_predictions": 10000,
            "max_pattern_length": 0,
            "stm_mode": "ROLLING",
        }
    )
    assert genes.recall_threshold == 0.0
    assert Genes().replace({"persistence": 1, "recall_threshold": 1}).recall_threshold == 1.0
    # JSON (and JSON Schema's "integer") does not tell 7.0 from 7.
    assert Genes().replace({"persistence": 7.0, "max_predictions": 20.0}).persistence == 7


# -- update pattern, learn ---------------------------------------------------------------------

PATTERN = "PTRN|b98534b32c1d7489d4ce1a48724aa65aeecbdba9"


@pytest.mark.parametrize(
    ("frequency", "emotives"),
    [
        (1, [{"joy": 1.0}] * 6),
        (-1, []),
        (True, []),
        (1.5, []),
        ("2", []),
        (1, [{"joy": "high"}]),
        (1, [{"joy": NAN}]),
        (1, [{"joy": True}]),
        (1, [{"joy": 10**400}]),
        (1, [{"": 1.0}]),
        (1, ["joy"]),
    ],
)
def test_bad_update_pattern(busy: Engine, frequency: Any, emotives: Any) -> None:
    before = busy.snapshot()
    record = busy.node.get_pattern(PATTERN)
    with pytest.raises(ValidationError):
        busy.node.update_pattern(PATTERN, frequency, emotives, busy.genes)
    assert busy.snapshot() == before
    assert busy.node.get_pattern(PATTERN) == record


def test_update_pattern_window_follows_persistence(busy: Engine) -> None:
    small = busy.genes.replace({"persistence": 2})
    before = busy.snapshot()
    with pytest.raises(ValidationError):
        busy.node.update_pattern(PATTERN, 1, [{"a": 1.0}] * 3, small)
    assert busy.snapshot() == before
    record = busy.node.update_pattern(PATTERN, 0, [{"a": 1.0}] * 2, small)
    assert (record.frequency, len(record.emotives)) == (0, 2)


@pytest.mark.parametrize("name", ["PTRN|" + "0" * 40, "0" * 40, "", "PTRN|"])
def test_unknown_pattern_operations(busy: Engine, name: str) -> None:
    before = busy.snapshot()
    with pytest.raises(PatternNotFoundError):
        busy.node.get_pattern(name)
    with pytest.raises(PatternNotFoundError):
        busy.node.delete_pattern(name)
    with pytest.raises(PatternNotFoundError):
        busy.node.update_pattern(name, 1, [], busy.genes)
    assert busy.snapshot() == before


def test_learn_on_empty_stm(busy: Engine) -> None:
    busy.clear_stm()
    busy.observe([], emotives={"joy": 1.0})
    before = busy.snapshot()
    with pytest.raises(EmptySTMError) as caught:
        busy.learn()
    assert caught.value.code == "KATO_EMPTY_STM"
    assert "empty" in caught.value.message.lower()
    assert busy.snapshot() == before


@pytest.mark.parametrize("changes", [None, [("persistence", 3)], "persistence=3"])
def test_genes_must_be_a_mapping(changes: Any) -> None:
    with pytest.raises(GeneError):
        Genes().replace(changes)


def test_sort_and_its_alias_together_are_refused() -> None:
    with pytest.raises(GeneError) as caught:
        Genes().replace({"sort_symbols": "x", "sort": True, "persistence": 0})
    assert len(caught.value.errors) == 2
    assert "sort_symbols" in caught.value.errors[0]
    assert "persistence" in caught.value.errors[1]
    with pytest.raises(GeneError):
        Genes().replace({"sort_symbols": False, "sort": False})
    with pytest.raises(GeneError):
        Genes().replace({"sort_symbols": "yes"})
    assert Genes().replace({"sort_symbols": False}).sort is False
