"""Examples quoted from the architecture spec in ``../shared/spec``, read at test time so the
tests follow the spec's text rather than a copy of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SPEC = (
    Path(__file__).resolve().parents[1].parent / "shared" / "spec" / "KATO_V2_ARCHITECTURE_SPEC.md"
)
_PRODUCTION_YAML = re.compile(r"```yaml\n(# config/production\.yaml\n.*?)```", re.DOTALL)


def production_yaml() -> str:
    """The spec's ``config/production.yaml`` example, verbatim."""
    if not SPEC.exists():
        pytest.skip(f"architecture spec not found at {SPEC} (../shared absent)")
    found = _PRODUCTION_YAML.search(SPEC.read_text(encoding="utf-8"))
    assert found is not None, f"no config/production.yaml example in {SPEC}"
    return found.group(1)
