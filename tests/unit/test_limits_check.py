"""``check_observation``'s one-expression common case decides as the six checks in order do:
the same observation, or the same error naming the same first limit."""

from __future__ import annotations

import random
from typing import Any

from kato.api.limits import _within, check_observation
from kato.api.schemas import ObservationIn
from kato.config import LimitsSettings
from kato.core.errors import KatoError
from kato.core.observation import Observation


def _in_order(observation: ObservationIn, limits: LimitsSettings) -> Observation:
    """The checks one by one, as ``check_observation`` made them before its common case."""
    strings = observation.strings or []
    vectors = observation.vectors or []
    emotives = observation.emotives or {}
    longest = max((len(symbol) for symbol in strings), default=0)
    widest = max((len(vector) for vector in vectors), default=0)
    _within(limits, "max_symbols_per_observation", "symbols in one observation", len(strings))
    _within(limits, "max_symbol_length", "symbol length", longest)
    _within(limits, "max_vectors_per_observation", "vectors in one observation", len(vectors))
    _within(limits, "max_vector_dimension", "vector dimension", widest)
    _within(limits, "max_emotives_per_observation", "emotives in one observation", len(emotives))
    longest_name = max((len(name) for name in emotives), default=0)
    _within(limits, "max_emotive_name_length", "emotive name length", longest_name)
    return Observation.parse(strings, vectors, emotives)


def _outcome(check: Any, observation: ObservationIn, limits: LimitsSettings) -> object:
    try:
        return check(observation, limits)
    except KatoError as error:
        return (type(error), str(error), error.details)


def test_same_outcome_as_the_checks_in_order() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        dimension = rng.randint(1, 3)
        observation = ObservationIn(
            strings=rng.choice(
                [None, [], ["a" * rng.randint(1, 4) for _ in range(rng.randint(0, 4))]]
            ),
            vectors=rng.choice([None, [], [[0.5] * dimension for _ in range(rng.randint(1, 3))]]),
            emotives=rng.choice([None, {}, {"e" * rng.randint(1, 4): 1.0, "f": -2.0}]),
        )
        limits = LimitsSettings(
            max_symbols_per_observation=rng.randint(1, 4),
            max_symbol_length=rng.randint(1, 4),
            max_vectors_per_observation=rng.randint(1, 3),
            max_vector_dimension=rng.randint(1, 3),
            max_emotives_per_observation=rng.randint(0, 2),
            max_emotive_name_length=rng.randint(1, 4),
        )
        assert _outcome(check_observation, observation, limits) == _outcome(
            _in_order, observation, limits
        )
