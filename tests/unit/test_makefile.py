"""The Makefile installs by need: serving without the test tools, tests with them, and a
fast run without the slow tests. Checked with ``make -n`` (what make would run) on a venv
path that does not exist yet, as in a fresh clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, venv: Path) -> str:
    # Under a parent make (CI runs ``make test``) MAKELEVEL and MAKEFLAGS are inherited and
    # make prints "Entering directory" lines; the plan must read the same either way.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_serve_installs_only_what_serving_needs(tmp_path: Path) -> None:
    plan = planned("serve", tmp_path / "venv")
    assert "-m venv" in plan and "pip install" in plan
    assert "-e .\n" in plan
    assert "[test]" not in plan
    assert plan.rstrip().endswith("kato serve")
    assert plan.count("echo") >= 3  # says what it is doing


def test_test_adds_the_test_extras(tmp_path: Path) -> None:
    plan = planned("test", tmp_path / "venv")
    assert "-e '.[test]'" in plan
    assert "pytest -q\n" in plan


def test_test_fast_leaves_out_the_slow_tests(tmp_path: Path) -> None:
    plan = planned("test-fast", tmp_path / "venv")
    assert "pytest -q -m 'not slow'" in plan


def test_pytest_reports_skip_reasons(tmp_path: Path) -> None:
    skipping = tmp_path / "test_skipping.py"
    skipping.write_text(
        "import pytest\n\n\n"
        "@pytest.mark.skip(reason='a reason worth reading')\n"
        "def test_skipped():\n    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(skipping)],
        cwd=tmp_path,
        # The project's pytest settings (addopts among them), on a test of its own.
        env={**os.environ, "PYTEST_ADDOPTS": f"-c {ROOT / 'pyproject.toml'} --rootdir {tmp_path}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "SKIPPED [1]" in result.stdout and "a reason worth reading" in result.stdout, (
        result.stdout + result.stderr
    )
