"""``kato_requests_in_flight``, the Explorer's "in flight" figure (issue 13): the requests the
in-flight bound admitted and that have not finished, up while they run and down after."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from prometheus_client import REGISTRY

from kato.api.app import create_app
from kato.api.auth import PUBLIC
from tests.api.conftest import make_settings


def _scraped(text: str) -> float:
    match = re.search(r"^kato_requests_in_flight (\S+)$", text, re.MULTILINE)
    assert match, "kato_requests_in_flight missing from /metrics"
    return float(match.group(1))


async def test_in_flight_counts_the_requests_being_handled(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    entered = asyncio.Event()
    release = asyncio.Event()

    async def held() -> dict[str, bool]:  # stays in flight until the test releases it
        entered.set()
        await release.wait()
        return {"released": True}

    async def peek() -> dict[str, float | None]:
        return {"in_flight": REGISTRY.get_sample_value("kato_requests_in_flight")}

    app.add_api_route("/test/held", held, dependencies=[PUBLIC])
    app.add_api_route("/test/peek", peek, dependencies=[PUBLIC])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            before = _scraped((await client.get("/metrics")).text)
            alone = (await client.get("/test/peek")).json()["in_flight"]
            assert alone == before + 1  # itself
            holding = asyncio.create_task(client.get("/test/held"))
            await entered.wait()
            assert (await client.get("/test/peek")).json()["in_flight"] == before + 2
            assert _scraped((await client.get("/metrics")).text) == before + 1  # /metrics: exempt
            release.set()
            assert (await holding).json() == {"released": True}
            assert _scraped((await client.get("/metrics")).text) == before
