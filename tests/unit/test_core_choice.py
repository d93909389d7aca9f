"""One switch chooses every core (kato/core/core_choice.py): the compiled extension serves
unless ``KATO_PURE_PYTHON=1`` asks for the pure-Python fallback, checked in a fresh process
(the choice is made at import)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "attribute", "compiled", "pure"),
    [
        ("kato.core.hashing", "pattern_hash", "kato.core._hashcore", "pure_pattern_hash"),
        ("kato.core.hashing", "checked_events", "kato.core._hashcore", "pure_checked_events"),
        ("kato.core.hashing", "list_events", "kato.core._hashcore", "pure_list_events"),
        ("kato.core.hashing", "is_string_events", "kato.core._hashcore", "pure_is_string_events"),
        ("kato.core.tally", "tally", "kato.core._tallycore", "pure_tally"),
    ],
)
def test_the_compiled_core_serves_unless_pure_python_is_asked_for(
    module: str, attribute: str, compiled: str, pure: str
) -> None:
    chosen = getattr(importlib.import_module(module), attribute)
    assert chosen is getattr(importlib.import_module(compiled), attribute)
    probe = f"import {module} as m; print(m.{attribute}.__name__)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={"KATO_PURE_PYTHON": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == pure
