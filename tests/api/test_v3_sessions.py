"""The KATO 3.x surface ``/sessions/...`` (issue 12 req 1, semantics §12.1–§12.4)."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import ClientFactory, assert_error, new_session, observe
from tests.conformance_cases import GOLDEN, golden, prediction_mismatches, scenarios

# Every §12 prediction setting at its baseline value: /sessions then predicts as v2 does.
V2_PREDICTIONS: dict[str, Any] = {
    "missing_extras_by_event": False,
    "entropy_metrics": "baseline",
    "predictive_information": False,
    "rank_sort_algo": "potential",
    "ensemble_prepruning": False,
    "extended_metrics": False,
    "single_symbol_predictions": False,
    "statistics_rules": "baseline",
}
Z_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def create_v3(client: httpx.AsyncClient, node_id: str = "alice", **extra: Any) -> str:
    response = await client.post("/sessions", json={"node_id": node_id, **extra})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def observe_v3(client: httpx.AsyncClient, session_id: str, *strings: str) -> Any:
    response = await client.post(f"/sessions/{session_id}/observe", json={"strings": list(strings)})
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_answers_the_3x_session_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sessions", json={"node_id": "alice", "metadata": {"app": "x"}, "ttl_seconds": 120}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "session_id",
        "node_id",
        "created_at",
        "expires_at",
        "ttl_seconds",
        "metadata",
        "session_config",
    }
    assert body["node_id"] == "alice"
    assert body["ttl_seconds"] == 120
    assert body["metadata"] == {"app": "x"}
    assert Z_TIMESTAMP.match(body["created_at"]) and Z_TIMESTAMP.match(body["expires_at"])
    config = body["session_config"]
    assert config["stm_mode"] == "CLEAR"  # the 3.x default (§12.2)
    assert config["sort_symbols"] is True and "sort" not in config  # 3.x key names


async def test_ttl_defaults_to_the_configured_ttl_and_get_reports_time_left(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/sessions", json={"node_id": "alice"})).json()
    assert created["ttl_seconds"] == 3600
    info = (await client.get(f"/sessions/{created['session_id']}")).json()
    assert 3590 <= info["ttl_seconds"] <= 3600  # the time left, as 3.x computes it
    assert info["session_config"] == created["session_config"]


async def test_create_requires_node_id_and_ignores_user_id(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/sessions", json={"user_id": "alice"}), 422, "KATO_VALIDATION_ERROR"
    )
    response = await client.post("/sessions", json={"node_id": "alice", "user_id": "bob"})
    assert response.status_code == 200, response.text
    assert response.json()["node_id"] == "alice"


async def test_unknown_fields_are_ignored_on_3x_and_refused_on_v2(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kato.api.v3")
    response = await client.post("/sessions", json={"node_id": "alice", "client_tag": 7})
    assert response.status_code == 200, response.text
    session_id = response.json()["session_id"]
    observed = await client.post(
        f"/sessions/{session_id}/observe", json={"strings": ["a"], "source": "sensor-1"}
    )
    assert observed.status_code == 200, observed.text
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "client_tag" in logged and "source" in logged
    # v2 stays strict on the same session.
    assert_error(
        await client.post(
            f"/v2/sessions/{session_id}/observe", json={"strings": ["a"], "source": "s"}
        ),
        422,
        "KATO_VALIDATION_ERROR",
    )
    assert_error(
        await client.post("/v2/sessions", json={"node_id": "alice", "client_tag": 7}),
        422,
        "KATO_VALIDATION_ERROR",
    )


async def test_types_stay_strict_on_3x(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    assert_error(
        await client.post(f"/sessions/{session_id}/observe", json={"strings": [5]}),
        422,
        "KATO_VALIDATION_ERROR",
    )
    stm = (await client.get(f"/sessions/{session_id}/stm")).json()
    assert stm == {"stm": [], "session_id": session_id, "length": 0}


async def test_learn_of_one_symbol_says_nothing_was_learned(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    await observe_v3(client, session_id, "a")
    learned = (await client.post(f"/sessions/{session_id}/learn")).json()
    assert learned["pattern_name"] == ""
    assert learned["message"].startswith("Nothing learned: a pattern needs at least two symbols")


async def test_observe_learn_predictions_shapes(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    observed = await observe_v3(client, session_id, "a", "b")
    assert set(observed) == {
        "status",
        "session_id",
        "processor_id",
        "stm_length",
        "time",
        "unique_id",
        "auto_learned_pattern",
    }
    assert observed["status"] == "okay" and observed["processor_id"] == "alice"
    await observe_v3(client, session_id, "c")
    learned = (await client.post(f"/sessions/{session_id}/learn")).json()
    assert learned["status"] == "learned"
    assert learned["processor_id"] == "alice"
    assert learned["message"] == f"Learned pattern {learned['pattern_name']} from 0 events"
    await observe_v3(client, session_id, "a", "b")
    body = (await client.get(f"/sessions/{session_id}/predictions")).json()
    assert set(body) == {
        "predictions",
        "future_potentials",
        "session_id",
        "processor_id",
        "count",
        "time",
        "unique_id",
    }
    assert body["count"] == 1
    assert "PTRN|" + body["predictions"][0]["name"] == learned["pattern_name"]
    assert body["time"] == 3 and body["processor_id"] == "alice"


async def test_learning_an_empty_stm_is_a_400(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    assert_error(await client.post(f"/sessions/{session_id}/learn"), 400, "KATO_EMPTY_STM")


async def test_a_session_is_usable_on_both_surfaces(client: httpx.AsyncClient) -> None:
    v3_session = await create_v3(client, "shared")
    await observe(client, v3_session, "a")  # v2 observe of a 3.x session
    await observe_v3(client, v3_session, "b")
    stm = (await client.get(f"/v2/sessions/{v3_session}/stm")).json()["stm"]
    assert stm == [["a"], ["b"]]
    v2_session = await new_session(client, "shared")
    await observe_v3(client, v2_session, "x")
    assert (await client.get(f"/sessions/{v2_session}/stm")).json()["stm"] == [["x"]]
    # The same node: a pattern learned on one surface is predicted on the other.
    name = (await client.post(f"/sessions/{v3_session}/learn")).json()["pattern_name"]
    await client.post(f"/v2/sessions/{v2_session}/clear-stm")
    await observe(client, v2_session, "a")
    await observe(client, v2_session, "b")
    predicted = (await client.get(f"/v2/sessions/{v2_session}/predictions")).json()
    assert ["PTRN|" + p["name"] for p in predicted["predictions"]] == [name]


async def test_the_session_configuration_decides_semantics_not_the_surface(
    client: httpx.AsyncClient,
) -> None:
    v2_session = await new_session(client, "n")
    v3_session = await create_v3(client, "n")
    v2_config = (await client.get(f"/sessions/{v2_session}/config")).json()["config"]
    v3_config = (await client.get(f"/v2/sessions/{v3_session}/config")).json()["config"]
    assert v2_config["stm_mode"] == "BASELINE"
    assert v3_config["stm_mode"] == "CLEAR"
    # Auto-learn at max_pattern_length 2: the 3.x session empties STM (§12.2), the v2 session
    # keeps the last event (§2.6) — whichever surface observes.
    for session_id in (v2_session, v3_session):
        await client.post(f"/sessions/{session_id}/config", json={"max_pattern_length": 2})
        await observe_v3(client, session_id, "a")
        await observe(client, session_id, "b")
    assert (await client.get(f"/sessions/{v2_session}/stm")).json()["stm"] == [["b"]]
    assert (await client.get(f"/sessions/{v3_session}/stm")).json()["stm"] == []


async def test_config_round_trip_under_3x_names(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client, config={"sort_symbols": False, "recall_threshold": 0.5})
    updated = await client.post(
        f"/sessions/{session_id}/config", json={"config": {"max_predictions": 7}}
    )
    assert updated.json() == {
        "status": "okay",
        "message": "Configuration updated",
        "session_id": session_id,
    }
    body = (await client.get(f"/sessions/{session_id}/config")).json()
    assert body["session_id"] == session_id
    config = body["config"]
    assert (config["sort_symbols"], config["recall_threshold"], config["max_predictions"]) == (
        False,
        0.5,
        7,
    )
    bare = await client.post(f"/sessions/{session_id}/config", json={"persistence": 9})
    assert bare.status_code == 200
    assert (await client.get(f"/sessions/{session_id}/config")).json()["config"]["persistence"] == 9


async def test_unknown_config_keys_list_every_error_and_apply_nothing(
    client: httpx.AsyncClient,
) -> None:
    session_id = await create_v3(client)
    before = (await client.get(f"/sessions/{session_id}/config")).json()["config"]
    response = await client.post(
        f"/sessions/{session_id}/config",
        json={"config": {"max_predictions": 5, "no_such_key": 1, "persistence": 0}},
    )
    error = assert_error(response, 400, "KATO_VALIDATION_ERROR")
    problems = error["details"]["validation_errors"]
    assert len(problems) == 2
    assert any("no_such_key" in p for p in problems) and any("persistence" in p for p in problems)
    assert (await client.get(f"/sessions/{session_id}/config")).json()["config"] == before
    # At creation too: nothing is created.
    count = (await client.get("/sessions/count")).json()["active_session_count"]
    assert_error(
        await client.post("/sessions", json={"node_id": "a", "config": {"bogus": 1}}),
        400,
        "KATO_VALIDATION_ERROR",
    )
    assert (await client.get("/sessions/count")).json()["active_session_count"] == count


async def test_an_invalid_stm_mode_string_is_normalised_to_clear(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client, config={"stm_mode": "ROLLING"})
    response = await client.post(f"/sessions/{session_id}/config", json={"stm_mode": "SLIDING"})
    assert response.status_code == 200, response.text
    assert (await client.get(f"/sessions/{session_id}/config")).json()["config"]["stm_mode"] == (
        "CLEAR"
    )
    assert_error(
        await client.post(f"/sessions/{session_id}/config", json={"stm_mode": 3}),
        400,
        "KATO_VALIDATION_ERROR",
    )
    # v2 stays strict about the same value.
    assert_error(
        await client.post(f"/v2/sessions/{session_id}/config", json={"stm_mode": "SLIDING"}),
        400,
        "KATO_VALIDATION_ERROR",
    )


async def test_an_operators_explicit_gene_wins_over_the_3x_default(start: ClientFactory) -> None:
    async with start(genes={"stm_mode": "ROLLING"}) as client:
        created = (await client.post("/sessions", json={"node_id": "a"})).json()
        assert created["session_config"]["stm_mode"] == "ROLLING"


async def test_session_management_routes(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    assert (await client.get("/sessions/count")).json() == {"active_session_count": 1}
    assert (await client.get(f"/sessions/{session_id}/exists")).json() == {
        "exists": True,
        "expired": False,
        "session_id": session_id,
    }
    extended = await client.post(f"/sessions/{session_id}/extend?ttl_seconds=60")
    assert extended.json() == {"status": "extended", "session_id": session_id, "ttl_seconds": 60}
    await observe_v3(client, session_id, "a")
    assert (await client.post(f"/sessions/{session_id}/clear-stm")).json() == {
        "status": "cleared",
        "session_id": session_id,
    }
    assert (await client.post(f"/sessions/{session_id}/clear-all")).json() == {
        "status": "cleared",
        "session_id": session_id,
        "scope": "all",
    }
    assert (await client.delete(f"/sessions/{session_id}")).json() == {
        "status": "deleted",
        "session_id": session_id,
    }
    assert (await client.get(f"/sessions/{session_id}/exists")).json()["exists"] is False
    assert_error(await client.get(f"/sessions/{session_id}"), 404, "KATO_SESSION_NOT_FOUND")


async def test_percept_and_cognition_data_name_the_node(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client, "node-7")
    await observe_v3(client, session_id, "a", "b")
    percept = (await client.get(f"/sessions/{session_id}/percept-data")).json()
    assert set(percept) == {"percept_data", "session_id", "node_id"}
    assert percept["node_id"] == "node-7" and percept["percept_data"]["strings"] == ["a", "b"]
    cognition = (await client.get(f"/sessions/{session_id}/cognition-data")).json()
    assert set(cognition) == {"cognition_data", "session_id", "node_id"}
    assert cognition["cognition_data"]["symbols"] == ["a", "b"]


async def test_observe_sequence_answers_the_3x_shape(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client)
    response = await client.post(
        f"/sessions/{session_id}/observe-sequence",
        json={
            "observations": [{"strings": ["a"], "metadata": {"k": 1}}, {"strings": ["b"], "x": 1}],
            "learn_at_end": True,
            "batch_label": "ignored",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "status",
        "processor_id",
        "observations_processed",
        "initial_stm_length",
        "final_stm_length",
        "results",
        "auto_learned_patterns",
        "final_learned_pattern",
        "isolated",
    }
    assert body["status"] == "completed" and body["observations_processed"] == 2
    assert body["final_learned_pattern"] and body["auto_learned_patterns"] == [
        body["final_learned_pattern"]
    ]
    assert [r["sequence_position"] for r in body["results"]] == [0, 1]
    assert all(r["unique_id"].startswith("seq-obs-") for r in body["results"])
    empty = await client.post(f"/sessions/{session_id}/observe-sequence", json={"observations": []})
    assert empty.json()["observations_processed"] == 0


@pytest.mark.slow
@pytest.mark.timeout(900)  # the whole golden corpus over HTTP, as the v2 replay
@pytest.mark.skipif(not GOLDEN.exists(), reason=f"conformance data not found at {GOLDEN}")
async def test_golden_scenarios_on_sessions_with_the_v2_configuration(start: ClientFactory) -> None:
    """The golden replay on ``/sessions``: with a v2-equivalent configuration (``stm_mode``
    BASELINE, no sliding expiry) every prediction is the same as on ``/v2/sessions``."""
    problems: list[str] = []
    async with start(genes=golden()["genes"]) as client:
        for scenario in scenarios():
            base = ""
            for step, op in enumerate(scenario["ops"]):
                kind, expect = op["op"], op.get("expect", {})
                where = f"{scenario['id']} op {step} {kind}"
                if kind == "new_node":
                    v2_like = {
                        "stm_mode": "BASELINE",
                        "session_auto_extend": False,
                        **V2_PREDICTIONS,
                    }
                    body = {"node_id": scenario["id"], "config": v2_like}
                    created = (await client.post("/sessions", json=body)).json()
                    base = f"/sessions/{created['session_id']}"
                elif kind == "observe":
                    sent = {key: op[key] for key in ("strings", "vectors", "emotives")}
                    answer = (await client.post(f"{base}/observe", json=sent)).json()
                    if answer.get("time") != expect["time"]:
                        problems.append(f"{where}: {answer}")
                elif kind == "learn":
                    answer = (await client.post(f"{base}/learn")).json()
                    if expect.get("error") != "empty_stm" and (
                        answer.get("pattern_name") != expect["pattern_name"]
                    ):
                        problems.append(f"{where}: {answer}")
                elif kind == "clear_stm":
                    await client.post(f"{base}/clear-stm")
                elif kind == "predictions":
                    got = (await client.get(f"{base}/predictions")).json()["predictions"]
                    problems += [
                        f"{where}: {p}" for p in prediction_mismatches(got, expect["predictions"])
                    ]
                if "stm" in expect:
                    stm = (await client.get(f"{base}/stm")).json()["stm"]
                    if stm != expect["stm"]:
                        problems.append(f"{where}: stm {stm!r}")
    assert problems == []


async def test_v1_pattern_honours_node_id_as_3x_does(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client, "node-p")
    await observe_v3(client, session_id, "a")
    await observe_v3(client, session_id, "b")
    name = (await client.post(f"/sessions/{session_id}/learn")).json()["pattern_name"]
    response = await client.get(f"/pattern/{name}", params={"node_id": "node-p"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"pattern", "node_id"} and body["node_id"] == "node-p"
    assert body["pattern"]["name"] == name
    assert body["pattern"]["pattern_data"] == [["a"], ["b"]]
    assert body["pattern"]["metadata"] == {}
    # Without node_id: the v1 default session's node, which does not have it.
    assert_error(await client.get(f"/pattern/{name}"), 404, "KATO_PATTERN_NOT_FOUND")
    # A node with no knowledge base: not found, and nothing is created.
    assert_error(
        await client.get(f"/pattern/{name}", params={"node_id": "nobody"}),
        404,
        "KATO_PATTERN_NOT_FOUND",
    )
    # v1 with X-Session-ID still answers the v1 shape.
    v1 = (await client.get(f"/pattern/{name}", headers={"X-Session-ID": session_id})).json()
    assert set(v1) == {"pattern", "processor_id", "session_id"}


async def test_observation_metadata_reaches_the_learned_pattern(client: httpx.AsyncClient) -> None:
    session_id = await create_v3(client, "meta")
    for strings, metadata in ((["a"], {"till": 7}), (["b"], {"till": "x", "day": "mon"})):
        response = await client.post(
            f"/sessions/{session_id}/observe", json={"strings": strings, "metadata": metadata}
        )
        assert response.status_code == 200, response.text
    percept = (await client.get(f"/sessions/{session_id}/percept-data")).json()
    assert percept["percept_data"]["metadata"] == {"till": "x", "day": "mon"}
    name = (await client.post(f"/sessions/{session_id}/learn")).json()["pattern_name"]
    pattern = (await client.get(f"/pattern/{name}", params={"node_id": "meta"})).json()["pattern"]
    assert pattern["metadata"] == {"day": ["mon"], "till": ["7", "x"]}


async def test_observation_metadata_is_bounded(start: ClientFactory) -> None:
    async with start(limits={"max_metadata_bytes": 32}) as client:
        session_id = await create_v3(client)
        response = await client.post(
            f"/sessions/{session_id}/observe", json={"strings": ["a"], "metadata": {"k": "v" * 64}}
        )
        assert_error(response, 422, "KATO_LIMIT_EXCEEDED")
        assert (await client.get(f"/sessions/{session_id}/stm")).json()["stm"] == []
