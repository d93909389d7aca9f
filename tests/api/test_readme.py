"""The README's Quickstart is true: its ``console`` blocks are run, command by command, in
one shell against a real ``kato serve``, and every answer must be the one shown (``…`` in
the README stands for ids and times that change on each run)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import kato_serving

README = Path(__file__).resolve().parents[2] / "README.md"
README_SERVER = "localhost:8000"
MARKER = "@@@ readme command"


@dataclass(frozen=True)
class Step:
    command: str
    output: str  # what the README shows under the command


def quickstart_steps(text: str) -> list[Step]:
    """``$ command`` (continued by a trailing backslash) then its output, in every
    ``console`` block of the Quickstart section."""
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    steps: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.DOTALL):
        command: list[str] = []
        output: list[str] = []
        continued = False
        for line in block.splitlines():
            if continued:
                command.append(line)
            elif line.startswith("$ "):
                if command:
                    steps.append(Step("\n".join(command), "\n".join(output)))
                command, output = [line[2:]], []
            else:
                output.append(line)
            continued = line.endswith("\\")
        steps.append(Step("\n".join(command), "\n".join(output)))
    return steps


def shown(expected: str) -> re.Pattern[str]:
    """The README's output as a pattern: text literal, each ``…`` any run of characters."""
    return re.compile(".+?".join(map(re.escape, expected.split("…"))), re.DOTALL)


def run_in_one_shell(steps: list[Step], base: str) -> list[str]:
    """Every command in one bash (``SID`` carries over), each answer split by a marker."""
    host = base.removeprefix("http://")
    script = "".join(
        f"echo '{MARKER}'\n{step.command.replace(README_SERVER, host)}\n" for step in steps
    )
    result = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and not result.stderr, result.stderr
    answers = result.stdout.split(MARKER + "\n")[1:]
    assert len(answers) == len(steps), result.stdout
    return [answer.rstrip("\n") for answer in answers]


def test_the_quickstart_is_parsed_into_its_commands() -> None:
    steps = quickstart_steps(README.read_text(encoding="utf-8"))
    commands = [step.command for step in steps]
    assert any("/learn" in command for command in commands)
    assert any("/predictions" in command for command in commands)
    predictions = next(step for step in steps if "/predictions" in step.command)
    assert '"future": [' in predictions.output and '"email"' in predictions.output
    # No make in these blocks: the test provides the server `make serve` would start.
    assert not [command for command in commands if command.startswith("make")]


def check_quickstart(tmp_path: Path, **env: str) -> str:
    """Run the Quickstart against ``kato serve``; returns the prediction core it reports."""
    steps = quickstart_steps(README.read_text(encoding="utf-8"))
    with kato_serving(tmp_path / "data", **env) as base:
        answers = run_in_one_shell(steps, base)
        for step, answer in zip(steps, answers, strict=True):
            assert shown(step.output).fullmatch(answer), (
                f"README shows for\n$ {step.command}\n{step.output}\nbut the server answered\n"
                f"{answer}"
            )
        core: str = httpx.get(f"{base}/status", timeout=10).json()["prediction_core"]
        port = base.rsplit(":", 1)[1]
    log = (tmp_path / f"serve-{port}.log").read_text(errors="replace")
    assert f"kato: prediction core: {core}" in log, log[-2000:]
    return core


def test_the_quickstart_shows_what_the_server_answers(tmp_path: Path) -> None:
    assert check_quickstart(tmp_path) == "compiled"


@pytest.mark.slow
def test_the_pure_python_core_answers_the_same(tmp_path: Path) -> None:
    assert check_quickstart(tmp_path, KATO_PURE_PYTHON="1") == "python"
