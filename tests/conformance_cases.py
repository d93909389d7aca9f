"""Loading and comparing the golden conformance cases of ``../shared/conformance``."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from tests.unit.engine_helpers import FLOAT_FIELDS

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "golden.json"


@cache
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def scenarios() -> list[dict[str, Any]]:
    return golden()["scenarios"] if GOLDEN.exists() else []


def prediction_mismatches(
    actual: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> list[str]:
    """Differences between two prediction lists under the README's comparison rules."""
    problems: list[str] = []
    if [p["name"] for p in actual] != [p["name"] for p in expected]:
        return [f"names {[p['name'][:8] for p in actual]} != {[p['name'][:8] for p in expected]}"]
    fields = golden()["prediction_fields"]
    for position, (got, want) in enumerate(zip(actual, expected, strict=True)):
        if set(got) != set(fields):  # exactly the 22 fields (JSON key order is not significant)
            problems.append(f"[{position}] fields {sorted(got)}")
        for key in fields:
            a: Any = got.get(key)
            b = want[key]
            if key in FLOAT_FIELDS:
                if not isinstance(a, float) or not math.isclose(a, b, rel_tol=0, abs_tol=1e-9):
                    problems.append(f"[{position}] {key}: {a!r} != {b!r}")
            elif key == "emotives":
                if set(a) != set(b) or any(
                    not math.isclose(a[k], b[k], rel_tol=0, abs_tol=1e-9) for k in b
                ):
                    problems.append(f"[{position}] emotives: {a!r} != {b!r}")
            elif a != b or type(a) is not type(b):
                problems.append(f"[{position}] {key}: {a!r} != {b!r}")
    return problems
