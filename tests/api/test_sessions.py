"""v2 session endpoints: lifecycle, engine operations, per-session configuration."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest

from kato.core.hashing import pattern_hash
from tests.api.conftest import ClientFactory, assert_error, new_session, observe

AB = "PTRN|" + pattern_hash([["a"], ["b"]])


async def test_create_with_node_id_and_user_id_alias(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v2/sessions", json={"node_id": "n1", "metadata": {"k": "v"}, "ttl_seconds": 60}
    )
    body = created.json()
    assert body["node_id"] == body["user_id"] == "n1"
    assert body["metadata"] == {"k": "v"} and body["ttl_seconds"] == 60
    assert body["session_id"].startswith("session-")
    created_at = datetime.fromisoformat(body["created_at"])
    assert (datetime.fromisoformat(body["expires_at"]) - created_at).total_seconds() == 60
    alias = (await client.post("/v2/sessions", json={"user_id": "n2"})).json()
    assert alias["node_id"] == "n2" and alias["ttl_seconds"] == 3600


async def test_create_rejects_missing_or_conflicting_node(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/v2/sessions", json={}), 422, "KATO_VALIDATION_ERROR")
    conflicting = {"node_id": "a", "user_id": "b"}
    assert_error(await client.post("/v2/sessions", json=conflicting), 422, "KATO_VALIDATION_ERROR")
    assert_error(
        await client.post("/v2/sessions", json={"node_id": 5}), 422, "KATO_VALIDATION_ERROR"
    )
    bad_gene = {"node_id": "a", "config": {"persistence": 0}}
    assert_error(await client.post("/v2/sessions", json=bad_gene), 400, "KATO_VALIDATION_ERROR")
    assert (await client.get("/v2/sessions/count")).json() == {"active_session_count": 0}


async def test_get_delete_exists_count(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    assert (await client.get(f"/v2/sessions/{session_id}")).json()["session_id"] == session_id
    assert (await client.get("/v2/sessions/count")).json() == {"active_session_count": 1}
    exists = (await client.get(f"/v2/sessions/{session_id}/exists")).json()
    assert exists == {"exists": True, "expired": False, "session_id": session_id}
    deleted = await client.delete(f"/v2/sessions/{session_id}")
    assert deleted.json() == {
        "status": "deleted",
        "session_id": session_id,
        "ttl_seconds": None,
        "scope": None,
    }
    assert_error(await client.get(f"/v2/sessions/{session_id}"), 404, "KATO_SESSION_NOT_FOUND")
    assert_error(await client.delete(f"/v2/sessions/{session_id}"), 404, "KATO_SESSION_NOT_FOUND")
    assert (await client.get(f"/v2/sessions/{session_id}/exists")).json()["exists"] is False
    assert (await client.get("/v2/sessions/count")).json() == {"active_session_count": 0}


async def test_ttl_expiry_and_extend(client: httpx.AsyncClient) -> None:
    short = await new_session(client, ttl_seconds=1)
    kept = await new_session(client, ttl_seconds=1)
    extended = await client.post(f"/v2/sessions/{kept}/extend", params={"ttl_seconds": 60})
    assert extended.json()["status"] == "extended" and extended.json()["ttl_seconds"] == 60
    await asyncio.sleep(1.1)
    assert_error(await client.get(f"/v2/sessions/{short}"), 404, "KATO_SESSION_EXPIRED")
    assert_error(
        await client.post(f"/v2/sessions/{short}/observe", json={"strings": ["a"]}),
        404,
        "KATO_SESSION_EXPIRED",
    )
    assert (await client.get(f"/v2/sessions/{kept}")).status_code == 200
    missing = await client.post("/v2/sessions/nope/extend", params={"ttl_seconds": 5})
    assert_error(missing, 404, "KATO_SESSION_NOT_FOUND")


async def test_observe_stm_learn_predictions(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    first = await observe(client, session_id, "b", "a")
    assert first["status"] == "ok" and first["stm_length"] == 1 and first["time"] == 1
    assert first["unique_id"].startswith("obs-") and first["auto_learned_pattern"] is None
    assert first["processor_id"] == "alice" and first["session_id"] == session_id
    stm = (await client.get(f"/v2/sessions/{session_id}/stm")).json()
    assert stm == {"stm": [["a", "b"]], "session_id": session_id, "length": 1}

    await client.post(f"/v2/sessions/{session_id}/clear-stm")
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    learned = (await client.post(f"/v2/sessions/{session_id}/learn")).json()
    assert learned["pattern_name"] == AB and learned["status"] == "learned"
    assert (await client.get(f"/v2/sessions/{session_id}/stm")).json()["length"] == 0

    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    body = (await client.get(f"/v2/sessions/{session_id}/predictions")).json()
    assert body["count"] == 1 and body["session_id"] == session_id
    assert body["predictions"][0]["name"] == AB.removeprefix("PTRN|")


async def test_clear_stm_and_clear_all(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    cleared = (await client.post(f"/v2/sessions/{session_id}/clear-stm")).json()
    assert cleared["status"] == "cleared"
    assert (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"] == []
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    await client.post(f"/v2/sessions/{session_id}/learn")
    everything = (await client.post(f"/v2/sessions/{session_id}/clear-all")).json()
    assert everything["scope"] == "all"
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    assert (await client.get(f"/v2/sessions/{session_id}/predictions")).json()["count"] == 0


async def test_percept_and_cognition_data(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    await observe(client, session_id, "x", emotives={"joy": 0.5})
    percept = (await client.get(f"/v2/sessions/{session_id}/percept-data")).json()
    assert percept["percept_data"]["strings"] == ["x"]
    assert percept["percept_data"]["emotives"] == {"joy": 0.5}
    cognition = (await client.get(f"/v2/sessions/{session_id}/cognition-data")).json()
    assert cognition["cognition_data"]["short_term_memory"] == [["x"]]
    assert cognition["cognition_data"]["emotives"] == {"joy": 0.5}


async def test_observe_sequence(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    sequence = {
        "observations": [{"strings": ["a"]}, {"strings": ["b"]}],
        "learn_at_end": True,
    }
    body = (await client.post(f"/v2/sessions/{session_id}/observe-sequence", json=sequence)).json()
    assert body["status"] == "completed" and body["observations_processed"] == 2
    assert [r["time"] for r in body["results"]] == [1, 2]
    assert body["final_learned_pattern"] == AB and body["final_stm_length"] == 0
    assert body["session_id"] == session_id


async def test_config_get_update_and_reject_all_or_nothing(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    config = (await client.get(f"/v2/sessions/{session_id}/config")).json()["config"]
    assert config["recall_threshold"] == 0.1 and config["max_pattern_length"] == 0
    updated = await client.post(
        f"/v2/sessions/{session_id}/config", json={"config": {"max_pattern_length": 2}}
    )
    assert updated.json()["config"]["max_pattern_length"] == 2
    await observe(client, session_id, "a")
    assert (await observe(client, session_id, "b"))["auto_learned_pattern"] == AB

    bad = {"recall_threshold": 2, "persistence": "5", "nonsense": 1, "max_predictions": 7}
    error = assert_error(
        await client.post(f"/v2/sessions/{session_id}/config", json=bad),
        400,
        "KATO_VALIDATION_ERROR",
    )
    reported = " ".join(error["details"]["validation_errors"])
    assert "recall_threshold" in reported and "persistence" in reported
    assert "nonsense" in reported
    after = (await client.get(f"/v2/sessions/{session_id}/config")).json()["config"]
    assert after["max_predictions"] == 100 and after["max_pattern_length"] == 2


async def test_per_session_config_does_not_touch_other_sessions(start: ClientFactory) -> None:
    async with start() as client:
        first, second = await new_session(client), await new_session(client)
        await client.post(f"/v2/sessions/{first}/config", json={"max_predictions": 3})
        other = (await client.get(f"/v2/sessions/{second}/config")).json()["config"]
        assert other["max_predictions"] == 100


@pytest.mark.parametrize(("interval", "swept"), [(1, True), (300, False)])
async def test_periodic_cleanup_removes_expired_sessions(
    start: ClientFactory, interval: int, swept: bool
) -> None:
    async with start(session={"cleanup_interval": interval}) as client:
        await new_session(client, ttl_seconds=1)
        await asyncio.sleep(2.3)
        sessions = (await client.get("/status")).json()["sessions"]
        # /status evicts what it finds expired and reports it: 0 means the sweep came first.
        assert sessions["expired_sessions"] == (0 if swept else 1)
        assert sessions["active_sessions"] == 0


async def test_lone_surrogates_are_refused_and_do_not_poison_the_session(
    client: httpx.AsyncClient,
) -> None:
    # JSON can escape a lone surrogate; stored, it made every later learn or read a 500.
    session_id = await new_session(client)
    headers = {"content-type": "application/json"}
    for body in ('{"strings": ["\\ud800"]}', '{"strings": ["a"], "emotives": {"\\udfff": 1}}'):
        response = await client.post(
            f"/v2/sessions/{session_id}/observe", content=body, headers=headers
        )
        assert_error(response, 422, "KATO_VALIDATION_ERROR")
    created = await client.post(
        "/v2/sessions", content='{"node_id": "n", "metadata": {"k": "\\ud800"}}', headers=headers
    )
    assert_error(created, 422, "KATO_VALIDATION_ERROR")
    stm = await client.get(f"/v2/sessions/{session_id}/stm")
    assert stm.status_code == 200 and stm.json()["stm"] == []
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    assert (await client.post(f"/v2/sessions/{session_id}/learn")).json()["pattern_name"] == AB


async def test_observe_sequence_reports_section_12_4_fields_and_archives_its_ids(
    start: ClientFactory,
) -> None:
    async with start(service={"archive_predictions": True}) as client:
        session_id = await new_session(client)
        await observe(client, session_id, "a")
        await observe(client, session_id, "b")
        await client.post(f"/v2/sessions/{session_id}/learn")
        sequence = {"observations": [{"strings": ["a"], "unique_id": "u-1"}, {"strings": ["b"]}]}
        response = await client.post(f"/v2/sessions/{session_id}/observe-sequence", json=sequence)
        body = response.json()
        assert body["processor_id"] == "alice" and body["isolated"] is False
        first, second = body["results"]
        assert first["unique_id"] == "u-1" and second["unique_id"].startswith("obs-")
        # The reported id is the one the engine archived the predictions under.
        archived = await client.get(
            "/predictions",
            params={"unique_id": second["unique_id"]},
            headers={"X-Session-ID": session_id},
        )
        assert archived.status_code == 200, archived.text
        assert archived.json()["predictions"] != []


async def test_session_responses_carry_x_session_id(client: httpx.AsyncClient) -> None:
    # Semantics §7.3: a response about an existing session names it; a 404 does not.
    session_id = await new_session(client)
    observed = await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]})
    assert observed.headers["X-Session-ID"] == session_id
    stm = await client.get(f"/v2/sessions/{session_id}/stm")
    assert stm.headers["X-Session-ID"] == session_id
    unknown = await client.get("/v2/sessions/nope/stm")
    assert unknown.status_code == 404 and "X-Session-ID" not in unknown.headers
