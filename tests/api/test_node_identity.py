"""Look-alike node ids never share a knowledge base, by any route (issue 9 req 1)."""

from __future__ import annotations

from pathlib import Path

import httpx

from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
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
