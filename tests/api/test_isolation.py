"""Session isolation (D5, D6): nothing short-term leaks between sessions; long-term memory is
shared by the sessions of one node and by nothing else."""

from __future__ import annotations

import httpx

from kato.core.hashing import pattern_hash
from tests.api.conftest import new_session, observe

AB = "PTRN|" + pattern_hash([["a"], ["b"]])


async def _learn_ab(client: httpx.AsyncClient, session_id: str) -> None:
    await observe(client, session_id, "a", emotives={"joy": 1.0})
    await observe(client, session_id, "b")
    learned = await client.post(f"/v2/sessions/{session_id}/learn")
    assert learned.json()["pattern_name"] == AB


async def _predicted(client: httpx.AsyncClient, session_id: str) -> list[str]:
    body = (await client.get(f"/v2/sessions/{session_id}/predictions")).json()
    return [p["name"] for p in body["predictions"]]


async def test_two_sessions_of_one_node_share_ltm_not_stm(client: httpx.AsyncClient) -> None:
    first, second = await new_session(client, "node"), await new_session(client, "node")
    await _learn_ab(client, first)
    await observe(client, first, "x", emotives={"fear": 0.5})
    await observe(client, second, "a")
    stm_first = (await client.get(f"/v2/sessions/{first}/stm")).json()["stm"]
    stm_second = (await client.get(f"/v2/sessions/{second}/stm")).json()["stm"]
    assert stm_first == [["x"]] and stm_second == [["a"]]
    cognition = (await client.get(f"/v2/sessions/{second}/cognition-data")).json()
    assert cognition["cognition_data"]["emotives"] == {}
    percept = (await client.get(f"/v2/sessions/{second}/percept-data")).json()["percept_data"]
    assert percept["strings"] == ["a"] and percept["emotives"] == {}

    await observe(client, second, "b")
    assert await _predicted(client, second) == [AB.removeprefix("PTRN|")]  # shared LTM
    assert await _predicted(client, first) == []  # first's STM is just ["x"]
    times = [
        (await observe(client, first, "y"))["time"],
        (await observe(client, second, "y"))["time"],
    ]
    assert times == [4, 3]


async def test_clear_stm_of_one_session_leaves_the_other(client: httpx.AsyncClient) -> None:
    first, second = await new_session(client, "node"), await new_session(client, "node")
    await observe(client, first, "a", emotives={"joy": 1.0})
    await observe(client, second, "b", emotives={"joy": 0.2})
    await client.post(f"/v2/sessions/{first}/clear-stm")
    assert (await client.get(f"/v2/sessions/{second}/stm")).json()["stm"] == [["b"]]
    cognition = (await client.get(f"/v2/sessions/{second}/cognition-data")).json()
    assert cognition["cognition_data"]["emotives"] == {"joy": 0.2}


async def test_two_nodes_share_nothing(client: httpx.AsyncClient) -> None:
    one, other = await new_session(client, "node-one"), await new_session(client, "node-two")
    await _learn_ab(client, one)
    await observe(client, other, "a")
    await observe(client, other, "b")
    assert await _predicted(client, other) == []
    assert (await client.get(f"/pattern/{AB}", headers={"X-Session-ID": other})).status_code == 404
    assert (await client.get(f"/pattern/{AB}", headers={"X-Session-ID": one})).status_code == 200
    await client.post(f"/v2/sessions/{other}/clear-all")
    assert (await client.get(f"/pattern/{AB}", headers={"X-Session-ID": one})).status_code == 200
