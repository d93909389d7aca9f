"""What ``security.audit_reads`` costs a read, in microseconds.

Two figures, each with the audit log in a file (the ``security.audit_log_file`` setting):

* the audit step alone — ``SecurityLayer.after_request`` for an authenticated ``GET`` whose
  session the route annotated, audit off (the method check) and on (one JSON line written);
* a whole read through the app in process — ``GET /v2/sessions/{id}/stm`` over httpx's ASGI
  transport, median of rounds, off and on; the difference is the cost per audited read. The
  request log is off (log level WARNING) so that only the audit differs.

Run: .venv/bin/python -m benchmarks.audit_reads_overhead
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from starlette.requests import HTTPConnection

from kato.api.app import create_app
from kato.config import Settings
from kato.security.layer import SecurityLayer, annotate_audit
from kato.security.principal import Principal
from kato.security.roles import Role

LAYER_CALLS = 20_000
READS_PER_ROUND = 500
ROUNDS = 9


def _settings(directory: Path, audit_reads: bool) -> Settings:
    return Settings.model_validate(
        {
            "service": {"data_dir": str(directory)},
            "database": {"qdrant": {"local_store": "sqlite"}},
            # No request log: its line per request would be printed here and hide the figure.
            "monitoring": {"log_level": "WARNING"},
            "security": {
                "audit_log_file": str(directory / "audit.log"),
                "audit_reads": audit_reads,
            },
        }
    )


def _after_request_us(directory: Path, audit_reads: bool) -> float:
    layer = SecurityLayer(_settings(directory, audit_reads))
    principal = Principal(name="bench", roles=frozenset({Role.READER}), auth_method="api_key")
    started = time.perf_counter()
    for _ in range(LAYER_CALLS):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/v2/sessions/session-1/stm",
            "path_params": {"session_id": "session-1"},
            "headers": [],
            "state": {"kato_principal": principal},
        }
        annotate_audit(HTTPConnection(scope), session_id="session-1", node_id="n1")
        layer.after_request(scope, 200, 0.001)
    return (time.perf_counter() - started) / LAYER_CALLS * 1e6


async def _reads_us(off_dir: Path, on_dir: Path) -> tuple[float, float]:
    """Median µs per read, audit off and on; rounds alternate so both see the same load."""
    async with contextlib.AsyncExitStack() as stack:
        readers = []
        for directory, audit_reads in ((off_dir, False), (on_dir, True)):
            app = create_app(_settings(directory, audit_reads))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kato")
            )
            created = await client.post("/v2/sessions", json={"node_id": "n1"})
            url = f"/v2/sessions/{created.json()['session_id']}/stm"
            await client.post(url.replace("/stm", "/observe"), json={"strings": ["a"]})
            readers.append((client, url))
        rounds: list[list[float]] = [[], []]
        for _ in range(ROUNDS):
            for position, (client, url) in enumerate(readers):
                started = time.perf_counter()
                for _ in range(READS_PER_ROUND):
                    response = await client.get(url)
                    assert response.status_code == 200
                rounds[position].append((time.perf_counter() - started) / READS_PER_ROUND * 1e6)
    return statistics.median(rounds[0]), statistics.median(rounds[1])


def main() -> None:
    with tempfile.TemporaryDirectory() as off, tempfile.TemporaryDirectory() as on:
        step_off = _after_request_us(Path(off), audit_reads=False)
        step_on = _after_request_us(Path(on), audit_reads=True)
        read_off, read_on = asyncio.run(_reads_us(Path(off), Path(on)))
    print(f"audit step (SecurityLayer.after_request)  off {step_off:6.1f} us  on {step_on:6.1f} us")
    print(
        f"GET /v2/sessions/{{id}}/stm in process       off {read_off:6.1f} us  on {read_on:6.1f} us"
        f"  (median of {ROUNDS} alternating rounds of {READS_PER_ROUND})"
    )
    print(
        f"cost per audited read: {step_on - step_off:.1f} us in the audit step, "
        f"{read_on - read_off:.1f} us ({(read_on - read_off) / read_off:+.1%}) on the whole read"
    )


if __name__ == "__main__":
    main()
