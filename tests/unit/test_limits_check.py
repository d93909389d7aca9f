"""``check_observation``'s one-expression common case decides as the six checks in order do:
the same observation, or the same error naming the same first limit."""

from __future__ import annotations

import random
from typing import Any

from kato.api.limits import check_observation, checked_in_order
from kato.api.schemas import ObservationIn
from kato.config import LimitsSettings
from kato.core.errors import KatoError
from kato.core.observation import Observation


def _in_order(observation: ObservationIn, limits: LimitsSettings) -> Observation:
    """Every observation through the checks one by one, the common case's shortcut skipped."""
    return checked_in_order(
        observation.strings or [], observation.vectors or [], observation.emotives or {}, limits
    )


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
