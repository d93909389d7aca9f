"""The complete prediction objects of semantics §4.15, compared field by field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.engine_helpers import FLOAT_FIELDS, Engine, assert_prediction, engine


def _setup(kato: Engine, *learned: list[list[str]]) -> None:
    for events in learned:
        kato.learn_events(*events)
    kato.clear_stm()


def _only(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(predictions) == 1
    return predictions[0]


SIMPLE_CONTINUATION = {
    "type": "prototypical",
    "name": "386fbb12926e8e015a1483990df913e8410f94ce",
    "frequency": 1,
    "emotives": {},
    "matches": ["hello", "world"],
    "past": [],
    "present": [["hello"], ["world"]],
    "missing": [],
    "extras": [],
    "potential": 3.666666666667,
    "evidence": 0.6666666666666666,
    "similarity": 0.8,
    "fragmentation": 0.0,
    "snr": 1.0,
    "entropy": 1.056641667147,
    "hamiltonian": 0.630929753571,
    "grand_hamiltonian": 0.666666666667,
    "confluence": 0.888888888889,
    "sequence": [["hello"], ["world"], ["test"]],
    "future": [["test"]],
    "confidence": 1.0,
    "itfdf_similarity": 1.0,
}


def test_4_15_1_simple_continuation() -> None:
    kato = engine()
    _setup(kato, [["hello"], ["world"], ["test"]])
    kato.observe(["hello"])
    assert kato.predictions() == []
    kato.observe(["world"])
    assert kato.session.stm == [["hello"], ["world"]]
    assert kato.totals()[0] == 1 and kato.totals()[2] == 3
    assert len(kato.symbol_stats()) == 3  # T_sym
    assert_prediction(_only(kato.predictions()), SIMPLE_CONTINUATION)


def test_4_15_1_with_the_emotives_of_3_6_example_2() -> None:
    kato = engine()
    for symbol, happiness, confidence in (
        ("hello", 0.8, 0.6),
        ("world", 0.9, 0.7),
        ("test", 0.7, 0.8),
    ):
        kato.observe([symbol], emotives={"happiness": happiness, "confidence": confidence})
    kato.learn()
    kato.observe_events(["hello"], ["world"])
    expected = {
        **SIMPLE_CONTINUATION,
        "emotives": {"happiness": 0.8000000000000002, "confidence": 0.6999999999999998},
    }
    assert_prediction(_only(kato.predictions()), expected)


def test_4_15_2_missing_and_extras() -> None:
    kato = engine()
    _setup(kato, [["a", "b"], ["c", "d"]])
    kato.observe_events(["a", "x"], ["c", "y"])
    assert kato.session.stm == [["a", "x"], ["c", "y"]]
    expected = {
        "type": "prototypical",
        "name": "0979c1024e7a5c6bf7c542ef1a2b8226d8fd50a3",
        "frequency": 1,
        "emotives": {},
        "matches": ["a", "c"],
        "past": [],
        "present": [["a", "b"], ["c", "d"]],
        "missing": ["b", "d"],
        "extras": ["x", "y"],
        "potential": 1.54044011452,
        "evidence": 0.5,
        "similarity": 0.5,
        "fragmentation": 1.0,
        "snr": 0.3333333333333333,
        "entropy": 2.0,
        "hamiltonian": 1.0,
        "grand_hamiltonian": 1.0,
        "confluence": 0.99609375,
        "sequence": [["a", "b"], ["c", "d"]],
        "future": [],
        "confidence": 0.5,
        "itfdf_similarity": 0.707106781187,
    }
    assert_prediction(_only(kato.predictions()), expected)


def test_4_15_3_partially_observed_first_event() -> None:
    kato = engine()
    _setup(kato, [["start", "begin"], ["middle"], ["end"]])
    kato.observe_events(["begin"], ["middle"])
    expected = {
        "type": "prototypical",
        "name": "6ad6de980bdd76b8e48a6293c3b47c23adfcd2fd",
        "frequency": 1,
        "emotives": {},
        "matches": ["begin", "middle"],
        "past": [],
        "present": [["begin", "start"], ["middle"]],
        "missing": ["start"],
        "extras": [],
        "potential": 2.483163247595,
        "evidence": 0.5,
        "similarity": 0.6666666666666666,
        "fragmentation": 1.0,
        "snr": 1.0,
        "entropy": 1.5,
        "hamiltonian": 0.792481250361,
        "grand_hamiltonian": 0.75,
        "confluence": 0.984375,
        "sequence": [["begin", "start"], ["middle"], ["end"]],
        "future": [["end"]],
        "confidence": 0.6666666666666666,
        "itfdf_similarity": 0.816496580928,
    }
    assert_prediction(_only(kato.predictions()), expected)


def test_4_15_4_observing_the_middle_and_end() -> None:
    kato = engine()
    _setup(kato, [["beginning"], ["middle"], ["end"]])
    kato.observe_events(["middle"], ["end"])
    expected = {
        **SIMPLE_CONTINUATION,
        "name": "63b6f94454dab80c6ace4a849bd99c0979c21b8b",
        "matches": ["middle", "end"],
        "past": [["beginning"]],
        "present": [["middle"], ["end"]],
        "sequence": [["beginning"], ["middle"], ["end"]],
        "future": [],
    }
    assert_prediction(_only(kato.predictions()), expected)


def test_4_15_5_several_patterns_shared_probabilities_and_ties() -> None:
    kato = engine()
    _setup(kato, [["a"], ["b"], ["c"]], [["a"], ["x"], ["y"]], [["a"], ["p"], ["q"]])
    kato.observe_events(["a"], ["b"])
    assert kato.totals()[0] == 3 and kato.totals()[2] == 9
    assert len(kato.symbol_stats()) == 7
    first = {
        "type": "prototypical",
        "name": "b98534b32c1d7489d4ce1a48724aa65aeecbdba9",
        "frequency": 1,
        "emotives": {},
        "matches": ["a", "b"],
        "past": [],
        "present": [["a"], ["b"]],
        "missing": [],
        "extras": [],
        "potential": 3.666666666667,
        "evidence": 0.6666666666666666,
        "similarity": 0.8,
        "fragmentation": 0.0,
        "snr": 1.0,
        "entropy": 0.880534722623,
        "hamiltonian": 0.356207187108,
        "grand_hamiltonian": 0.313652796696,
        "confluence": 0.320987654321,
        "sequence": [["a"], ["b"], ["c"]],
        "future": [["c"]],
        "confidence": 1.0,
        "itfdf_similarity": 1.0,
    }
    second = {
        "type": "prototypical",
        "name": "8ab15a1886a15d42587e7b8cd8efba0fc5516836",
        "frequency": 1,
        "emotives": {},
        "matches": ["a"],
        "past": [],
        "present": [["a"]],
        "missing": [],
        "extras": ["b"],
        "potential": 2.427338877128,
        "evidence": 0.3333333333333333,
        "similarity": 0.4,
        "fragmentation": 0.0,
        "snr": 0.3333333333333333,
        "entropy": 0.528320833574,
        "hamiltonian": 0.0,
        "grand_hamiltonian": 0.188191678018,
        "confluence": 0.222222222222,
        "sequence": [["a"], ["x"], ["y"]],
        "future": [["x"], ["y"]],
        "confidence": 1.0,
        "itfdf_similarity": 0.982894432684,
    }
    # The 2nd and 3rd tie on potential; D4 orders them by ascending name.
    third = {
        **second,
        "name": "c807cd40f684f1d6d00e33a2d3920a37b5e737ab",
        "sequence": [["a"], ["p"], ["q"]],
        "future": [["p"], ["q"]],
    }
    predictions = kato.predictions()
    assert len(predictions) == 3
    for actual, expected in zip(predictions, (first, second, third), strict=True):
        assert_prediction(actual, expected)


def test_4_15_6_one_event_with_a_missing_symbol() -> None:
    kato = engine()
    _setup(kato, [["gamma", "alpha", "beta"]])
    kato.observe(["gamma", "alpha"])
    assert kato.session.stm == [["alpha", "gamma"]]
    expected = {
        "type": "prototypical",
        "name": "a88c16a915c1b4887a600870fd16882b47a0327f",
        "frequency": 1,
        "emotives": {},
        "matches": ["alpha", "gamma"],
        "past": [],
        "present": [["alpha", "beta", "gamma"]],
        "missing": ["beta"],
        "extras": [],
        "potential": 2.649829914261,
        "evidence": 0.6666666666666666,
        "similarity": 0.8,
        "fragmentation": 1.0,
        "snr": 1.0,
        "entropy": 1.584962500721,
        "hamiltonian": 1.0,
        "grand_hamiltonian": 1.0,
        "confluence": 0.962962962963,
        "sequence": [["alpha", "beta", "gamma"]],
        "future": [],
        "confidence": 0.6666666666666666,
        "itfdf_similarity": 0.816496580928,
    }
    assert_prediction(_only(kato.predictions()), expected)


NO_MATCH_UNRELATED = {
    "type": "prototypical",
    "name": "79f2c629594a7d79ea69d23578ead53b0f340c58",
    "frequency": 1,
    "emotives": {},
    "matches": [],
    "past": [],
    "present": [["completely"], ["unrelated"], ["sequence"]],
    "missing": ["completely", "unrelated", "sequence"],
    "extras": ["exact", "match"],
    "potential": 0.5,
    "evidence": 0.0,
    "similarity": 0.0,
    "fragmentation": -1.0,
    "snr": -1.0,
    "entropy": 1.292481250361,
    "hamiltonian": 0.613147192765,
    "grand_hamiltonian": 0.5,
    "confluence": 0.497685185185,
    "sequence": [["completely"], ["unrelated"], ["sequence"]],
    "future": [],
    "confidence": 0.0,
    "itfdf_similarity": 0.5,
}


def _theta_zero() -> Engine:
    kato = engine(recall_threshold=0.0)
    _setup(
        kato,
        [["exact"], ["match"], ["test"]],
        [["completely"], ["unrelated"], ["sequence"]],
    )
    return kato


def test_4_15_7_theta_zero_keeps_a_no_match_candidate() -> None:
    kato = _theta_zero()
    kato.observe_events(["exact"], ["match"])
    exact = {
        "type": "prototypical",
        "name": "c3ec96f0fcbe3d98685fea2e3fa222af6fd0942d",
        "frequency": 1,
        "emotives": {},
        "matches": ["exact", "match"],
        "past": [],
        "present": [["exact"], ["match"]],
        "missing": [],
        "extras": [],
        "potential": 3.666666666667,
        "evidence": 0.6666666666666666,
        "similarity": 0.8,
        "fragmentation": 0.0,
        "snr": 1.0,
        "entropy": 0.861654166907,
        "hamiltonian": 0.386852807235,
        "grand_hamiltonian": 0.333333333333,
        "confluence": 0.486111111111,
        "sequence": [["exact"], ["match"], ["test"]],
        "future": [["test"]],
        "confidence": 1.0,
        "itfdf_similarity": 1.0,
    }
    predictions = kato.predictions()
    assert len(predictions) == 2
    assert_prediction(predictions[0], exact)
    assert_prediction(predictions[1], NO_MATCH_UNRELATED)


def test_4_15_7_theta_zero_no_match_candidate_survives_a_three_symbol_state() -> None:
    """Deliberate deviation from the reference (decision D2).

    The reference drops the no-match candidate once the state has 3 symbols, through its
    length/symbol index (§4.3). Here ``recall_threshold`` is the only filter, so at θ = 0
    every pattern stays a candidate whatever the state length.
    """
    kato = _theta_zero()
    kato.observe_events(["exact"], ["match"], ["test"])
    predictions = kato.predictions()
    assert [p["name"] for p in predictions] == [
        "c3ec96f0fcbe3d98685fea2e3fa222af6fd0942d",
        "79f2c629594a7d79ea69d23578ead53b0f340c58",
    ]
    unrelated = predictions[1]
    assert unrelated["matches"] == []
    assert unrelated["extras"] == ["exact", "match", "test"]
    assert unrelated["similarity"] == 0.0
    assert unrelated["fragmentation"] == -1.0
    assert unrelated["present"] == [["completely"], ["unrelated"], ["sequence"]]
    assert predictions[0]["similarity"] == 1.0


def test_4_15_8_boundary_quirk() -> None:
    kato = engine()
    _setup(kato, [["a"], ["a"], ["a", "c"]])
    kato.observe_events(["a"], ["c"])
    prediction = _only(kato.predictions())
    assert prediction["matches"] == ["a", "c"]
    assert prediction["past"] == [["a"]]
    assert prediction["present"] == [["a"], ["a", "c"]]
    assert prediction["future"] == []
    assert prediction["missing"] == []
    assert prediction["similarity"] == pytest.approx(0.6666666666666666, abs=1e-9)
    assert prediction["confidence"] == pytest.approx(0.6666666666666666, abs=1e-9)
    assert prediction["fragmentation"] == 0.0
    assert all(type(prediction[key]) is float for key in FLOAT_FIELDS)


SHAPES = [
    ([["x"], ["y"], ["z"]], [["x"], ["y"]], [], [["x"], ["y"]], [["z"]], [], []),
    (
        [["1"], ["2"], ["3"], ["4"], ["5"]],
        [["2"], ["3"]],
        [["1"]],
        [["2"], ["3"]],
        [["4"], ["5"]],
        [],
        [],
    ),
    (
        [["first"], ["second"], ["third"], ["fourth"], ["fifth"]],
        [["third"], ["fourth"]],
        [["first"], ["second"]],
        [["third"], ["fourth"]],
        [["fifth"]],
        [],
        [],
    ),
    (
        [["a", "b"], ["c", "d"], ["e", "f"]],
        [["a"], ["c"]],
        [],
        [["a", "b"], ["c", "d"]],
        [["e", "f"]],
        ["b", "d"],
        [],
    ),
    (
        [["start"], ["middle"], ["end", "finish"]],
        [["middle"], ["end"]],
        [["start"]],
        [["middle"], ["end", "finish"]],
        [],
        ["finish"],
        [],
    ),
    (
        [["cat"], ["dog"]],
        [["bird", "cat"], ["dog", "fish"]],
        [],
        [["cat"], ["dog"]],
        [],
        [],
        ["bird", "fish"],
    ),
    (
        [["a"], ["b"]],
        [["a"], ["b"], ["c"], ["d"], ["e"]],
        [],
        [["a"], ["b"]],
        [],
        [],
        ["c", "d", "e"],
    ),
    (
        [["a", "b", "c"], ["d", "e"], ["f", "g", "h"]],
        [["a", "x"], ["d"], ["f", "g", "y"]],
        [],
        [["a", "b", "c"], ["d", "e"], ["f", "g", "h"]],
        [],
        ["b", "c", "e", "h"],
        ["x", "y"],
    ),
    ([["a", "a", "b", "b", "c"]], [["a", "b"]], [], [["a", "a", "b", "b", "c"]], [], ["c"], []),
    (
        [["start"], ["middle"], ["end"]],
        [["start"], ["middle"], ["end"]],
        [],
        [["start"], ["middle"], ["end"]],
        [],
        [],
        [],
    ),
]


@pytest.mark.parametrize(
    ("learned", "stm", "past", "present", "future", "missing", "extras"), SHAPES
)
def test_4_15_9_test_pinned_shapes(
    learned: list[list[str]],
    stm: list[list[str]],
    past: list[list[str]],
    present: list[list[str]],
    future: list[list[str]],
    missing: list[str],
    extras: list[str],
) -> None:
    kato = engine()
    _setup(kato, learned)
    kato.observe_events(*stm)
    prediction = _only(kato.predictions())
    assert prediction["sequence"] == learned
    assert (prediction["past"], prediction["present"], prediction["future"]) == (
        past,
        present,
        future,
    )
    assert (prediction["missing"], prediction["extras"]) == (missing, extras)
    assert all(type(prediction[key]) is float for key in FLOAT_FIELDS)


def test_4_15_9_three_block_row_metrics() -> None:
    kato = engine()
    _setup(kato, [["a", "b", "c"], ["d", "e"], ["f", "g", "h"]])
    kato.observe_events(["a", "x"], ["d"], ["f", "g", "y"])
    prediction = _only(kato.predictions())
    assert prediction["matches"] == ["a", "d", "f", "g"]
    assert prediction["fragmentation"] == 2.0
    assert prediction["similarity"] == pytest.approx(0.5714285714285714, abs=1e-9)
    assert prediction["snr"] == pytest.approx(0.6, abs=1e-9)


def test_4_15_9_duplicate_symbols_row_metrics() -> None:
    kato = engine()
    _setup(kato, [["a", "a", "b", "b", "c"]])
    kato.observe(["a", "b"])
    prediction = _only(kato.predictions())
    assert prediction["matches"] == ["a", "b"]
    assert prediction["similarity"] == pytest.approx(4 / 7, abs=1e-9)
    assert prediction["evidence"] == pytest.approx(0.4, abs=1e-9)
    assert prediction["confidence"] == pytest.approx(0.4, abs=1e-9)
    assert prediction["hamiltonian"] == pytest.approx(1.627464731578, abs=1e-9)


def test_4_15_9_extras_row_metrics() -> None:
    kato = engine()
    _setup(kato, [["cat"], ["dog"]])
    kato.observe_events(["bird", "cat"], ["dog", "fish"])
    prediction = _only(kato.predictions())
    assert prediction["similarity"] == pytest.approx(0.6666666666666666, abs=1e-9)
    assert prediction["snr"] == pytest.approx(0.3333333333333333, abs=1e-9)
    assert prediction["evidence"] == 1.0


def test_4_15_9_case_sensitivity() -> None:
    kato = engine()
    _setup(kato, [["Hello", "World"]])
    kato.observe(["hello", "world"])
    assert kato.predictions() == []
