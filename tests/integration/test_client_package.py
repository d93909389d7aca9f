"""kato-client installs alone: ``pip install ./clients/python`` into a fresh virtualenv
pulls httpx and its own dependencies only, and the SDK from that virtualenv talks to a real
``kato serve``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import kato_serving

pytestmark = pytest.mark.slow  # builds and installs a package into a new virtualenv

ROOT = Path(__file__).resolve().parents[2]
# httpx and what it depends on; pip and setuptools come with every virtualenv.
ALLOWED = {"kato-client", "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi"}
ALLOWED |= {"typing-extensions", "typing_extensions", "pip", "setuptools"}

CONVERSATION = """
import json, kato
from kato.client import KatoClient, observation
with KatoClient({base!r}) as client:
    session = client.create_session("packaged")
    for symbol in ["wake", "coffee", "email"]:
        session.observe([symbol])
    name = session.learn()
    session.observe_sequence([observation(["wake"]), observation(["coffee"])])
    future = session.predictions()[0]["future"]
namespace = getattr(kato, "__file__", None) is None
print(json.dumps({{"namespace": namespace, "name": name, "future": future}}))
"""


def copy_of_the_package(destination: Path) -> Path:
    """clients/python and the kato/client it packages, at the same relative places (the
    build writes egg-info and build/ beside the sources, so not in the repository)."""
    shutil.copytree(ROOT / "clients" / "python", destination / "clients" / "python")
    shutil.copytree(
        ROOT / "kato" / "client",
        destination / "kato" / "client",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return destination / "clients" / "python"


def run(command: list[str], cwd: Path, timeout: float) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_kato_client_installs_alone_and_talks_to_a_server(tmp_path: Path) -> None:
    package = copy_of_the_package(tmp_path / "source")
    python = str(tmp_path / "venv" / "bin" / "python")
    run([sys.executable, "-m", "venv", str(tmp_path / "venv")], tmp_path, 120)
    run(
        [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", str(package)],
        tmp_path,
        300,
    )
    listed = json.loads(run([python, "-m", "pip", "list", "--format=json"], tmp_path, 60))
    installed = {item["name"].lower() for item in listed}
    assert {"kato-client", "httpx"} <= installed
    assert installed <= ALLOWED, f"kato-client pulled more than httpx: {installed - ALLOWED}"

    with kato_serving(tmp_path / "data") as base:
        answer = json.loads(run([python, "-c", CONVERSATION.format(base=base)], tmp_path, 120))
    # `kato` there is only the namespace the SDK lives in: no server code was installed.
    assert answer["namespace"] is True
    assert answer["name"].startswith("PTRN|") and answer["future"] == [["email"]]
