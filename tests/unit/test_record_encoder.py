"""The request log's and the audit record's encoder writes what ``JSONEncoder.encode`` writes."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from kato.core.record_encoder import record_encoder

SETTINGS = [
    json.JSONEncoder(default=repr),  # the request log line
    json.JSONEncoder(separators=(",", ":"), sort_keys=True),  # the audit record
    json.JSONEncoder(ensure_ascii=False),
]
SCALARS: list[object] = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    0.1,
    1e-7,
    1e22,
    -0.0,
    0.155,
    math.inf,
    -math.inf,
    "",
    "plain",
    'quote " backslash \\ newline \n tab \t',
    "ünïcødé ✓ \U0001f600",
    "\x00\x1f\x7f",
    "\ud800 lone surrogate",
]


def _record(rng: random.Random) -> dict[str, object]:
    record: dict[str, object] = {}
    for index in range(rng.randint(0, 14)):
        record[rng.choice(["z", "a", "m", "é", f"k{index}", "counts"])] = rng.choice(SCALARS)
    if rng.random() < 0.5:
        record["counts"] = {f"c{index}": rng.randint(0, 99) for index in range(rng.randint(0, 3))}
    return record


@pytest.mark.parametrize("settings", SETTINGS, ids=["log", "audit", "utf8"])
def test_same_text_as_json_encoder_encode(settings: json.JSONEncoder) -> None:
    encode = record_encoder(settings)
    rng = random.Random(20261204)
    for _ in range(3000):
        record = _record(rng)
        assert encode(record) == settings.encode(record)


def test_default_and_nan_as_the_encoder_has_them() -> None:
    record = {"path": Path("/x"), "nan": math.nan}
    assert record_encoder(SETTINGS[0])(record) == SETTINGS[0].encode(record)
    with pytest.raises(TypeError):
        record_encoder(SETTINGS[1])({"path": Path("/x")})


def test_indented_settings_refused() -> None:
    with pytest.raises(ValueError):
        record_encoder(json.JSONEncoder(indent=2))
