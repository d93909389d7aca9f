"""Learning (semantics §3), auto-learn (§2.6) and the STM modes CLEAR / ROLLING (§12.2)."""

from __future__ import annotations

import pytest

from kato.core.emotives import average_emotives
from kato.core.errors import EmptySTMError
from kato.core.hashing import pattern_hash
from tests.unit.engine_helpers import engine


@pytest.mark.parametrize(
    ("events", "stored"),
    [
        ([["single"]], False),
        ([["lonely"]], False),
        ([["a", "b"]], True),
        ([["alpha", "beta", "gamma"]], True),
        ([["a"], ["b"]], True),
    ],
)
def test_minimum_size_rule_of_3_2(events: list[list[str]], stored: bool) -> None:
    kato = engine()
    name = kato.learn_events(*events)
    assert kato.session.stm == []
    assert kato.session.emotives == []
    assert name == (f"PTRN|{pattern_hash(events)}" if stored else "")
    assert kato.node.pattern_count == (1 if stored else 0)


def test_three_vector_events_are_learned() -> None:
    kato = engine()
    for vector in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]):
        kato.observe(vectors=[vector])
    name = kato.learn()
    assert name.startswith("PTRN|") and len(name) == 45
    assert kato.session.stm == []
    record = kato.node.get_pattern(name)
    assert all(event[0].startswith("VCTR|") for event in record.events)


def test_learn_on_empty_stm_raises_and_changes_nothing() -> None:
    kato = engine()
    kato.observe([], emotives={"joy": 1.0})
    before = kato.snapshot()
    with pytest.raises(EmptySTMError):
        kato.learn()
    assert kato.snapshot() == before


def test_example_1_hello_world_test() -> None:
    kato = engine()
    name = kato.learn_events(["hello"], ["world"], ["test"])
    assert name == "PTRN|386fbb12926e8e015a1483990df913e8410f94ce"
    assert kato.session.stm == []
    assert kato.session.time == 3  # learning does not count time (§2.7)
    assert kato.node.get_pattern(name).to_dict() == {
        "name": name,
        "pattern_data": [["hello"], ["world"], ["test"]],
        "length": 3,
        "frequency": 1,
        "emotives": [],
    }
    assert kato.symbol_stats() == {"hello": (1, 1), "world": (1, 1), "test": (1, 1)}
    assert kato.totals() == (1, 3, 3)


def test_example_2_emotives_are_averaged_and_do_not_change_identity() -> None:
    kato = engine()
    for symbol, happiness, confidence in (
        ("hello", 0.8, 0.6),
        ("world", 0.9, 0.7),
        ("test", 0.7, 0.8),
    ):
        kato.observe([symbol], emotives={"happiness": happiness, "confidence": confidence})
    name = kato.learn()
    assert name == "PTRN|386fbb12926e8e015a1483990df913e8410f94ce"
    emotives = kato.node.get_pattern(name).to_dict()["emotives"]
    assert emotives == [{"happiness": 0.8000000000000002, "confidence": 0.6999999999999998}]


def test_example_3_relearning_counts_frequency_and_statistics() -> None:
    kato = engine()
    names = {kato.learn_events(["freq"], ["test"]) for _ in range(3)}
    assert names == {"PTRN|cdc97c096121064c55c205a036cd89bddea99743"}
    assert kato.node.pattern_count == 1
    assert kato.node.get_pattern("cdc97c096121064c55c205a036cd89bddea99743").frequency == 3
    assert kato.symbol_stats() == {"freq": (3, 3), "test": (3, 3)}
    assert kato.totals() == (3, 6, 6)


def test_example_4_two_events_of_two_symbols() -> None:
    kato = engine()
    assert kato.learn_events(["a", "b"], ["c", "d"]) == (
        "PTRN|0979c1024e7a5c6bf7c542ef1a2b8226d8fd50a3"
    )


def test_example_5_duplicates_are_kept_and_counted() -> None:
    kato = engine()
    kato.learn_events(["x"], ["y"])  # T_sip = 2 before the example's learn
    name = kato.learn_events(["a", "b", "a", "c", "b"])
    assert name == "PTRN|e44785238903d9f1584ee93fe2d62c89c06ac164"
    record = kato.node.get_pattern(name)
    assert record.events == (("a", "a", "b", "b", "c"),)
    assert record.length == 5
    stats = kato.symbol_stats()
    assert (stats["a"], stats["b"], stats["c"]) == ((2, 1), (2, 1), (1, 1))
    assert kato.totals() == (2, 7, 5)


def test_example_6_single_symbol_stores_nothing() -> None:
    kato = engine()
    revision = kato.node.knowledge_base.revision()
    assert kato.learn_events(["single"]) == ""
    assert kato.session.stm == []
    assert kato.node.knowledge_base.revision() == revision
    assert kato.totals() == (0, 0, 0)


def test_single_symbol_learn_still_empties_the_accumulator() -> None:
    kato = engine()
    kato.observe(["single"], emotives={"joy": 1.0})
    assert kato.learn() == ""
    assert kato.session.emotives == []
    kato.observe_events(["a"], ["b"])
    assert kato.node.get_pattern(kato.learn()).emotives == ()


def test_zero_averaged_emotives_are_dropped_but_the_object_is_recorded() -> None:
    kato = engine()
    kato.observe(["a"], emotives={"up": 1.0, "flat": 1.0})
    kato.observe(["b"], emotives={"flat": -1.0})
    name = kato.learn()
    assert kato.node.get_pattern(name).to_dict()["emotives"] == [{"up": 1.0}]
    kato.observe(["a"], emotives={"flat": 0.0})
    kato.observe(["b"])
    kato.learn()
    assert kato.node.get_pattern(name).to_dict()["emotives"] == [{"up": 1.0}, {}]


# -- auto-learn (§2.6) ------------------------------------------------------------------------


def test_baseline_auto_learn_mpl_3() -> None:
    kato = engine(max_pattern_length=3)
    expected = [
        ("auto1", [["auto1"]], None),
        ("auto2", [["auto1"], ["auto2"]], None),
        ("auto3", [["auto3"]], "PTRN|4963c35c13162166f7bc236e9201f1db718e5b64"),
        ("auto4", [["auto3"], ["auto4"]], None),
        ("auto5", [["auto5"]], "PTRN|eb91f38ed1db99cd5d839598f8feed347a9f1728"),
    ]
    for symbol, stm, learned in expected:
        outcome = kato.observe([symbol])
        assert kato.session.stm == stm
        assert outcome.auto_learned_pattern == learned
        assert outcome.stm_length == len(stm)
    record = kato.node.get_pattern("eb91f38ed1db99cd5d839598f8feed347a9f1728")
    assert record.events == (("auto3",), ("auto4",), ("auto5",))


def test_baseline_auto_learn_mpl_2() -> None:
    kato = engine(max_pattern_length=2)
    assert kato.observe(["x"]).auto_learned_pattern is None
    outcome = kato.observe(["y"])
    assert outcome.auto_learned_pattern == "PTRN|0b546fe2eec70a7c81a07579fb158530cdcb848a"
    assert kato.session.stm == [["y"]]


def test_baseline_auto_learn_mpl_1() -> None:
    kato = engine(max_pattern_length=1)
    outcome = kato.observe(["x"])
    assert outcome.auto_learned_pattern is None
    assert kato.session.stm == []
    assert kato.node.pattern_count == 0
    outcome = kato.observe(["x", "y"])
    assert outcome.auto_learned_pattern == "PTRN|c3b367b4220bbad461c262cd25f811de62e07115"
    assert kato.session.stm == []


def test_auto_learn_counts_events_not_empty_observations() -> None:
    kato = engine(max_pattern_length=2)
    kato.observe(["x"])
    assert kato.observe([], emotives={"joy": 1.0}).auto_learned_pattern is None
    assert kato.session.stm == [["x"]]


def test_auto_learn_does_not_carry_tail_emotives() -> None:
    kato = engine(max_pattern_length=2)
    kato.observe(["a"], emotives={"joy": 1.0})
    first = kato.observe(["b"], emotives={"joy": 0.0, "fear": 2.0}).auto_learned_pattern
    assert first is not None
    assert kato.session.emotives == []
    second = kato.observe(["c"]).auto_learned_pattern
    assert second is not None
    assert kato.node.get_pattern(first).to_dict()["emotives"] == [{"joy": 0.5, "fear": 2.0}]
    assert kato.node.get_pattern(second).to_dict()["emotives"] == []


def test_auto_learn_learns_the_whole_stm_when_mpl_was_lowered() -> None:
    kato = engine()
    kato.observe_events(["a"], ["b"], ["c"])
    kato.genes = kato.genes.replace({"max_pattern_length": 2})
    outcome = kato.observe(["d"])
    assert outcome.auto_learned_pattern == "PTRN|" + pattern_hash([["a"], ["b"], ["c"], ["d"]])
    assert kato.session.stm == [["d"]]


def test_clear_mode_empties_stm_after_auto_learn() -> None:
    kato = engine(max_pattern_length=3, stm_mode="CLEAR")
    outcomes = kato.observe_events(["a"], ["b"], ["c"], ["d"])
    assert [o.auto_learned_pattern for o in outcomes] == [
        None,
        None,
        "PTRN|" + pattern_hash([["a"], ["b"], ["c"]]),
        None,
    ]
    assert kato.session.stm == [["d"]]


def test_rolling_mode_learns_every_window() -> None:
    kato = engine(max_pattern_length=3, stm_mode="ROLLING")
    outcomes = kato.observe_events(["a"], ["b"], ["c"], ["d"])
    assert [o.auto_learned_pattern for o in outcomes] == [
        None,
        None,
        "PTRN|" + pattern_hash([["a"], ["b"], ["c"]]),
        "PTRN|" + pattern_hash([["b"], ["c"], ["d"]]),
    ]
    assert kato.session.stm == [["c"], ["d"]]


@pytest.mark.parametrize("mode", ["CLEAR", "ROLLING"])
def test_single_event_modes_with_mpl_1(mode: str) -> None:
    kato = engine(max_pattern_length=1, stm_mode=mode)
    assert kato.observe(["x"]).auto_learned_pattern is None
    assert kato.observe(["x", "y"]).auto_learned_pattern == (
        "PTRN|c3b367b4220bbad461c262cd25f811de62e07115"
    )
    assert kato.session.stm == []


# -- emotive averaging (§1.8) -----------------------------------------------------------------


def test_averaging_example_of_1_8() -> None:
    averaged = average_emotives([{"e1": 4, "e2": 5}, {"e2": 6}, {"e1": 5, "e3": -4}])
    assert averaged == {"e1": 4.5, "e2": 5.5, "e3": -4.0}
    assert all(type(value) is float for value in averaged.values())
    assert average_emotives([]) == {}


def test_learned_emotives_average_over_observations_that_carry_the_key() -> None:
    kato = engine()
    kato.observe(["a"], emotives={"e1": 4, "e2": 5})
    kato.observe([], emotives={"e2": 6})
    kato.observe(["b"], emotives={"e1": 5, "e3": -4})
    assert kato.node.cognition_data(kato.session, kato.genes)["emotives"] == {
        "e1": 4.5,
        "e2": 5.5,
        "e3": -4.0,
    }
    name = kato.learn()
    assert kato.node.get_pattern(name).to_dict()["emotives"] == [{"e1": 4.5, "e2": 5.5, "e3": -4.0}]
