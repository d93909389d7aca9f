"""The engine's public API (``kato.engine``) and the README's library example, which uses it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kato.engine

README = Path(__file__).resolve().parents[2] / "README.md"


def library_example() -> str:
    section = README.read_text(encoding="utf-8").split("## Using the engine as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's library example is missing"
    return match.group(1)


def test_the_readme_example_uses_only_the_public_api_and_prints_what_it_says() -> None:
    example = library_example()
    imports = re.findall(r"^from (\S+) import", example, re.MULTILINE)
    assert imports == ["kato.engine"]
    # Each commented line states its value: print the value where the line stands.
    checks = re.findall(r"^(\S.*?)\s+# (.+)$", example, re.MULTILINE)
    assert len(checks) == 2
    script = re.sub(r"^(\S.*?)\s+# .+$", r"print(repr(\1))", example, flags=re.MULTILINE)
    printed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.splitlines()
    assert printed == [said for _, said in checks]


def test_every_public_name_resolves_and_nothing_else_is_exported() -> None:
    for name in kato.engine.__all__:
        assert getattr(kato.engine, name).__name__ == name
    assert set(kato.engine.__all__) == set(kato.engine._EXPORTS)
    assert not hasattr(kato.engine, "PatternIndex")  # internal
