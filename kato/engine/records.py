"""Pure record arithmetic shared by every knowledge-base adapter (semantics §3.3, D7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kato.core.errors import ValidationError
from kato.core.observation import EMOTIVE_MAGNITUDE_LIMIT, is_emotive_value
from kato.engine.ports import Events, PatternRecord


def learned_record(
    existing: PatternRecord | None,
    name: str,
    events: Events,
    emotives: Mapping[str, float] | None,
    persistence: int,
) -> PatternRecord:
    """The pattern record after one learn: frequency + 1 and the emotive window rolled."""
    window: tuple[Mapping[str, float], ...] = existing.emotives if existing else ()
    if emotives is not None:
        window = (*window, dict(emotives))[-persistence:]
    frequency = existing.frequency + 1 if existing else 1
    return PatternRecord(name=name, events=events, frequency=frequency, emotives=window)


def check_update(
    frequency: int, emotives: Sequence[Mapping[str, float]], persistence: int
) -> tuple[Mapping[str, float], ...]:
    """Validate an update-pattern request (§5): frequency ≥ 0, window ≤ persistence."""
    if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 0:
        raise ValidationError("frequency must be an integer ≥ 0", field="frequency")
    if len(emotives) > persistence:
        raise ValidationError(
            f"emotives list has {len(emotives)} entries, more than persistence {persistence}",
            field="emotives",
        )
    for position, item in enumerate(emotives):
        if not isinstance(item, Mapping) or not all(
            _is_emotive(name, value) for name, value in item.items()
        ):
            raise ValidationError(
                f"emotives[{position}] must map non-empty names to finite numbers"
                f" within ±{EMOTIVE_MAGNITUDE_LIMIT:g}",
                field="emotives",
            )
    return tuple(dict(item) for item in emotives)


def _is_emotive(name: object, value: object) -> bool:
    # Same rule as observed emotives (§2.1).
    return isinstance(name, str) and bool(name) and is_emotive_value(value)
