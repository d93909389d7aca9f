"""Observations → STM: semantics §2.2–§2.4 and the worked examples of §2.9."""

from __future__ import annotations

import pytest

from kato.core.observation import Observation, event_of
from tests.unit.engine_helpers import engine

VCTR_123 = "VCTR|fe5de4472f7e4d5c9cdd19cadebfa06fe3da8e43"
VCTR_SUM = "VCTR|f11daefdddee30b6a7a043c084fad802f0553a99"


@pytest.mark.parametrize(
    ("observations", "stm"),
    [
        ([{"strings": ["hello"]}], [["hello"]]),
        ([{"strings": ["a", "b", "c"]}], [["a", "b", "c"]]),
        (
            [{"strings": ["first"]}, {"strings": ["second"]}, {"strings": ["third"]}],
            [["first"], ["second"], ["third"]],
        ),
        (
            [{"strings": ["hello@world", "123-456", "test_case", "with spaces"]}],
            [["123-456", "hello@world", "test_case", "with spaces"]],
        ),
        ([{"strings": ["1", "2", "3", "4.5", "-1"]}], [["-1", "1", "2", "3", "4.5"]]),
        ([{"vectors": [[1.0, 2.0, 3.0]]}], [[VCTR_123]]),
        (
            [
                {
                    "strings": ["multi", "modal"],
                    "vectors": [[0.5, 0.5], [1.0, 0.0]],
                    "emotives": {"arousal": 0.7, "valence": 0.3},
                }
            ],
            [[VCTR_SUM, "modal", "multi"]],
        ),
        ([{"strings": ["a"]}, {}, {"strings": ["b"]}], [["a"], ["b"]]),
        ([{"strings": [], "emotives": {"joy": 0.5}}], []),
    ],
)
def test_worked_examples_of_2_9(observations: list[dict], stm: list[list[str]]) -> None:
    kato = engine()
    for observation in observations:
        kato.observe(**observation)
    assert kato.session.stm == stm


def test_emotive_only_observation_fills_the_accumulator() -> None:
    kato = engine()
    kato.observe([], emotives={"joy": 0.5})
    assert kato.session.emotives == [{"joy": 0.5}]
    assert kato.session.stm == []


@pytest.mark.parametrize(
    ("strings", "event"),
    [
        (["z", "a", "m"], ["a", "m", "z"]),
        (["3", "1", "2"], ["1", "2", "3"]),
        (["Zoo", "Apple", "apple"], ["Apple", "Zoo", "apple"]),
        (["test_2", "test_1", "test_10"], ["test_1", "test_10", "test_2"]),
        (["!special", "@symbol", "#hash"], ["!special", "#hash", "@symbol"]),
        (["10", "2", "1", "20", "100", "3"], ["1", "10", "100", "2", "20", "3"]),
        (["z", "", "a", "middle"], ["", "a", "middle", "z"]),
        (
            ["zebra", "Zebra", "ZEBRA", "apple", "Apple", "APPLE"],
            ["APPLE", "Apple", "ZEBRA", "Zebra", "apple", "zebra"],
        ),
        (
            ["école", "zebra", "åpple", "ñoño", "normal"],
            ["normal", "zebra", "åpple", "école", "ñoño"],
        ),
        (["a", "b", "a", "c", "b"], ["a", "a", "b", "b", "c"]),
    ],
)
def test_sorting_examples_of_2_3(strings: list[str], event: list[str]) -> None:
    kato = engine()
    kato.observe(strings)
    assert kato.session.stm == [event]
    assert event == sorted(strings)


def test_vector_symbol_comes_before_sorted_strings() -> None:
    kato = engine()
    kato.observe(["multi", "modal"], vectors=[[1.0, 2.0, 3.0]])
    assert kato.session.stm == [[VCTR_123, "modal", "multi"]]


def test_event_order_is_never_changed() -> None:
    kato = engine()
    kato.observe_events(["z", "y", "x"], ["c", "b", "a"], ["3", "2", "1"])
    assert kato.session.stm == [["x", "y", "z"], ["a", "b", "c"], ["1", "2", "3"]]


def test_sort_off_keeps_client_order_with_vector_first() -> None:
    kato = engine(sort=False)
    kato.observe(["z", "a", "m"])
    kato.observe(["b", "a"], vectors=[[1.0, 2.0, 3.0]])
    assert kato.session.stm == [["z", "a", "m"], [VCTR_123, "b", "a"]]


def test_sort_symbols_alias_is_accepted() -> None:
    kato = engine(sort_symbols=False)
    kato.observe(["b", "a"])
    assert kato.session.stm == [["b", "a"]]


def test_empty_observation_counts_time_and_changes_no_stm() -> None:
    kato = engine()
    outcomes = [kato.observe(["first"]), kato.observe([]), kato.observe(["second"])]
    assert [outcome.time for outcome in outcomes] == [1, 2, 3]
    assert [outcome.stm_length for outcome in outcomes] == [1, 1, 2]
    assert kato.session.stm == [["first"], ["second"]]
    assert kato.session.last_symbols == ["second"]


def test_empty_string_is_a_symbol() -> None:
    kato = engine()
    kato.observe([""])
    assert kato.session.stm == [[""]]


def test_percept_data_keeps_strings_as_sent() -> None:
    kato = engine()
    kato.observe(["b", "a"], emotives={"joy": 1})
    percept = kato.session.percept_data
    assert percept["strings"] == ["b", "a"]
    assert percept["emotives"] == {"joy": 1}
    assert percept["vectors"] == []
    assert percept["metadata"] == {}


def test_event_of_is_pure() -> None:
    observation = Observation.parse(["b", "a"], None, None)
    assert event_of(observation, sort=True) == ["a", "b"]
    assert event_of(observation, sort=False) == ["b", "a"]
    assert observation.strings == ("b", "a")
