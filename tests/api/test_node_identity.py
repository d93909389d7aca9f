"""Look-alike node ids never share a knowledge base, by any route (issue 9 req 1)."""

from __future__ import annotations

from pathlib import Path

import httpx
from starlette.testclient import TestClient

from kato.api.app import create_app
from kato.core.node_ids import knowledge_base_id
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from kato.storage.sqlite_db import FILE_NAME
from kato.storage.sqlite_kb import SQLiteKnowledgeBase
from tests.api.conftest import make_settings, new_session, observe, running

LOOK_ALIKES = ["alice-smith", "alice.smith", "alice_smith", "alice smith"]


async def _learn_own_pattern(client: httpx.AsyncClient, node_id: str) -> tuple[str, str]:
    """Each node learns ``[node id], [end]``; answers (session id, pattern name)."""
    session = await new_session(client, node_id)
    await observe(client, session, node_id)
    await observe(client, session, "end")
    learned = await client.post(f"/v2/sessions/{session}/learn")
    return session, learned.json()["pattern_name"]


async def test_look_alike_nodes_are_isolated_on_every_route(client: httpx.AsyncClient) -> None:
    learned = {node: await _learn_own_pattern(client, node) for node in LOOK_ALIKES}
    names = {name for _, name in learned.values()}
    assert len(names) == len(LOOK_ALIKES)

    for node, (session, own) in learned.items():
        await observe(client, session, node)
        await observe(client, session, "end")
        predicted = (await client.get(f"/v2/sessions/{session}/predictions")).json()
        assert [p["name"] for p in predicted["predictions"]] == [own.removeprefix("PTRN|")]
        for other_node, (_, other) in learned.items():
            v1 = await client.get(f"/pattern/{other}", headers={"X-Session-ID": session})
            assert v1.status_code == (200 if other_node == node else 404), (node, other_node)

    first_session, first_pattern = learned[LOOK_ALIKES[0]]
    cleared = await client.post(f"/v2/sessions/{first_session}/clear-all")
    assert cleared.status_code == 200
    for node, (session, own) in learned.items():
        found = await client.get(f"/pattern/{own}", headers={"X-Session-ID": session})
        assert found.status_code == (404 if node == LOOK_ALIKES[0] else 200), node


async def test_a_scoped_admin_cannot_reach_a_look_alike_node(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, security={"auth_mode": "api_key", "audit_log_file": str(tmp_path / "a.log")}
    )
    store = ApiKeyStore(api_keys_path(settings))
    scoped = {"X-API-Key": store.create("prod-admin", ["admin"], ["acme-prod"])[0]}
    root = {"X-API-Key": store.create("root", ["admin"])[0]}
    async with running(settings) as client:
        other = (
            await client.post("/v2/sessions", json={"node_id": "acme.prod"}, headers=root)
        ).json()["session_id"]
        for symbol in ("secret", "plan"):
            await client.post(
                f"/v2/sessions/{other}/observe", json={"strings": [symbol]}, headers=root
            )
        pattern = (await client.post(f"/v2/sessions/{other}/learn", headers=root)).json()
        name = pattern["pattern_name"]

        own = (
            await client.post("/v2/sessions", json={"node_id": "acme-prod"}, headers=scoped)
        ).json()["session_id"]
        refused = await client.post("/v2/sessions", json={"node_id": "acme.prod"}, headers=scoped)
        assert refused.status_code == 403
        assert (await client.get(f"/v2/sessions/{other}", headers=scoped)).status_code == 404
        found = await client.get(f"/pattern/{name}", headers={**scoped, "X-Session-ID": own})
        assert found.status_code == 404
        for symbol in ("secret", "plan"):
            await client.post(
                f"/v2/sessions/{own}/observe", json={"strings": [symbol]}, headers=scoped
            )
        predicted = (await client.get(f"/v2/sessions/{own}/predictions", headers=scoped)).json()
        assert predicted["predictions"] == []
        await client.post(f"/v2/sessions/{own}/clear-all", headers=scoped)
        kept = await client.get(f"/pattern/{name}", headers={**root, "X-Session-ID": other})
        assert kept.status_code == 200


async def test_a_node_id_whose_storage_id_is_owned_by_another_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    storage_id = knowledge_base_id("victim", settings.service.base_node_id)
    legacy = SQLiteKnowledgeBase(tmp_path / FILE_NAME, storage_id)
    legacy.claim_owner("someone-else")  # e.g. a database written before ids were injective
    legacy.close()
    async with running(settings) as client:
        session = await new_session(client, "victim")
        refused = await client.post(f"/v2/sessions/{session}/observe", json={"strings": ["a"]})
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert error["code"] == "KATO_NODE_ID_CONFLICT" and "someone-else" in error["message"]


def test_look_alike_nodes_are_isolated_over_the_websocket(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        sessions = {}
        for node in LOOK_ALIKES:
            sessions[node] = client.post("/v2/sessions", json={"node_id": node}).json()[
                "session_id"
            ]
            with client.websocket_connect(f"/ws?session_id={sessions[node]}") as ws:
                for symbol in (node, f"{node}/end"):
                    ws.send_json({"type": "observe", "payload": {"strings": [symbol]}})
                    ws.receive_json()
                ws.send_json({"type": "learn"})
                assert ws.receive_json()["type"] == "learn_result"
        for node, session in sessions.items():
            with client.websocket_connect(f"/ws?session_id={session}") as ws:
                for other in LOOK_ALIKES:
                    for symbol in (other, f"{other}/end"):
                        ws.send_json({"type": "observe", "payload": {"strings": [symbol]}})
                        ws.receive_json()
                    ws.send_json({"type": "get_predictions"})
                    predicted = ws.receive_json()["data"]["predictions"]
                    assert len(predicted) == (1 if other == node else 0), (node, other)
                    ws.send_json({"type": "clear_stm"})
                    ws.receive_json()
