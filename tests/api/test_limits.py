"""Every configurable limit: a clear 4xx, and a rejected request changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from kato.core.hashing import pattern_hash
from tests.api.conftest import ClientFactory, assert_error, new_session, observe

LIMITS = {
    "max_symbols_per_observation": 3,
    "max_symbol_length": 5,
    "max_vectors_per_observation": 1,
    "max_vector_dimension": 2,
    "max_emotives_per_observation": 1,
    "max_emotive_name_length": 5,
    "max_observations_per_sequence": 2,
    "max_metadata_bytes": 16,
    "max_body_bytes": 1024,
}


async def _state(client: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    stm = (await client.get(f"/v2/sessions/{session_id}/stm")).json()
    percept = (await client.get(f"/v2/sessions/{session_id}/percept-data")).json()
    return {"stm": stm["stm"], "percept": percept["percept_data"]}


async def test_observation_limits(start: ClientFactory) -> None:
    async with start(limits=LIMITS) as client:
        session_id = await new_session(client)
        await observe(client, session_id, "a")
        before = await _state(client, session_id)
        for body, limit in (
            ({"strings": ["a", "b", "c", "d"]}, "max_symbols_per_observation"),
            ({"strings": ["abcdef"]}, "max_symbol_length"),
            ({"vectors": [[1.0], [2.0]]}, "max_vectors_per_observation"),
            ({"vectors": [[1.0, 2.0, 3.0]]}, "max_vector_dimension"),
            ({"emotives": {"a": 1, "b": 2}}, "max_emotives_per_observation"),
            ({"emotives": {"abcdef": 1}}, "max_emotive_name_length"),
        ):
            response = await client.post(f"/v2/sessions/{session_id}/observe", json=body)
            error = assert_error(response, 422, "KATO_LIMIT_EXCEEDED")
            assert (
                error["details"]["limit"] == limit and error["details"]["maximum"] == LIMITS[limit]
            )
            v1 = await client.post("/observe", json=body, headers={"X-Session-ID": session_id})
            assert_error(v1, 422, "KATO_LIMIT_EXCEEDED")
        assert await _state(client, session_id) == before
        assert (await observe(client, session_id, "b"))["time"] == 2


async def test_openapi_declares_the_configured_limits(start: ClientFactory) -> None:
    async with start(limits=LIMITS) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    observation = schemas["ObservationIn"]["properties"]
    strings, vectors, emotives = (
        observation[name]["anyOf"][0] for name in ("strings", "vectors", "emotives")
    )
    assert strings["maxItems"] == 3 and strings["items"]["maxLength"] == 5
    assert vectors["maxItems"] == 1
    assert vectors["items"]["minItems"] == 1 and vectors["items"]["maxItems"] == 2
    assert emotives["maxProperties"] == 1
    assert emotives["propertyNames"] == {"minLength": 1, "maxLength": 5}
    assert emotives["additionalProperties"]["maximum"] == 1e300
    sequence = schemas["ObserveSequenceRequest"]["properties"]["observations"]
    assert sequence["maxItems"] == 2
    assert schemas["GeneUpdates"]["properties"]["persistence"]["maximum"] == 100


async def test_emotives_whose_mean_would_overflow_are_refused(start: ClientFactory) -> None:
    """1.7e308 twice: the naive mean is inf, answered as a JSON null. Each value beyond ±1e300
    is a 422 and nothing is stored, so no sum of emotives can leave the double range."""
    async with start() as client:
        session_id = await new_session(client)
        await observe(client, session_id, "a")
        before = await _state(client, session_id)
        huge = {"strings": ["b"], "emotives": {"joy": 1.7e308}}
        for _ in range(2):
            v2 = await client.post(f"/v2/sessions/{session_id}/observe", json=huge)
            assert_error(v2, 422, "KATO_VALIDATION_ERROR")
            v1 = await client.post("/observe", json=huge, headers={"X-Session-ID": session_id})
            assert_error(v1, 422, "KATO_VALIDATION_ERROR")
        assert await _state(client, session_id) == before
        cognition = await client.get(f"/v2/sessions/{session_id}/cognition-data")
        assert cognition.json()["cognition_data"]["emotives"] == {}
        # The bound itself is accepted, and averages of values within it stay finite.
        await observe(client, session_id, "b", emotives={"joy": 1e300})
        await observe(client, session_id, "c", emotives={"joy": -1e300})
        cognition = await client.get(f"/v2/sessions/{session_id}/cognition-data")
        assert cognition.json()["cognition_data"]["emotives"] == {"joy": 0.0}


async def test_sequence_and_metadata_limits(start: ClientFactory) -> None:
    async with start(limits=LIMITS) as client:
        session_id = await new_session(client)
        three = {"observations": [{"strings": ["a"]}] * 3}
        response = await client.post(f"/v2/sessions/{session_id}/observe-sequence", json=three)
        assert_error(response, 422, "KATO_LIMIT_EXCEEDED")
        assert (await _state(client, session_id))["stm"] == []
        one_bad = {"observations": [{"strings": ["a"]}, {"strings": ["toolong"]}]}
        response = await client.post(f"/v2/sessions/{session_id}/observe-sequence", json=one_bad)
        assert_error(response, 422, "KATO_LIMIT_EXCEEDED")
        assert (await _state(client, session_id))["stm"] == []
        big = {"node_id": "n", "metadata": {"text": "x" * 32}}
        assert_error(await client.post("/v2/sessions", json=big), 422, "KATO_LIMIT_EXCEEDED")
        assert (await client.get("/v2/sessions/count")).json()["active_session_count"] == 1


async def test_body_size_limit_declared_and_streamed(start: ClientFactory) -> None:
    async with start(limits=LIMITS) as client:
        session_id = await new_session(client)
        url = f"/v2/sessions/{session_id}/observe"
        payload = b'{"strings": ["' + b"a" * 2000 + b'"]}'
        assert_error(await client.post(url, content=payload), 413, "KATO_PAYLOAD_TOO_LARGE")

        async def chunks() -> AsyncIterator[bytes]:
            for start_at in range(0, len(payload), 100):
                yield payload[start_at : start_at + 100]

        streamed = await client.post(url, content=chunks())
        assert_error(streamed, 413, "KATO_PAYLOAD_TOO_LARGE")
        assert (await _state(client, session_id))["stm"] == []


async def test_stm_overflow_trims_by_default(start: ClientFactory) -> None:
    async with start(session={"max_stm_size": 3}) as client:
        session_id = await new_session(client)
        for symbol in "abcde":
            result = await observe(client, session_id, symbol)
        assert result["stm_length"] == 3 and result["time"] == 5
        stm = (await _state(client, session_id))["stm"]
        assert stm == [["c"], ["d"], ["e"]]


async def test_stm_overflow_reject_is_413_and_changes_nothing(start: ClientFactory) -> None:
    async with start(session={"max_stm_size": 3, "stm_overflow": "reject"}) as client:
        session_id = await new_session(client)
        for symbol in "abc":
            await observe(client, session_id, symbol)
        before = await _state(client, session_id)
        response = await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["d"]})
        assert_error(response, 413, "KATO_SESSION_TOO_LARGE")
        assert await _state(client, session_id) == before
        await client.post(f"/v2/sessions/{session_id}/learn")
        assert (await observe(client, session_id, "d"))["time"] == 4


async def test_session_byte_cap_is_413_and_changes_nothing(start: ClientFactory) -> None:
    async with start(session={"max_session_bytes": 2048}) as client:
        session_id = await new_session(client)
        rejected = None
        for position in range(40):
            response = await client.post(
                f"/v2/sessions/{session_id}/observe", json={"strings": [f"{position:03d}" * 30]}
            )
            if response.status_code != 200:
                rejected = response
                break
        assert rejected is not None
        assert_error(rejected, 413, "KATO_SESSION_TOO_LARGE")
        stm = (await _state(client, session_id))["stm"]
        assert len(stm) == position and stm[-1] == [f"{position - 1:03d}" * 30]


async def test_a_refused_observe_writes_nothing_to_the_knowledge_base(start: ClientFactory) -> None:
    """The caps are checked before any store write: an observe that would auto-learn but
    makes the session too large is refused, and the pattern it would have learned is absent."""
    async with start(session={"max_session_bytes": 2048}) as client:
        session_id = await new_session(client)
        config = {"config": {"max_pattern_length": 2}}
        assert (await client.post(f"/v2/sessions/{session_id}/config", json=config)).is_success
        await observe(client, session_id, "a")
        before = await _state(client, session_id)
        big = [f"s{number:03d}" for number in range(400)]
        response = await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": big})
        assert_error(response, 413, "KATO_SESSION_TOO_LARGE")
        assert await _state(client, session_id) == before
        name = pattern_hash([["a"], sorted(big)])
        missing = await client.get(f"/pattern/{name}", headers={"X-Session-ID": session_id})
        assert missing.status_code == 404


async def test_a_refused_observe_leaves_no_metadata_behind(start: ClientFactory) -> None:
    # The metadata accumulator (§12.5, the 3.x surface) grows in place: a refused observe's
    # entry must not reach the stored session (and so the next learn).
    async with start(session={"max_stm_size": 2, "stm_overflow": "reject"}) as client:
        created = await client.post("/sessions", json={"node_id": "alice"})
        session_id = created.json()["session_id"]
        for strings, source in ((["a"], None), (["b"], "kept"), (["c"], "refused")):
            body = {"strings": strings, **({"metadata": {"src": source}} if source else {})}
            response = await client.post(f"/sessions/{session_id}/observe", json=body)
        assert_error(response, 413, "KATO_SESSION_TOO_LARGE")
        learned = await client.post(f"/sessions/{session_id}/learn")
        assert learned.status_code == 200, learned.text
        name = learned.json()["pattern_name"].removeprefix("PTRN|")
        pattern = await client.get(f"/v2/nodes/alice/patterns/{name}")
        assert pattern.status_code == 200, pattern.text
        assert pattern.json()["metadata"] == {"src": ["kept"]}
