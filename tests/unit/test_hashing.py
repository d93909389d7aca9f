"""Pattern identities (semantics §1.6) and vector symbols (§1.7), directly and through learn."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from kato.core.hashing import pattern_hash, strip_pattern_prefix, vector_symbol
from tests.unit.engine_helpers import engine

HASH_EXAMPLES = [
    ([["a"], ["b"], ["c"]], "b98534b32c1d7489d4ce1a48724aa65aeecbdba9"),
    ([["a", "b"], ["c"]], "e9e43f2309079f2843665ab773996d99489306d6"),
    ([["hello"], ["world"], ["test"]], "386fbb12926e8e015a1483990df913e8410f94ce"),
    ([["auto1"], ["auto2"], ["auto3"]], "4963c35c13162166f7bc236e9201f1db718e5b64"),
    ([["it's"]], "d4cfde952d0558ee0e1a8444978a16a1c4ecbfb3"),
    ([["café", "x"]], "6ab299a8056bbe922d2c212818029c34f79ed35e"),
    ([["tab\there", "a"]], "5b80149025ffe57494d26cb5cf82c61be11d4f35"),
]

VECTOR_EXAMPLES = [
    ([[1.0, 2.0, 3.0]], "VCTR|fe5de4472f7e4d5c9cdd19cadebfa06fe3da8e43"),
    ([[0.5, 0.5]], "VCTR|5fd4ba00d0f8c4cf90ef2ba613c34939835927e1"),
    ([[1.0, 0.0]], "VCTR|b2ee9b10732bd3dcfa2ecc8ee3c56ceed36ddcfc"),
    ([[0.5, 0.5], [1.0, 0.0]], "VCTR|f11daefdddee30b6a7a043c084fad802f0553a99"),
    ([[0.1, 0.2, 0.3]], "VCTR|e09ff768f2b2a0f5d5e78932dc977709e8c35f57"),
]


@pytest.mark.parametrize(("events", "name"), HASH_EXAMPLES)
def test_pattern_hash_examples_of_1_6(events: list[list[str]], name: str) -> None:
    assert pattern_hash(events) == name
    assert pattern_hash(tuple(tuple(event) for event in events)) == name


@pytest.mark.parametrize(("events", "name"), HASH_EXAMPLES)
def test_learn_returns_the_prefixed_hash(events: list[list[str]], name: str) -> None:
    # sort off: the tab example is not in sorted order. The single-symbol example ("it's")
    # is never learned (§3.2).
    kato = engine(sort=False)
    kato.observe_events(*events)
    if sum(len(event) for event in events) < 2:
        assert kato.learn() == ""
    else:
        assert kato.learn() == "PTRN|" + name
        assert kato.node.get_pattern(name).events == tuple(tuple(e) for e in events)


@pytest.mark.parametrize(("vectors", "symbol"), VECTOR_EXAMPLES)
def test_vector_symbol_examples_of_1_7(vectors: list[list[float]], symbol: str) -> None:
    assert vector_symbol(vectors) == symbol


@pytest.mark.parametrize(("vectors", "symbol"), VECTOR_EXAMPLES)
def test_vector_observation_gives_one_symbol(vectors: list[list[float]], symbol: str) -> None:
    kato = engine()
    kato.observe(vectors=vectors)
    assert kato.session.stm == [[symbol]]


def test_integer_vectors_hash_like_floats() -> None:
    assert vector_symbol([[1, 2, 3]]) == vector_symbol([[1.0, 2.0, 3.0]])


def test_order_grouping_and_emotives_matter_as_specified() -> None:
    names = {
        pattern_hash([["a"], ["b"], ["c"]]),
        pattern_hash([["c"], ["b"], ["a"]]),
        pattern_hash([["b"], ["a"], ["c"]]),
        pattern_hash([["a", "b"], ["c"]]),
    }
    assert len(names) == 4
    plain, with_emotives = engine(), engine()
    plain.observe_events(["a"], ["b"])
    with_emotives.observe(["a"], emotives={"joy": 1.0})
    with_emotives.observe(["b"], emotives={"joy": 0.5})
    assert plain.learn() == with_emotives.learn()


def test_strip_pattern_prefix() -> None:
    assert strip_pattern_prefix("PTRN|abc") == "abc"
    assert strip_pattern_prefix("abc") == "abc"


def _default_rendering_symbol(vector: list[float]) -> str:
    text = str(np.asarray(vector, dtype=np.float64))  # the reference: str() under defaults
    return "VCTR|" + hashlib.sha1(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("length", [1, 7, 12, 75, 999, 1000, 1001, 2000])
def test_vector_rendering_is_numpy_str_including_wrapping_and_summary(length: int) -> None:
    vector = [((i * 7919) % 1000) / 7.0 - 50.0 for i in range(length)]
    assert vector_symbol([vector]) == _default_rendering_symbol(vector)


def test_long_vectors_agreeing_at_both_ends_collide_as_in_the_reference() -> None:
    """§1.7 quirk (a): NumPy summarises arrays longer than 1000 elements with ``...``."""
    first = [1.0] * 1001
    second = [1.0] * 3 + [2.0] * 995 + [1.0] * 3
    assert vector_symbol([first]) == vector_symbol([second])
    assert vector_symbol([first[:1000]]) != vector_symbol([second[:1000]])


def test_global_numpy_print_options_do_not_change_vector_symbols() -> None:
    with np.printoptions(
        precision=2,
        linewidth=20,
        threshold=4,
        suppress=True,
        sign="+",
        floatmode="fixed",
        formatter={"float": lambda value: "F"},
    ):
        for vectors, symbol in VECTOR_EXAMPLES:
            assert vector_symbol(vectors) == symbol
        assert str(np.asarray([0.5, 0.5])) != "[0.5 0.5]"  # the options really were active
