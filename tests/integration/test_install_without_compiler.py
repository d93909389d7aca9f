"""A machine without a C compiler still installs KATO: both compiled cores are optional
extensions, and the package then serves with its pure-Python paths."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel in an isolated build environment

ROOT = Path(__file__).resolve().parents[2]


def tracked_copy(destination: Path) -> Path:
    """The repository's tracked files, without any extension already built in place."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


def test_wheel_builds_without_a_compiler_and_runs_on_the_fallback(tmp_path: Path) -> None:
    source = tracked_copy(tmp_path / "source")
    dist = tmp_path / "dist"
    # CC=/bin/false: every compile fails, as on a machine with no compiler installed.
    environment = {**os.environ, "CC": "/bin/false", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(source)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("kato-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kato/core/pure_matchcore.py" in names
    assert not [name for name in names if name.endswith(".so")], names

    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "from kato.core import hashing, matcher\n"
        f"assert matcher.__file__.startswith({str(unpacked)!r}), matcher.__file__\n"
        "print(matcher.implementation(), hashing.pattern_hash is hashing.pure_pattern_hash)\n"
        "from tests.unit.engine_helpers import engine\n"
        "kato = engine()\n"
        "kato.learn_events(['a'], ['b'], ['c'])\n"
        "kato.observe_events(['a'], ['b'])\n"
        "print(kato.predictions()[0]['future'])\n"
    )
    # -S: no site processing, so the editable install's import hook stays out; the unpacked
    # wheel comes first, then the dependencies, then the tests' helpers.
    search_path = os.pathsep.join([str(unpacked), sysconfig.get_paths()["purelib"], str(ROOT)])
    ran = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        cwd=tmp_path,  # not the repository: `-c` puts the working directory first
        env={**os.environ, "PYTHONPATH": search_path},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.split("\n")[:2] == ["python True", "[['c']]"]
