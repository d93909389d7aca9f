"""The test harness's server start-up helper never hangs: a server that does not become
ready, or exits, is killed and reported with its log (issue 9, req 9)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.servers import ServerStartError, spawn_logged, wait_until_ready

NEVER_READY = [sys.executable, "-c", 'import time; print("booting"); time.sleep(600)']
EXITS_EARLY = [sys.executable, "-c", 'import sys; print("bad setting: x"); sys.exit(3)']


def test_a_server_that_never_becomes_ready_is_killed_within_the_budget(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = spawn_logged(NEVER_READY, log)
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="not ready within 1 s") as failure:
        wait_until_ready(process, lambda: False, log, "sleeper", budget=1.0)
    elapsed = time.monotonic() - started
    assert "booting" in str(failure.value)
    assert process.returncode is not None  # killed, not left running
    print(f"gave up after {elapsed:.2f} s (budget 1 s)")
    assert elapsed < 10  # loose: the budget plus scheduling on a busy machine


def test_a_server_that_exits_early_is_reported_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = spawn_logged(EXITS_EARLY, log)
    with pytest.raises(ServerStartError, match="exited with status 3") as failure:
        wait_until_ready(process, lambda: False, log, "quitter", budget=60.0)
    assert "bad setting: x" in str(failure.value)
