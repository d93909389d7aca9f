"""1,000 concurrent observes to one session: none lost, none applied twice."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.conftest import ClientFactory, new_session

COUNT = 1000


@pytest.mark.slow
async def test_concurrent_observes_to_one_session(start: ClientFactory) -> None:
    # The in-flight limit (load shedding, 503) is raised so that all 1,000 are admitted.
    async with start(resilience={"max_in_flight": 2 * COUNT}) as client:
        await _observe_concurrently(client)


async def _observe_concurrently(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    url = f"/v2/sessions/{session_id}/observe"
    responses = await asyncio.gather(
        *(client.post(url, json={"strings": [f"s{n:04d}"]}) for n in range(COUNT))
    )
    assert [r.status_code for r in responses] == [200] * COUNT
    assert sorted(r.json()["time"] for r in responses) == list(range(1, COUNT + 1))
    stm = (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"]
    assert len(stm) == COUNT
    assert sorted(event[0] for event in stm) == [f"s{n:04d}" for n in range(COUNT)]
    # The STM order is the order in which the observes were applied (their times).
    by_time = sorted(responses, key=lambda r: r.json()["time"])
    applied = [r.request.read().decode() for r in by_time]
    assert [f'"{event[0]}"' in body for event, body in zip(stm, applied, strict=True)] == [
        True
    ] * COUNT
    session = (await client.get(f"/v2/sessions/{session_id}")).json()
    assert session["access_count"] == COUNT
