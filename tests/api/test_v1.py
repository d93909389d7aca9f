"""v1 endpoints of semantics §8.1 served by sessions (D9)."""

from __future__ import annotations

import httpx

from kato.core.hashing import pattern_hash
from tests.api.conftest import ClientFactory, assert_error, new_session, observe

AB_HASH = pattern_hash([["a"], ["b"]])
AB = "PTRN|" + AB_HASH


async def _learn_ab(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
    for symbol in ("a", "b"):
        await client.post("/observe", json={"strings": [symbol]}, headers=headers)
    learned = (await client.post("/learn", headers=headers)).json()
    assert learned["pattern_name"] == AB and learned["message"] == f"Learned pattern: {AB}"


async def test_default_session_persists_between_requests(client: httpx.AsyncClient) -> None:
    first = (await client.post("/observe", json={"strings": ["a"]})).json()
    second = (await client.post("/observe", json={"strings": ["b"]})).json()
    assert first["status"] == "okay" and first["time"] == 1 and second["time"] == 2
    assert first["session_id"] == second["session_id"]
    assert first["processor_id"] == "default"
    assert first["unique_id"].startswith("obs-") and first["auto_learned_pattern"] is None
    for path in ("/stm", "/short-term-memory"):
        body = (await client.get(path)).json()
        assert body["stm"] == [["a"], ["b"]] and body["session_id"] == first["session_id"]


async def test_x_session_id_routes_and_unknown_is_404(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "routed")
    headers = {"X-Session-ID": session_id}
    observed = (await client.post("/observe", json={"strings": ["z"]}, headers=headers)).json()
    assert observed["session_id"] == session_id and observed["processor_id"] == "routed"
    assert (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"] == [["z"]]
    assert (await client.get("/stm")).json()["stm"] == []  # the default session is untouched
    unknown = {"X-Session-ID": "session-unknown"}
    for method, path in (("POST", "/observe"), ("GET", "/stm"), ("POST", "/learn")):
        response = await client.request(method, path, json={"strings": ["q"]}, headers=unknown)
        assert_error(response, 404, "KATO_SESSION_NOT_FOUND")


async def test_learn_on_empty_stm_is_not_an_error(client: httpx.AsyncClient) -> None:
    body = (await client.post("/learn")).json()
    assert body["pattern_name"] == "" and body["message"] == "Insufficient data for learning"


async def test_predictions_carry_prefix_without_changing_the_cache(
    client: httpx.AsyncClient,
) -> None:
    session_id = await new_session(client, "p")
    headers = {"X-Session-ID": session_id}
    await _learn_ab(client, headers)
    await observe(client, session_id, "a")
    await observe(client, session_id, "b")
    for method in ("GET", "POST"):
        v1 = (await client.request(method, "/predictions", headers=headers)).json()
        assert [p["name"] for p in v1["predictions"]] == [AB]
    v2 = (await client.get(f"/v2/sessions/{session_id}/predictions")).json()
    assert [p["name"] for p in v2["predictions"]] == [AB_HASH]


async def test_pattern_lookup_with_and_without_prefix(client: httpx.AsyncClient) -> None:
    await _learn_ab(client)
    for name in (AB, AB_HASH):
        body = (await client.get(f"/pattern/{name}")).json()
        assert body["pattern"]["name"] == AB and body["pattern"]["frequency"] == 1
        assert body["pattern"]["pattern_data"] == [["a"], ["b"]]
    assert_error(await client.get("/pattern/PTRN|00"), 404, "KATO_PATTERN_NOT_FOUND")


async def test_genes_read_and_update(client: httpx.AsyncClient) -> None:
    assert (await client.get("/gene/recall_threshold")).json()["gene_value"] == 0.1
    assert (await client.get("/gene/sort_symbols")).json()["gene_value"] is True
    assert_error(await client.get("/gene/nonsense"), 404, "KATO_GENE_NOT_FOUND")
    update = {"genes": {"max_pattern_length": 2, "recall_threshold": 0.5}}
    assert (await client.post("/genes/update", json=update)).json()["message"] == "genes-updated"
    assert (await client.get("/gene/recall_threshold")).json()["gene_value"] == 0.5
    await client.post("/observe", json={"strings": ["a"]})
    auto = (await client.post("/observe", json={"strings": ["b"]})).json()
    assert auto["auto_learned_pattern"] == AB
    rejected = await client.post("/genes/update", json={"genes": {"max_predictions": 5, "x": 1}})
    assert_error(rejected, 400, "KATO_VALIDATION_ERROR")
    assert (await client.get("/gene/max_predictions")).json()["gene_value"] == 100


async def test_clear_aliases(client: httpx.AsyncClient) -> None:
    for path in ("/clear-stm", "/clear-short-term-memory"):
        await client.post("/observe", json={"strings": ["a"]})
        body = (await client.post(path)).json()
        assert body["status"] == "okay" and body["message"] == "stm-cleared"
        assert (await client.get("/stm")).json()["stm"] == []
    for path in ("/clear-all", "/clear-all-memory"):
        await _learn_ab(client)
        assert (await client.post(path)).json()["message"] == "all-cleared"
        assert_error(await client.get(f"/pattern/{AB}"), 404, "KATO_PATTERN_NOT_FOUND")


async def test_percept_and_cognition_data(client: httpx.AsyncClient) -> None:
    await client.post("/observe", json={"strings": ["a"], "emotives": {"e": 1}})
    percept = (await client.get("/percept-data")).json()
    assert percept["percept_data"]["strings"] == ["a"] and "session_id" in percept
    cognition = (await client.get("/cognition-data")).json()
    assert cognition["cognition_data"]["short_term_memory"] == [["a"]]
    await client.post("/clear-stm")
    assert (await client.get("/percept-data")).json()["percept_data"] == {}


async def test_observe_sequence_v1_shape(client: httpx.AsyncClient) -> None:
    await _learn_ab(client)
    request = {
        "observations": [{"strings": ["a"], "unique_id": "mine"}, {"strings": ["b"]}],
        "learn_after_each": False,
    }
    body = (await client.post("/observe-sequence", json=request)).json()
    assert body["status"] == "okay" and body["observations_processed"] == 2
    assert body["patterns_learned"] == []
    results = body["individual_results"]
    assert [r["time"] for r in results] == [3, 4]
    assert results[0]["unique_id"] == "mine" and results[1]["unique_id"].startswith("batch-obs-1-")
    assert [p["pattern_name"] for p in body["final_predictions"]] == [AB]
    assert all("name" not in p for p in body["final_predictions"])

    await client.post("/clear-stm")
    learn_each = {"observations": [{"strings": ["a", "b"]}], "learn_after_each": True}
    learned = (await client.post("/observe-sequence", json=learn_each)).json()
    assert learned["patterns_learned"] == ["PTRN|" + pattern_hash([["a", "b"]])]


async def test_observe_sequence_unique_ids_are_the_archived_ones(start: ClientFactory) -> None:
    async with start(service={"archive_predictions": True}) as client:
        for symbol in ("a", "b"):
            await client.post("/observe", json={"strings": [symbol]})
        await client.post("/learn")
        observations = [
            {"strings": ["a"]},
            {"strings": ["b"]},
            {"strings": ["a"], "unique_id": "u-2"},
        ]
        body = (await client.post("/observe-sequence", json={"observations": observations})).json()
        generated = body["individual_results"][1]["unique_id"]
        assert generated.startswith("batch-obs-1-")
        for unique_id in (generated, "u-2"):
            archived = (await client.get("/predictions", params={"unique_id": unique_id})).json()
            assert [record["unique_id"] for record in archived["predictions"]] == [unique_id]


async def test_responses_name_the_session_used_in_x_session_id(
    client: httpx.AsyncClient,
) -> None:
    # Semantics §7.3: the header names the session; the default one when none was sent.
    assert (await client.get("/stm")).headers["X-Session-ID"] == "session-default"
    session_id = await new_session(client)
    routed = await client.post(
        "/observe", json={"strings": ["a"]}, headers={"X-Session-ID": session_id}
    )
    assert routed.headers["X-Session-ID"] == session_id
