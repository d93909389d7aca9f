"""The edge cases pinned by the baseline tests (semantics §9, items 1–38), at engine level.

Every case runs with the baseline test settings: θ = 0.1, max_pattern_length 0,
persistence 5. Test names carry the item number of §9.
"""

from __future__ import annotations

import re

import pytest

from kato.core.hashing import pattern_hash
from tests.unit.engine_helpers import Engine, engine

NAME = re.compile(r"^PTRN\|[0-9a-f]{40}$")


def _learned(*sequences: list[list[str]]) -> Engine:
    kato = engine()
    for events in sequences:
        kato.learn_events(*events)
    return kato


def _singles(*symbols: str) -> list[list[str]]:
    return [[symbol] for symbol in symbols]


def _only_for(kato: Engine, events: list[list[str]]) -> dict:
    name = pattern_hash(events)
    (prediction,) = [p for p in kato.predictions() if p["name"] == name]
    return prediction


# -- Observation / STM -------------------------------------------------------------------------


def test_01_single_and_multi_symbol_observations() -> None:
    kato = engine()
    kato.observe(["hello"])
    assert kato.session.stm == [["hello"]]
    kato.clear_stm()
    kato.observe(["a", "b", "c"])
    assert kato.session.stm == [["a", "b", "c"]]


def test_02_three_single_symbol_observations_in_order() -> None:
    kato = engine()
    kato.observe_events(["one"], ["two"], ["three"])
    assert kato.session.stm == [["one"], ["two"], ["three"]]


def test_03_empty_observations_are_skipped() -> None:
    kato = engine()
    outcomes = [
        kato.observe(["first"]),
        kato.observe([], []),
        kato.observe(["second"]),
        kato.observe([], []),
        kato.observe(["third"]),
    ]
    assert kato.session.stm == [["first"], ["second"], ["third"]]
    assert outcomes[1].auto_learned_pattern is None
    assert outcomes[-1].time == 5


@pytest.mark.parametrize(
    "strings",
    [
        ["z", "", "a", "middle"],
        ["Zoo", "Apple", "apple", "ZEBRA", "zebra"],
        ["10", "2", "1", "20", "100", "3"],
        ["!special", "@symbol", "#hash", "with spaces", "tab\tsymbol"],
        ["école", "zebra", "åpple", "ñoño", "normal", "日本", "Ωmega"],
    ],
)
def test_04_sorting_matches_python_sorted(strings: list[str]) -> None:
    kato = engine()
    kato.observe(strings)
    assert kato.session.stm == [sorted(strings)]


def test_05_vector_only_observations() -> None:
    kato = engine()
    kato.observe(vectors=[[0.1, 0.2, 0.3]])
    assert len(kato.session.stm) == 1
    assert len(kato.session.stm[0]) == 1
    assert kato.session.stm[0][0].startswith("VCTR|")
    kato.observe(vectors=[[0.4, 0.5, 0.6]])
    kato.observe(vectors=[[0.7, 0.8, 0.9]])
    assert len(kato.session.stm) == 3
    assert all(len(event) == 1 and event[0].startswith("VCTR|") for event in kato.session.stm)
    assert NAME.match(kato.learn())
    assert kato.session.stm == []


def test_06_mixed_observation_puts_modal_before_multi() -> None:
    kato = engine()
    kato.observe(["multi", "modal"], vectors=[[0.5, 0.5], [1.0, 0.0]])
    event = kato.session.stm[0]
    assert event[0].startswith("VCTR|")
    assert event.index("modal") < event.index("multi")


def test_07_hundred_element_vector() -> None:
    kato = engine()
    kato.observe(vectors=[[float(i) / 100 for i in range(100)]])
    assert re.match(r"^VCTR\|[0-9a-f]{40}$", kato.session.stm[0][0])


# -- Learning / hashing ------------------------------------------------------------------------


def test_08_learn_after_three_observations() -> None:
    kato = engine()
    assert NAME.match(kato.learn_events(["a"], ["b"], ["c"]))
    assert kato.session.stm == []


def test_09_learn_with_one_symbol_returns_empty_name() -> None:
    kato = engine()
    assert kato.learn_events(["only"]) == ""
    assert kato.node.pattern_count == 0


def test_10_identity_is_stable_and_discriminating() -> None:
    kato = engine()
    first = kato.learn_events(["a"], ["b"], ["c"])
    assert kato.learn_events(["a"], ["b"], ["c"]) == first
    assert kato.learn_events(["c"], ["b"], ["a"]) != first
    assert kato.learn_events(["a"], ["b"], ["d"]) != first
    kato.node.clear_all()
    assert kato.learn_events(["a"], ["b"], ["c"]) == first


def test_10_identity_survives_clear_all_with_vectors_and_emotives() -> None:
    kato = engine()

    def learn() -> str:
        kato.observe(["s"], vectors=[[1.0, 2.0]], emotives={"joy": 0.9})
        kato.observe(["t"], emotives={"joy": 0.1})
        return kato.learn()

    first = learn()
    kato.node.clear_all()
    assert kato.node.pattern_count == 0
    assert learn() == first


def test_11_frequency_after_three_learns() -> None:
    kato = _learned(*[_singles("f1", "f2", "f3")] * 3)
    kato.observe_events(["f1"], ["f2"])
    assert _only_for(kato, _singles("f1", "f2", "f3"))["frequency"] == 3


# -- Predictions: minimum and presence ---------------------------------------------------------


def test_12_prediction_minimum_counts_symbols() -> None:
    kato = _learned(_singles("w", "x", "y"), [["a", "b"]])
    assert kato.predictions() == []
    kato.observe(["w"])
    assert kato.predictions() == []
    kato.observe([], emotives={"joy": 1.0})
    assert kato.predictions() == []
    kato.observe(["x"])
    assert kato.predictions() != []
    kato.clear_stm()
    kato.observe(["a", "b"])
    assert kato.predictions() != []
    kato.clear_stm()
    kato.observe(["w"], emotives={"joy": 1.0})
    assert kato.predictions() == []


def test_13_clear_all_leaves_nothing_to_predict() -> None:
    kato = _learned(_singles("p", "q", "r"))
    kato.node.clear_all()
    kato.observe_events(["p"], ["q"])
    assert kato.predictions() == []
    assert kato.totals() == (0, 0, 0)


def test_14_prediction_fields_and_ranges() -> None:
    kato = _learned(_singles("hello", "world", "test"), _singles("hello", "there"))
    kato.observe_events(["hello"], ["world"])
    predictions = kato.predictions()
    assert predictions
    for prediction in predictions:
        assert prediction["type"] == "prototypical"
        assert 0.0 <= prediction["confidence"] <= 1.0
        assert isinstance(prediction["entropy"], float) and prediction["entropy"] >= 0
        for key in ("hamiltonian", "grand_hamiltonian", "similarity", "past", "present"):
            assert key in prediction
        assert isinstance(prediction["emotives"], dict)


def test_15_learned_hash_is_among_prediction_names() -> None:
    kato = engine()
    name = kato.learn_events(["k1"], ["k2"], ["k3"])
    kato.observe_events(["k1"], ["k2"])
    assert name.removeprefix("PTRN|") in {p["name"] for p in kato.predictions()}


# -- Predictions: temporal fields --------------------------------------------------------------


def test_16_present_and_future() -> None:
    kato = _learned(_singles("x", "y", "z"))
    kato.observe_events(["x"], ["y"])
    prediction = _only_for(kato, _singles("x", "y", "z"))
    assert prediction["present"] == [["x"], ["y"]]
    assert prediction["future"] == [["z"]]


def test_17_past_present_future_at_the_end() -> None:
    kato = _learned(_singles("beginning", "middle", "end"))
    kato.observe_events(["middle"], ["end"])
    prediction = _only_for(kato, _singles("beginning", "middle", "end"))
    assert prediction["past"] == [["beginning"]]
    assert prediction["present"] == [["middle"], ["end"]]
    assert prediction["future"] == []


def test_18_missing_inside_present_events() -> None:
    kato = _learned([["hello", "world"], ["bar", "foo"]])
    kato.observe_events(["hello"], ["foo"])
    assert _only_for(kato, [["hello", "world"], ["bar", "foo"]])["missing"] == ["world", "bar"]


def test_19_missing_with_future_event() -> None:
    pattern = [["a", "b"], ["c", "d"], ["e", "f"]]
    kato = _learned(pattern)
    kato.observe_events(["a"], ["c"])
    prediction = _only_for(kato, pattern)
    assert len(prediction["present"]) == 2
    assert prediction["missing"] == ["b", "d"]
    assert len(prediction["future"]) == 1


def test_20_missing_and_extras() -> None:
    pattern = [["a", "b"], ["c", "d"]]
    kato = _learned(pattern)
    kato.observe_events(["a", "x"], ["c", "y"])
    prediction = _only_for(kato, pattern)
    assert (prediction["missing"], prediction["extras"]) == (["b", "d"], ["x", "y"])


def test_21_partially_observed_first_event() -> None:
    pattern = [["begin", "start"], ["middle"], ["end"]]
    kato = _learned(pattern)
    kato.observe_events(["begin"], ["middle"])
    prediction = _only_for(kato, pattern)
    assert len(prediction["present"]) == 2
    assert "start" in prediction["missing"]
    assert prediction["future"] == [["end"]]


def test_22_missing_in_last_present_event() -> None:
    pattern = [["start"], ["middle"], ["end", "finish"]]
    kato = _learned(pattern)
    kato.observe_events(["middle"], ["end"])
    prediction = _only_for(kato, pattern)
    assert prediction["past"] == [["start"]]
    assert len(prediction["present"]) == 2
    assert "finish" in prediction["missing"]


def test_23_two_past_two_present_one_future() -> None:
    pattern = _singles("first", "second", "third", "fourth", "fifth")
    kato = _learned(pattern)
    kato.observe_events(["third"], ["fourth"])
    prediction = _only_for(kato, pattern)
    assert len(prediction["past"]) == 2
    assert len(prediction["present"]) == 2
    assert prediction["future"] == [["fifth"]]


def test_24_observing_the_middle_of_ten_items() -> None:
    pattern = _singles(*(f"item{i}" for i in range(10)))
    kato = _learned(pattern)
    kato.observe_events(["item4"], ["item5"])
    prediction = _only_for(kato, pattern)
    assert len(prediction["past"]) == 4
    assert prediction["present"] == [["item4"], ["item5"]]
    assert len(prediction["future"]) == 4


def test_25_missing_inside_a_single_event() -> None:
    kato = _learned([["alpha", "beta", "gamma"]])
    kato.observe(["alpha", "gamma"])
    assert "beta" in _only_for(kato, [["alpha", "beta", "gamma"]])["missing"]


def test_26_extras_from_unexpected_symbols() -> None:
    kato = _learned(_singles("alpha", "beta"))
    kato.observe_events(["alpha", "unexpected"], ["beta", "extra"])
    extras = _only_for(kato, _singles("alpha", "beta"))["extras"]
    assert "unexpected" in extras and "extra" in extras


def test_27_full_observation_has_no_future_and_similarity_one() -> None:
    pattern = _singles("start", "middle", "end")
    kato = _learned(pattern)
    kato.observe_events(*pattern)
    prediction = _only_for(kato, pattern)
    assert prediction["future"] == []
    assert prediction["similarity"] == 1.0


def test_28_longer_observation_than_pattern() -> None:
    kato = _learned(_singles("a", "b"))
    kato.observe_events(["a"], ["b"], ["c"], ["d"], ["e"])
    prediction = _only_for(kato, _singles("a", "b"))
    assert len(prediction["present"]) <= 2
    assert set(prediction["extras"]) <= {"c", "d", "e"} and prediction["extras"]


def test_29_long_sequence_inner_events() -> None:
    pattern = [[f"s{i}a", f"s{i}b"] + ([f"s{i}c"] if i % 2 else []) for i in range(14)]
    kato = _learned(pattern)
    kato.observe_events(pattern[5], pattern[6])
    prediction = _only_for(kato, pattern)
    assert prediction["past"] == pattern[:5]
    assert prediction["present"] == pattern[5:7]
    assert prediction["future"] == pattern[7:]


def test_29_cyclic_sequence_predicts_the_next_event() -> None:
    pattern = _singles(*["red", "green", "blue"] * 4)
    kato = _learned(pattern)
    kato.observe_events(["red"], ["green"])
    prediction = _only_for(kato, pattern)
    assert prediction["future"][0] == ["blue"]


def test_29_branching_sequences_predict_a_branch() -> None:
    kato = _learned(
        _singles("go", "left", "win"),
        _singles("go", "right", "lose"),
    )
    kato.observe_events(["go"], ["left"])
    futures = [p["future"] for p in kato.predictions()]
    assert [["win"]] in futures
    assert kato.predictions()[0]["future"] == [["win"]]


# -- Predictions: similarity / threshold -------------------------------------------------------


def test_30_partial_match_similarity() -> None:
    kato = _learned(_singles("start", "middle", "end"))
    kato.observe_events(["start"], ["middle"])
    assert _only_for(kato, _singles("start", "middle", "end"))["similarity"] == 0.8


def test_31_unrelated_symbols_predict_nothing() -> None:
    kato = _learned(_singles("a", "b", "c"))
    kato.observe_events(["zzz"], ["yyy"])
    assert kato.predictions() == []


def test_32_shared_prefix_patterns() -> None:
    kato = _learned(
        _singles(*(f"m{i}" for i in range(1, 8))),
        _singles("m1", "m2", "m3", *(f"n{i}" for i in range(4, 8))),
    )
    kato.observe_events(["m1"], ["m2"], ["m3"])
    predictions = kato.predictions()
    assert len(predictions) == 2
    assert all(p["similarity"] == pytest.approx(0.6, abs=1e-12) for p in predictions)


@pytest.mark.parametrize(
    ("observed", "similarity"), [(2, 4 / 22), (5, 10 / 25), (10, 20 / 30), (15, 30 / 35)]
)
def test_33_prefixes_of_a_twenty_symbol_pattern(observed: int, similarity: float) -> None:
    pattern = _singles(*(f"t{i:02d}" for i in range(20)))
    kato = _learned(pattern)
    kato.observe_events(*pattern[:observed])
    assert _only_for(kato, pattern)["similarity"] == pytest.approx(similarity, abs=1e-12)


def test_34_long_pattern_short_prefix_falls_below_threshold() -> None:
    pattern = _singles(*(f"L{i:03d}" for i in range(150)))
    kato = _learned(pattern)
    kato.observe_events(*pattern[:6])
    assert kato.predictions() == []  # 12/156 < 0.1


def test_35_ten_variants_share_the_base() -> None:
    kato = _learned(*[_singles("base", "sequence", "pattern", f"variant_{i}") for i in range(10)])
    kato.observe_events(["base"], ["sequence"], ["pattern"])
    predictions = kato.predictions()
    assert len(predictions) == 10
    for prediction in predictions:
        assert prediction["matches"] == ["base", "sequence", "pattern"]
        assert prediction["similarity"] == pytest.approx(6 / 7, abs=1e-12)


def test_36_several_patterns_and_branches() -> None:
    kato = _learned(_singles("a", "b", "c"), _singles("a", "x", "y"), _singles("a", "p", "q"))
    kato.observe_events(["a"], ["b"])
    assert len({p["name"] for p in kato.predictions()}) == 3

    kato = _learned(
        _singles("root", "branch", "leaf1"),
        _singles("root", "branch", "leaf2"),
        _singles("root", "trunk", "bark"),
    )
    kato.observe_events(["root"], ["branch"])
    both = [p for p in kato.predictions() if {"root", "branch"} <= set(p["matches"])]
    assert len(both) == 2
    kato.observe(["leaf1"])
    assert any(p["similarity"] > 0.5 for p in kato.predictions())
    assert kato.predictions()[0]["similarity"] == 1.0


def test_37_sparse_observation_has_missing_symbols() -> None:
    kato = _learned(_singles(*(f"s{i}" for i in range(1, 9))))
    kato.observe_events(["s1"], ["s3"], ["s5"], ["s7"])
    predictions = kato.predictions()
    assert predictions
    assert all(p["missing"] for p in predictions)
    assert predictions[0]["missing"] == ["s2", "s4", "s6"]


# -- Emotives ----------------------------------------------------------------------------------


def test_38_prediction_emotives_average_every_learned_key() -> None:
    kato = engine()
    kato.observe(["e1"], emotives={"joy": 1.0, "fear": 0.2})
    kato.observe(["e2"], emotives={"joy": 0.5})
    kato.observe(["e3"], emotives={"calm": -0.4})
    kato.learn()
    kato.observe(["e1"], emotives={"joy": 0.0})
    kato.observe(["e2"])
    kato.observe(["e3"])
    kato.learn()
    kato.observe_events(["e1"], ["e2"])
    emotives = _only_for(kato, _singles("e1", "e2", "e3"))["emotives"]
    # Window: [{joy: 0.75, fear: 0.2, calm: -0.4}, {}] (joy 0.0 dropped on learn).
    assert emotives == {"joy": 0.75, "fear": 0.2, "calm": -0.4}
