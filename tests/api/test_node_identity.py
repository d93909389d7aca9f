"""Look-alike node ids never share a knowledge base, by any route (issue 9 req 1)."""

from __future__ import annotations

import httpx

from tests.api.conftest import new_session, observe

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
