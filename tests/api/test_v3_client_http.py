"""A KATO 3.x client session over real HTTP and a real WebSocket against ``kato serve``,
written the way 3.x's documentation shows it (issue 12): subscribe to /ws/events, create on
/sessions, observe (with metadata, as 3.x clients send it), learn, predict, delete."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.servers import kato_serving


async def next_event(events: Any, event_type: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(events.recv(), 30))
        if message["event_type"] == event_type:
            return message


async def client_session(base: str) -> None:
    async with (
        websockets.connect(base.replace("http", "ws", 1) + "/ws/events") as events,
        httpx.AsyncClient(base_url=base, timeout=30) as kato,
    ):
        assert json.loads(await events.recv())["event_type"] == "connection.established"
        created = (
            await kato.post(
                "/sessions", json={"node_id": "retail", "config": {"recall_threshold": 0.1}}
            )
        ).json()
        session = created["session_id"]
        assert created["session_config"]["recall_threshold"] == 0.1
        assert (await next_event(events, "session.created"))["data"]["session_id"] == session
        for strings in (["hat"], ["coat"], ["scarf"]):
            answer = await kato.post(
                f"/sessions/{session}/observe",
                json={"strings": strings, "emotives": {"joy": 0.5}, "metadata": {"till": 7}},
            )
            assert answer.status_code == 200 and answer.json()["status"] == "okay"
        learned = (await kato.post(f"/sessions/{session}/learn")).json()
        assert learned["status"] == "learned"
        for strings in (["hat"], ["coat"]):
            await kato.post(f"/sessions/{session}/observe", json={"strings": strings})
        body = (await kato.get(f"/sessions/{session}/predictions")).json()
        assert body["count"] == 1
        prediction = body["predictions"][0]
        assert "PTRN|" + prediction["name"] == learned["pattern_name"]
        assert prediction["future"] == [["scarf"]]
        assert prediction["emotives"] == {"joy": 0.5}
        assert (await kato.delete(f"/sessions/{session}")).json()["status"] == "deleted"
        destroyed = await next_event(events, "session.destroyed")
        assert destroyed["data"] == {
            "session_id": session,
            "node_id": "retail",
            "reason": "deleted",
        }
        await events.send("ping")
        assert (await next_event(events, "pong"))["data"] == {}


def test_a_3x_client_session_over_real_http(tmp_path: Path) -> None:
    with kato_serving(tmp_path / "data") as base:
        asyncio.run(client_session(base))
