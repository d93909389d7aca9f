"""Session lifecycle of KATO 3.x (issue 12 req 4, semantics §12.18): SESSION_AUTO_EXTEND as the
per-session ``session_auto_extend`` — on for sessions created on /sessions, off on /v2 — on
the memory and the Redis session stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.api.conftest import ClientFactory

Backend = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(params=["memory", "redis"])
def on_store(request: pytest.FixtureRequest, start: ClientFactory) -> Backend:
    def open_client(**sections: dict[str, Any]) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        sections["session"] = {"store_type": request.param, **sections.get("session", {})}
        if request.param == "redis":
            sections["database"] = {"redis": {"url": request.getfixturevalue("redis_url")}}
        return start(**sections)

    return open_client


@pytest.fixture
async def client(on_store: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with on_store() as started:
        yield started


def expiry(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["expires_at"].rstrip("Z"))


async def created(client: httpx.AsyncClient, path: str, **body: Any) -> str:
    response = await client.post(path, json={"node_id": "n", **body})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def test_3x_sessions_slide_on_every_access_v2_sessions_do_not(
    client: httpx.AsyncClient,
) -> None:
    v3 = await created(client, "/sessions", ttl_seconds=60)
    v2 = await created(client, "/v2/sessions", ttl_seconds=60)
    before = {sid: expiry((await client.get(f"/v2/sessions/{sid}")).json()) for sid in (v3, v2)}
    await asyncio.sleep(1.2)  # past the read's slide step (1 % of the TTL, at least 1 s)
    for sid in (v3, v2):
        assert (await client.get(f"/sessions/{sid}/stm")).status_code == 200  # a read
    after_read = {sid: expiry((await client.get(f"/v2/sessions/{sid}")).json()) for sid in (v3, v2)}
    assert after_read[v3] > before[v3]
    assert after_read[v2] == before[v2]
    for sid in (v3, v2):  # a write slides at once (its save happens anyway)
        await client.post(f"/v2/sessions/{sid}/observe", json={"strings": ["a"]})
    after_write = {
        sid: expiry((await client.get(f"/v2/sessions/{sid}")).json()) for sid in (v3, v2)
    }
    assert after_write[v3] > after_read[v3]
    assert after_write[v2] == before[v2]
    config = (await client.get(f"/sessions/{v3}/config")).json()["config"]
    assert config["session_auto_extend"] is True
    assert (await client.get(f"/sessions/{v2}/config")).json()["config"][
        "session_auto_extend"
    ] is False


async def test_an_accessed_3x_session_outlives_its_ttl_an_idle_one_does_not(
    client: httpx.AsyncClient,
) -> None:
    kept = await created(client, "/sessions", ttl_seconds=2)
    idle = await created(client, "/sessions", ttl_seconds=2)
    v2 = await created(client, "/v2/sessions", ttl_seconds=2)
    for _ in range(6):  # 3.6 s of accesses, each within the 2 s TTL of the previous one
        await asyncio.sleep(0.6)
        for sid in (kept, v2):
            await client.post(f"/sessions/{sid}/observe", json={"strings": ["x"]})
    assert (await client.get(f"/sessions/{kept}/stm")).status_code == 200
    assert (await client.get(f"/sessions/{idle}/stm")).status_code == 404
    assert (await client.get(f"/sessions/{v2}/stm")).status_code == 404  # v2: no sliding


async def test_either_surface_can_opt_in_or_out(client: httpx.AsyncClient) -> None:
    v2_in = await created(
        client, "/v2/sessions", ttl_seconds=60, config={"session_auto_extend": True}
    )
    v3_out = await created(
        client, "/sessions", ttl_seconds=60, config={"session_auto_extend": False}
    )
    before = {
        sid: expiry((await client.get(f"/v2/sessions/{sid}")).json()) for sid in (v2_in, v3_out)
    }
    await asyncio.sleep(1.2)
    for sid in (v2_in, v3_out):
        await client.post(f"/v2/sessions/{sid}/observe", json={"strings": ["a"]})
    after = {
        sid: expiry((await client.get(f"/v2/sessions/{sid}")).json()) for sid in (v2_in, v3_out)
    }
    assert after[v2_in] > before[v2_in]
    assert after[v3_out] == before[v3_out]


async def test_operator_default_applies_to_both_surfaces(on_store: Backend) -> None:
    async with on_store(genes={"session_auto_extend": False}) as client:
        v3 = await created(client, "/sessions")
        config = (await client.get(f"/v2/sessions/{v3}/config")).json()["config"]
        assert config["session_auto_extend"] is False  # the operator's explicit choice wins


async def test_a_service_wide_auto_extend_slides_v2_observes_too(on_store: Backend) -> None:
    """With ``genes.session_auto_extend`` on, a v2 session (no configuration of its own) slides
    on observe — on Redis too, where such an observe would otherwise take the one-round-trip
    script, which does not rewrite the expiry."""
    async with on_store(genes={"session_auto_extend": True}) as client:
        # TTL 600 s: a read slides only 6 s behind, so only the observe can move it here.
        v2 = await created(client, "/v2/sessions", ttl_seconds=600)
        # A first observe: after it the service knows the session well enough for the script.
        await client.post(f"/v2/sessions/{v2}/observe", json={"strings": ["a"]})
        before = expiry((await client.get(f"/v2/sessions/{v2}")).json())
        await asyncio.sleep(1.2)
        await client.post(f"/v2/sessions/{v2}/observe", json={"strings": ["a"]})
        assert expiry((await client.get(f"/v2/sessions/{v2}")).json()) > before
