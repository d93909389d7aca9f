"""Observations: validation (semantics §2.1) and the event they produce (§2.2–§2.4, §1.7).

Validation happens before any state is touched, so a rejected observation changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kato.core.errors import ObservationError
from kato.core.hashing import vector_symbol


@dataclass(frozen=True, slots=True)
class Observation:
    """One validated moment: string symbols, numeric vectors and emotives, as sent."""

    strings: tuple[str, ...] = ()
    vectors: tuple[tuple[float, ...], ...] = ()
    emotives: Mapping[str, float] = field(default_factory=dict)
    # §12.5 (3.x clients): kept with the session until a learn merges it into the pattern;
    # never part of the event, the hash or matching.
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """No strings and no vectors: the STM does not change (§2.4)."""
        return not self.strings and not self.vectors

    @classmethod
    def parse(
        cls,
        strings: Any = None,
        vectors: Any = None,
        emotives: Any = None,
    ) -> Observation:
        """Validate raw client values; raise ``ObservationError`` naming the first problem."""
        return cls(
            strings=_parse_strings(strings),
            vectors=_parse_vectors(vectors),
            emotives=_parse_emotives(emotives),
        )


def is_finite_number(value: Any) -> bool:
    """An int or float that is neither NaN nor infinite and fits a double."""
    # bool is an int subclass in Python but never a number in JSON terms.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the double range (JSON allows any digit count)
        return False


# Emotive values are summed: in the accumulator, the learned window (at most persistence
# entries) and a prediction's mean. Bounding each value keeps every such sum finite — reaching
# the double range (1.8e308) from values of at most 1e300 takes over 1e8 of them, more than
# a session can hold — so an average is never inf (a JSON null).
EMOTIVE_MAGNITUDE_LIMIT = 1e300


def is_emotive_value(value: Any) -> bool:
    """A finite number within ±``EMOTIVE_MAGNITUDE_LIMIT`` (semantics §1.8, bounded)."""
    return is_finite_number(value) and abs(value) <= EMOTIVE_MAGNITUDE_LIMIT


def _parse_strings(strings: Any) -> tuple[str, ...]:
    if strings is None:
        return ()
    # A list (what a request's JSON gives) skips the abstract-class check (~0.3 µs).
    if type(strings) is not list and (
        not isinstance(strings, Sequence) or isinstance(strings, str | bytes)
    ):
        raise ObservationError("strings must be a list of strings", field="strings")
    for position, symbol in enumerate(strings):
        if not isinstance(symbol, str):
            raise ObservationError(
                f"strings[{position}] must be a string, got {type(symbol).__name__}",
                field="strings",
            )
    return tuple(strings)


def _parse_vectors(vectors: Any) -> tuple[tuple[float, ...], ...]:
    if vectors is None or (type(vectors) is list and not vectors):
        return ()
    if not isinstance(vectors, Sequence) or isinstance(vectors, str | bytes):
        raise ObservationError("vectors must be a list of numeric lists", field="vectors")
    parsed: list[tuple[float, ...]] = []
    for position, vector in enumerate(vectors):
        if not isinstance(vector, Sequence) or isinstance(vector, str | bytes):
            raise ObservationError(
                f"vectors[{position}] must be a list of numbers", field="vectors"
            )
        if not vector:
            raise ObservationError(f"vectors[{position}] is empty", field="vectors")
        for value in vector:
            if not is_finite_number(value):
                raise ObservationError(
                    f"vectors[{position}] holds a non-numeric or non-finite value",
                    field="vectors",
                )
        parsed.append(tuple(float(value) for value in vector))
    lengths = {len(vector) for vector in parsed}
    if len(lengths) > 1:
        raise ObservationError(
            f"vectors of one observation must have equal length, got {sorted(lengths)}",
            field="vectors",
        )
    return tuple(parsed)


def _parse_emotives(emotives: Any) -> dict[str, float]:
    if emotives is None or (type(emotives) is dict and not emotives):
        return {}
    if not isinstance(emotives, Mapping):
        raise ObservationError("emotives must be an object of name to number", field="emotives")
    for name, value in emotives.items():
        if not isinstance(name, str) or not name:
            raise ObservationError("emotive names must be non-empty strings", field="emotives")
        if not is_emotive_value(value):
            raise ObservationError(
                f"emotive {name!r} must be a finite number within ±{EMOTIVE_MAGNITUDE_LIMIT:g}",
                field="emotives",
            )
    return dict(emotives)


def event_of(observation: Observation, sort: bool) -> list[str]:
    """The symbols the observation contributes: vector symbol first, then strings (§2.2)."""
    strings = sorted(observation.strings) if sort else list(observation.strings)
    if observation.vectors:
        return [vector_symbol(observation.vectors), *strings]
    return strings
