"""Emotive averaging (semantics §1.8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def average_emotives(objects: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Per-key mean over the objects that contain the key, in arrival order."""
    values: dict[str, list[float]] = {}
    for obj in objects:
        for key, value in obj.items():
            values.setdefault(key, []).append(value)
    return {key: sum(vals) / len(vals) for key, vals in values.items()}


def without_zeros(averaged: Mapping[str, float]) -> dict[str, float]:
    """The averaged object as recorded on learn: keys whose average is exactly 0 dropped."""
    return {key: value for key, value in averaged.items() if value != 0}
