"""Every answered write has its audit record, even when the server is stopped right after a
burst (issue 10 req 2: records are written before the answer, docs/DECISIONS.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from tests.servers import kato_serving

BURST = 200


async def burst(base: str, session_id: str) -> list[str]:
    """``BURST`` concurrent observes; the trace ids of the answered ones."""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"/v2/sessions/{session_id}/observe", json={"strings": [f"s{n}"]})
                for n in range(BURST)
            )
        )
    assert {response.status_code for response in responses} == {200}
    return [response.headers["x-trace-id"] for response in responses]


def test_a_burst_then_sigterm_leaves_every_audit_record(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit.log"
    with kato_serving(tmp_path / "data", KATO_SECURITY__AUDIT_LOG_FILE=str(audit_path)) as base:
        created = httpx.post(f"{base}/v2/sessions", json={"node_id": "burst"}, timeout=30)
        session_id = created.json()["session_id"]
        trace_ids = asyncio.run(burst(base, session_id))
    # The server has exited (SIGTERM): what is in the file is all there will ever be.
    records = [json.loads(line) for line in audit_path.read_text().splitlines()]
    observes = [r for r in records if r["action"] == "POST /v2/sessions/{session_id}/observe"]
    assert sorted(r["trace_id"] for r in observes) == sorted(trace_ids)
    assert {(r["outcome"], r["status"], r["session_id"]) for r in observes} == {
        ("allowed", 200, session_id)
    }
    assert len(records) == BURST + 1  # and the create
