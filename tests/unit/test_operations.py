"""Engine operations of semantics §5, clearing (§3.5, D5) and the emotive window (§1.8, D7)."""

from __future__ import annotations

import pytest

from kato.core.errors import PatternNotFoundError
from kato.core.hashing import pattern_hash
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from tests.unit.engine_helpers import Engine, engine

ABC = "b98534b32c1d7489d4ce1a48724aa65aeecbdba9"


def _abc() -> Engine:
    kato = engine()
    assert kato.learn_events(["a"], ["b"], ["c"]) == "PTRN|" + ABC
    return kato


@pytest.mark.parametrize("name", [ABC, "PTRN|" + ABC])
def test_get_pattern_with_or_without_prefix(name: str) -> None:
    kato = _abc()
    revision = kato.node.knowledge_base.revision()
    assert kato.node.get_pattern(name).to_dict() == {
        "name": "PTRN|" + ABC,
        "pattern_data": [["a"], ["b"], ["c"]],
        "length": 3,
        "frequency": 1,
        "emotives": [],
    }
    assert kato.node.knowledge_base.revision() == revision


@pytest.mark.parametrize("name", [ABC, "PTRN|" + ABC])
def test_delete_pattern_keeps_statistics_and_stops_predicting(name: str) -> None:
    kato = _abc()
    kato.learn_events(["a"], ["b"], ["d"])
    kato.observe_events(["a"], ["b"])
    assert ABC in {p["name"] for p in kato.predictions()}
    stats, totals = kato.symbol_stats(), kato.totals()
    revision = kato.node.knowledge_base.revision()

    kato.node.delete_pattern(name)

    assert kato.node.knowledge_base.revision() > revision
    assert kato.symbol_stats() == stats
    assert kato.totals() == totals == (2, 6, 6)
    assert kato.node.pattern_count == 1
    with pytest.raises(PatternNotFoundError):
        kato.node.get_pattern(ABC)
    assert [p["name"] for p in kato.predictions()] == [pattern_hash([["a"], ["b"], ["d"]])]
    with pytest.raises(PatternNotFoundError):
        kato.node.delete_pattern(name)


def test_relearn_after_delete_starts_a_new_record() -> None:
    kato = _abc()
    kato.learn_events(["a"], ["b"], ["c"])
    kato.node.delete_pattern(ABC)
    kato.learn_events(["a"], ["b"], ["c"])
    assert kato.node.get_pattern(ABC).frequency == 1
    assert kato.symbol_stats()["a"] == (3, 3)
    assert kato.totals() == (3, 9, 9)


def test_update_pattern_overwrites_frequency_and_emotives() -> None:
    kato = _abc()
    kato.observe_events(["a"], ["b"])
    assert kato.predictions()[0]["frequency"] == 1
    revision = kato.node.knowledge_base.revision()

    record = kato.node.update_pattern("PTRN|" + ABC, 7, [{"joy": 1.0}, {"joy": 0.0}], kato.genes)

    assert kato.node.knowledge_base.revision() > revision
    assert (record.frequency, record.to_dict()["emotives"]) == (7, [{"joy": 1.0}, {"joy": 0.0}])
    assert kato.node.get_pattern(ABC) == record
    prediction = kato.predictions()[0]
    assert prediction["frequency"] == 7
    assert prediction["emotives"] == {"joy": 0.5}
    assert kato.totals() == (1, 3, 3)  # statistics are not touched by an update


def test_update_pattern_to_zero_frequency_and_empty_window() -> None:
    kato = _abc()
    record = kato.node.update_pattern(ABC, 0, [], kato.genes)
    assert (record.frequency, record.emotives) == (0, ())


def test_clear_stm_empties_stm_accumulator_and_session_state_only() -> None:
    kato = _abc()
    kato.observe(["a"], emotives={"joy": 1.0})
    kato.observe(["b"])
    time, revision = kato.session.time, kato.node.knowledge_base.revision()

    kato.clear_stm()

    assert kato.session.stm == []
    assert kato.session.emotives == []
    assert kato.session.last_symbols == []
    assert kato.session.percept_data == {}
    assert kato.session.time == time
    assert kato.node.knowledge_base.revision() == revision
    assert kato.predictions() == []
    assert kato.node.cognition_data(kato.session, kato.genes)["emotives"] == {}


def test_emotives_before_clear_stm_never_reach_the_next_pattern() -> None:
    """Decision D5: clear-stm empties the accumulator too."""
    kato = engine()
    kato.observe(["a"], emotives={"fear": 9.0})
    kato.observe([], emotives={"fear": 7.0})
    kato.clear_stm()
    kato.observe(["x"], emotives={"joy": 1.0})
    kato.observe(["y"])
    name = kato.learn()
    assert kato.node.get_pattern(name).to_dict()["emotives"] == [{"joy": 1.0}]


def test_clear_all_forgets_everything_of_the_node() -> None:
    kato = _abc()
    kato.learn_events(["x"], ["y"])
    kato.observe_events(["a"], ["b"])
    assert kato.predictions()
    revision = kato.node.knowledge_base.revision()

    kato.node.clear_all()
    kato.clear_stm()

    assert kato.node.knowledge_base.revision() > revision
    assert kato.node.pattern_count == 0
    assert kato.symbol_stats() == {}
    assert kato.totals() == (0, 0, 0)
    kato.observe_events(["a"], ["b"])
    assert kato.predictions() == []
    assert kato.learn() == "PTRN|" + pattern_hash([["a"], ["b"]])
    kato.observe_events(["a"], ["b"])
    assert [p["frequency"] for p in kato.predictions()] == [1]


def test_pattern_first_learned_without_emotives_then_with_them() -> None:
    """Decision D7: the first learn stores an empty list; a later learn appends to it."""
    kato = _abc()
    assert kato.node.get_pattern(ABC).emotives == ()
    kato.observe(["a"], emotives={"joy": 0.4})
    kato.observe_events(["b"], ["c"])
    kato.learn()
    record = kato.node.get_pattern(ABC)
    assert record.frequency == 2
    assert record.to_dict()["emotives"] == [{"joy": 0.4}]


def test_learn_without_emotives_leaves_the_window_alone() -> None:
    kato = engine()
    kato.observe(["a"], emotives={"joy": 0.4})
    kato.observe(["b"])
    name = kato.learn()
    kato.learn_events(["a"], ["b"])
    record = kato.node.get_pattern(name)
    assert (record.frequency, record.to_dict()["emotives"]) == (2, [{"joy": 0.4}])


def test_emotive_window_rolls_at_persistence() -> None:
    kato = engine(persistence=3)
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        kato.observe(["a"], emotives={"v": value})
        kato.observe(["b"])
        name = kato.learn()
    record = kato.node.get_pattern(name)
    assert record.frequency == 5
    assert record.to_dict()["emotives"] == [{"v": 3.0}, {"v": 4.0}, {"v": 5.0}]
    kato.observe_events(["a"], ["b"])
    assert kato.predictions()[0]["emotives"] == {"v": 4.0}


def test_every_change_bumps_the_revision() -> None:
    kato = engine()
    revisions = [kato.node.knowledge_base.revision()]
    kato.learn_events(["a"], ["b"])
    revisions.append(kato.node.knowledge_base.revision())
    kato.learn_events(["a"], ["b"])
    revisions.append(kato.node.knowledge_base.revision())
    kato.node.update_pattern(
        kato.node.get_pattern(kato.learn_events(["a"], ["b"])).name, 1, [], kato.genes
    )
    revisions.append(kato.node.knowledge_base.revision())
    kato.node.delete_pattern(kato.learn_events(["c"], ["d"]))
    revisions.append(kato.node.knowledge_base.revision())
    kato.node.clear_all()
    revisions.append(kato.node.knowledge_base.revision())
    assert revisions == sorted(set(revisions))


def test_predictions_see_a_learn_at_once() -> None:
    """Decision D1: predictions come from the current STM and the current knowledge base."""
    kato = _abc()
    kato.observe_events(["a"], ["b"])
    assert [p["name"] for p in kato.predictions()] == [ABC]
    other = Engine(genes=kato.genes, node=kato.node)
    other.learn_events(["a"], ["b"], ["z"])
    assert len(kato.predictions()) == 2
    assert kato.session.stm == [["a"], ["b"]]


def test_sessions_of_one_node_share_memory_but_not_stm() -> None:
    kato = _abc()
    other = Engine(genes=kato.genes, node=kato.node)
    kato.observe(["a"], emotives={"joy": 1.0})
    other.observe(["b"])
    assert kato.session.stm == [["a"]]
    assert other.session.stm == [["b"]]
    assert other.session.emotives == []
    other.observe(["c"])
    assert [p["name"] for p in other.predictions()] == [ABC]
    assert kato.predictions() == []


def test_max_predictions_truncates_the_ranked_list() -> None:
    kato = engine(max_predictions=2)
    for tail in ("x", "y", "z"):
        kato.learn_events(["a"], ["b"], [tail])
    kato.learn_events(["a"], ["q"], ["r"])
    kato.observe_events(["a"], ["b"])
    predictions = kato.predictions()
    assert len(predictions) == 2
    wide = kato.node.predictions(kato.session, kato.genes.replace({"max_predictions": 100}))
    assert len(wide) == 4
    assert predictions == wide[:2]


def test_cognition_data_reports_session_state() -> None:
    kato = _abc()
    kato.observe(["a"], emotives={"joy": 1.0})
    kato.observe(["b"], emotives={"joy": 0.0})
    data = kato.node.cognition_data(kato.session, kato.genes)
    assert data["short_term_memory"] == [["a"], ["b"]]
    assert data["symbols"] == ["b"]
    assert data["emotives"] == {"joy": 0.5}
    assert [p["name"] for p in data["predictions"]] == [ABC]


def test_session_state_round_trips_through_a_dict() -> None:
    kato = _abc()
    kato.observe(["a"], emotives={"joy": 1.0})
    copy = SessionState.from_dict(kato.session.to_dict())
    assert copy == kato.session
    kato.node.observe(copy, Observation.parse(["b"]), kato.genes)
    assert kato.session.stm == [["a"]]


def test_zero_frequency_pattern_is_still_predicted_with_zero_ensemble_terms() -> None:
    kato = _abc()
    kato.node.update_pattern(ABC, 0, [], kato.genes)
    kato.observe_events(["a"], ["b"])
    (prediction,) = kato.predictions()
    assert prediction["frequency"] == 0
    assert prediction["itfdf_similarity"] == 0.0  # F_ens = 0 (§4.12)
    assert prediction["confluence"] == 0.0  # P_eh = 0 / T_pf
    assert prediction["potential"] == pytest.approx(2.666666666667, abs=1e-9)


def test_a_deleted_then_relearned_pattern_is_predicted_again() -> None:
    kato = _abc()
    kato.observe_events(["a"], ["b"])
    kato.node.delete_pattern(ABC)
    assert kato.predictions() == []
    Engine(genes=kato.genes, node=kato.node).learn_events(["a"], ["b"], ["c"])
    assert [(p["name"], p["frequency"]) for p in kato.predictions()] == [(ABC, 1)]


def test_archive_keeps_non_empty_predictions_by_unique_id() -> None:
    """D1: with ``archive_predictions`` on, observe computes and archives like the baseline."""
    node = Node("archive", InMemoryKnowledgeBase(), archive_predictions=True)
    kato = Engine(node=node)
    kato.learn_events(["a"], ["b"], ["c"])
    for symbol, unique_id in (("a", "obs-1"), ("b", "obs-2")):
        node.observe(kato.session, Observation.parse([symbol]), kato.genes, unique_id)
    assert node.knowledge_base.archived_predictions("obs-1") == []
    (record,) = node.knowledge_base.archived_predictions("obs-2")
    assert record["unique_id"] == "obs-2"
    assert record["predictions"] == kato.predictions()
