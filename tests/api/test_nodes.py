"""The /v2/nodes routes (issue 11 req 1-4) through the real app over httpx: equivalence with
sessions, paging, edits, export/import, limits, unknown nodes, roles and node scope."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kato.api.app import create_app
from kato.config import Settings
from kato.core.hashing import pattern_hash
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from tests.api.conftest import ClientFactory, assert_error, make_settings, new_session
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token

NDJSON = {"Content-Type": "application/x-ndjson"}
SEQUENCES: list[dict[str, Any]] = [
    {"events": [["b", "a"], ["c"]], "emotives": [{"joy": 0.5}, {"joy": 1.0, "fear": 0.0}]},
    {"events": [["a"]]},  # one symbol: reported as "", not learned
    {"events": [["a"], [], ["d"]], "metadata": {"source": "web", "tags": ["x", 1]}},
    {"events": [["b", "a"], ["c"]], "emotives": [{"joy": -1.0}]},
    {"events": [["x"], ["y"], ["z", "x"]]},
]
ABC = "PTRN|" + pattern_hash([["a", "b"], ["c"]])


def pattern_url(node: str, name: str) -> str:
    return f"/v2/nodes/{node}/patterns/{quote(name, safe='')}"


async def learn_batch(client: httpx.AsyncClient, node: str, sequences: list[Any]) -> Any:
    response = await client.post(f"/v2/nodes/{node}/learn-batch", json={"sequences": sequences})
    assert response.status_code == 200, response.text
    return response.json()


async def export_text(client: httpx.AsyncClient, node: str) -> str:
    response = await client.get(f"/v2/nodes/{node}/export")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return response.text


def body_lines(export: str) -> list[str]:
    """The export without its header (which names the node and its revision)."""
    return export.splitlines()[1:]


async def observe_then_learn(client: httpx.AsyncClient, node: str, sequence: dict[str, Any]) -> str:
    session_id = await new_session(client, node)
    events = sequence["events"]
    emotives = sequence.get("emotives", [])
    for position in range(max(len(events), len(emotives))):
        body: dict[str, Any] = {"strings": events[position] if position < len(events) else []}
        if position < len(emotives):
            body["emotives"] = emotives[position]
        response = await client.post(f"/v2/sessions/{session_id}/observe", json=body)
        assert response.status_code == 200, response.text
    learned = await client.post(f"/v2/sessions/{session_id}/learn")
    assert learned.status_code == 200, learned.text
    name: str = learned.json()["pattern_name"]
    return name


# -- equivalence with sessions ----------------------------------------------------------------


async def test_learn_batch_is_exactly_observe_then_learn(client: httpx.AsyncClient) -> None:
    batch = await learn_batch(client, "batched", SEQUENCES)
    assert batch["learned"] == 4
    assert batch["patterns"][0] == batch["patterns"][3] == ABC
    assert batch["patterns"][1] == ""
    names = [await observe_then_learn(client, "observed", sequence) for sequence in SEQUENCES]
    assert names == batch["patterns"]
    batched = body_lines(await export_text(client, "batched"))
    observed = body_lines(await export_text(client, "observed"))
    # Identical patterns, windows and statistics; not metadata (observations carry none yet).
    strip = [{**json.loads(line), "metadata": {}} for line in batched]
    assert strip == [{**json.loads(line), "metadata": {}} for line in observed]
    summary = (await client.get("/v2/nodes/batched")).json()
    assert summary["totals"] == (await client.get("/v2/nodes/observed")).json()["totals"]
    record = (await client.get(pattern_url("batched", ABC))).json()
    assert record["emotives"] == [{"joy": 0.75}, {"joy": -1.0}]  # averaged, zeros dropped
    tagged = (await client.get(pattern_url("batched", batch["patterns"][2]))).json()
    assert tagged["metadata"] == {"source": ["web"], "tags": ["1", "x"]}


async def test_batch_predict_equals_a_fresh_session_holding_that_stm(
    client: httpx.AsyncClient,
) -> None:
    await learn_batch(client, "p", SEQUENCES)
    contexts = [[["a"], ["b"]], [["x"], ["y"]], [["a"]], [["b", "a"], ["q"]], []]
    config = {"recall_threshold": 0.3, "max_predictions": 2}
    for genes in (None, config):
        body: dict[str, Any] = {"contexts": contexts}
        if genes:
            body["config"] = genes
        response = await client.post("/v2/nodes/p/predict", json=body)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert len(results) == len(contexts)
        for context, result in zip(contexts, results, strict=True):
            session_id = await new_session(client, "p", **({"config": genes} if genes else {}))
            for event in context:
                await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": event})
            expected = (await client.get(f"/v2/sessions/{session_id}/predictions")).json()
            assert result["predictions"] == expected["predictions"]
    assert (await client.get("/v2/sessions/count")).json()["active_session_count"] == 10


async def test_batch_predict_bytes_are_those_of_get_predictions(
    client: httpx.AsyncClient,
) -> None:
    """Each result's bytes are GET predictions' bytes for that STM (whose encoding is held to
    the reference by tests/api/test_prediction_bytes.py): floats of every magnitude included."""
    emotives = [{"joy": 0.1, "big": 1e20}, {"joy": 1 / 3, "tiny": 1e-7}, {"fear": -0.0}]
    await learn_batch(
        client, "bytes", [{"events": [["a"], ["b"], ["c"]], "emotives": emotives}, *SEQUENCES]
    )
    contexts = [[["a"], ["b"]], [["b", "a"]], [["x"], ["y"]]]
    response = await client.post("/v2/nodes/bytes/predict", json={"contexts": contexts})
    expected = []
    for context in contexts:
        session_id = await new_session(client, "bytes")
        for event in context:
            await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": event})
        body = (await client.get(f"/v2/sessions/{session_id}/predictions")).content
        predictions = body[len(b'{"predictions":') : body.index(b',"session_id":')]
        expected.append(b'{"predictions":' + predictions + b"}")
    assert response.content == b'{"results":[' + b",".join(expected) + b"]}"


# -- browsing ---------------------------------------------------------------------------------


async def test_patterns_pages_by_name_and_frequency_with_filters(client: httpx.AsyncClient) -> None:
    sequences = [{"events": [[f"s{n}"], [f"t{n % 3}"]]} for n in range(7)]
    await learn_batch(client, "browse", sequences + sequences[:2] + sequences[:1])
    for sort in ("name", "frequency"):
        seen: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/v2/nodes/browse/patterns", params=params)).json()
            seen += page["patterns"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == 7
        key = (lambda p: p["name"]) if sort == "name" else (lambda p: (-p["frequency"], p["name"]))
        assert seen == sorted(seen, key=key)
    first = seen[0]
    assert first["frequency"] == 3 and set(first) == {
        "name",
        "pattern_data",
        "length",
        "frequency",
        "emotives",
        "metadata",
    }
    filtered = await client.get(
        "/v2/nodes/browse/patterns", params={"symbol": "t0", "min_frequency": 2}
    )
    assert [p["pattern_data"] for p in filtered.json()["patterns"]] == [[["s0"], ["t0"]]]
    assert (await client.get("/v2/nodes/browse/patterns", params={"min_length": 3})).json() == {
        "patterns": [],
        "next_cursor": None,
    }
    assert (
        len(
            (await client.get("/v2/nodes/browse/patterns", params={"max_length": 2})).json()[
                "patterns"
            ]
        )
        == 7
    )
    bad = await client.get("/v2/nodes/browse/patterns", params={"cursor": "nonsense"})
    assert_error(bad, 404, "KATO_CURSOR_NOT_FOUND")
    name_cursor = (await client.get("/v2/nodes/browse/patterns", params={"limit": 1})).json()
    mixed = await client.get(
        "/v2/nodes/browse/patterns",
        params={"cursor": name_cursor["next_cursor"], "sort": "frequency"},
    )
    assert_error(mixed, 404, "KATO_CURSOR_NOT_FOUND")
    for limit in (0, 1001):
        over = await client.get("/v2/nodes/browse/patterns", params={"limit": limit})
        assert_error(over, 422, "KATO_VALIDATION_ERROR")


async def test_symbols_page_and_single_symbol(client: httpx.AsyncClient) -> None:
    await learn_batch(client, "sym", SEQUENCES)
    page = await client.get("/v2/nodes/sym/symbols", params={"sort": "frequency", "limit": 2})
    body = page.json()
    assert body["symbols"][0] == {"name": "a", "frequency": 3, "pattern_member_frequency": 3}
    rest = await client.get(
        "/v2/nodes/sym/symbols",
        params={"sort": "frequency", "limit": 100, "cursor": body["next_cursor"]},
    )
    names = [s["name"] for s in body["symbols"] + rest.json()["symbols"]]
    assert sorted(names) == ["a", "b", "c", "d", "x", "y", "z"]
    assert rest.json()["next_cursor"] is None
    assert (await client.get("/v2/nodes/sym/symbols/x")).json()["frequency"] == 2
    assert_error(await client.get("/v2/nodes/sym/symbols/nope"), 404, "KATO_SYMBOL_NOT_FOUND")


# -- edits ------------------------------------------------------------------------------------


async def test_patch_and_delete_keep_statistics_exact_and_refuse_bad_values(
    client: httpx.AsyncClient,
) -> None:
    await learn_batch(client, "edit", SEQUENCES)
    summary = (await client.get("/v2/nodes/edit")).json()
    symbols = (await client.get("/v2/nodes/edit/symbols")).json()
    before = (await client.get(pattern_url("edit", ABC))).json()
    for bad in (
        {"frequency": -1},
        {"frequency": "3"},
        {"emotives": [{"joy": 1.0}] * 101},  # longer than the persistence gene's bound 100
        {"emotives": [{"": 1.0}]},
        {"emotives": [{"joy": "high"}]},
        {"metadata": {"k": "not a list"}},
        {"unknown": 1},
    ):
        response = await client.patch(pattern_url("edit", ABC), json=bad)
        assert response.status_code in (400, 422), (bad, response.text)
        assert (await client.get(pattern_url("edit", ABC))).json() == before
    patched = await client.patch(
        pattern_url("edit", ABC), json={"frequency": 9, "metadata": {"k": ["b", "a", "a"]}}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json() == {**before, "frequency": 9, "metadata": {"k": ["a", "b"]}}
    bare = ABC.removeprefix("PTRN|")
    assert (await client.get(pattern_url("edit", bare))).json()["frequency"] == 9
    deleted = await client.delete(pattern_url("edit", ABC))
    assert deleted.json() == {"status": "deleted", "name": ABC}
    assert_error(await client.get(pattern_url("edit", ABC)), 404, "KATO_PATTERN_NOT_FOUND")
    assert_error(await client.delete(pattern_url("edit", ABC)), 404, "KATO_PATTERN_NOT_FOUND")
    assert_error(
        await client.patch(pattern_url("edit", ABC), json={"frequency": 1}),
        404,
        "KATO_PATTERN_NOT_FOUND",
    )
    after = (await client.get("/v2/nodes/edit")).json()
    assert after["totals"] == summary["totals"]  # §5: edits never change totals
    assert after["pattern_count"] == summary["pattern_count"] - 1
    assert (await client.get("/v2/nodes/edit/symbols")).json() == symbols
    predicted = await client.post("/v2/nodes/edit/predict", json={"contexts": [[["a"], ["b"]]]})
    assert all(p["name"] != bare for p in predicted.json()["results"][0]["predictions"])


# -- export / import --------------------------------------------------------------------------


async def test_export_import_round_trip_is_byte_identical(tmp_path: Path) -> None:
    async with _running(make_settings(tmp_path / "one")) as one:
        await learn_batch(one, "kb", SEQUENCES)
        await one.patch(pattern_url("kb", ABC), json={"frequency": 5, "emotives": []})
        exported = await export_text(one, "kb")
        context = {"contexts": [[["a"], ["b"]], [["x"], ["y"]]]}
        predicted = (await one.post("/v2/nodes/kb/predict", json=context)).json()
    header = json.loads(exported.splitlines()[0])
    assert header["format"] == "kato-kb" and header["pattern_count"] == 3
    async with _running(make_settings(tmp_path / "two")) as two:
        answer = await two.post(
            "/v2/nodes/kb/import?mode=replace", content=exported, headers=NDJSON
        )
        assert answer.json() == {"imported": 3, "mode": "replace"}
        assert await export_text(two, "kb") == exported
        assert (await two.post("/v2/nodes/kb/predict", json=context)).json() == predicted


async def test_bad_import_lines_are_refused_with_their_number_and_change_nothing(
    client: httpx.AsyncClient,
) -> None:
    await learn_batch(client, "imp", SEQUENCES)
    exported = await export_text(client, "imp")
    lines = exported.splitlines()
    wrong_hash = json.loads(lines[2]) | {"name": "PTRN|" + "0" * 40}
    cases = {
        "not json": (lines[:2] + ["{oops"] + lines[2:], 3),
        "wrong hash": (lines[:2] + [json.dumps(wrong_hash)] + lines[3:], 3),
        "bad header": (['{"format": "other", "version": 1}'] + lines[1:], 1),
        "duplicate": (lines[:3] + [lines[2]] + lines[3:], 4),
        "one symbol": (lines[:1] + ['{"name": "x", "events": [["a"]], "frequency": 1}'], 2),
        "blank line": (lines[:2] + [""] + lines[2:], 3),
    }
    for what, (body, line) in cases.items():
        for mode in ("replace", "merge"):
            if what == "duplicate" and mode == "merge":
                continue  # merge learns a repeated line twice, as two learns would
            response = await client.post(
                f"/v2/nodes/imp/import?mode={mode}",
                content="\n".join(body) + "\n",
                headers=NDJSON,
            )
            error = assert_error(response, 400, "KATO_VALIDATION_ERROR")
            assert error["details"]["line"] == line, (what, mode, error)
            assert error["message"].startswith(f"line {line}: ")
            assert await export_text(client, "imp") == exported, (what, mode)
    empty = await client.post("/v2/nodes/imp/import?mode=replace", content=b"", headers=NDJSON)
    assert empty.json() == {"imported": 0, "mode": "replace"}  # nothing to import
    assert await export_text(client, "imp") == exported
    unknown_mode = await client.post("/v2/nodes/imp/import?mode=wipe", content=exported)
    assert_error(unknown_mode, 422, "KATO_VALIDATION_ERROR")


async def test_merge_import_adds_as_learning_would(client: httpx.AsyncClient) -> None:
    await learn_batch(client, "m1", SEQUENCES)
    exported = await export_text(client, "m1")
    await client.post("/v2/nodes/m2/import?mode=merge", content=exported, headers=NDJSON)
    await client.post("/v2/nodes/m2/import?mode=merge", content=exported, headers=NDJSON)
    await learn_batch(client, "m3", SEQUENCES + SEQUENCES)
    assert body_lines(await export_text(client, "m2")) == body_lines(
        await export_text(client, "m3")
    )


# -- limits and unknown nodes -----------------------------------------------------------------


async def test_oversized_batches_are_refused_and_store_nothing(start: ClientFactory) -> None:
    limits = {
        "max_sequences_per_batch": 2,
        "max_contexts_per_batch": 2,
        "max_body_bytes": 4096,
        "max_metadata_bytes": 1024,
    }
    async with start(limits=limits) as client:
        many = await client.post("/v2/nodes/big/learn-batch", json={"sequences": SEQUENCES})
        error = assert_error(many, 422, "KATO_LIMIT_EXCEEDED")
        assert error["details"]["limit"] == "max_sequences_per_batch"
        assert_error(await client.get("/v2/nodes/big"), 404, "KATO_NODE_NOT_FOUND")
        await learn_batch(client, "big", SEQUENCES[:2])
        contexts = {"contexts": [[["a"]]] * 3}
        refused = await client.post("/v2/nodes/big/predict", json=contexts)
        assert assert_error(refused, 422, "KATO_LIMIT_EXCEEDED")["details"]["limit"] == (
            "max_contexts_per_batch"
        )
        exported = await export_text(client, "big")
        padding = json.dumps({"name": "x" * 5000})
        huge = await client.post(
            "/v2/nodes/big/import?mode=replace", content=exported + padding, headers=NDJSON
        )
        assert_error(huge, 413, "KATO_PAYLOAD_TOO_LARGE")
        assert await export_text(client, "big") == exported
        big_metadata = {"sequences": [{"events": [["a"], ["b"]], "metadata": {"k": "v" * 3000}}]}
        assert_error(
            await client.post("/v2/nodes/big/learn-batch", json=big_metadata),
            422,
            "KATO_LIMIT_EXCEEDED",
        )
        long_symbol = {"sequences": [{"events": [["a" * 2000], ["b"]]}]}
        assert_error(
            await client.post("/v2/nodes/big/learn-batch", json=long_symbol),
            422,
            "KATO_LIMIT_EXCEEDED",
        )


async def test_malformed_bodies_are_422(client: httpx.AsyncClient) -> None:
    for body in (
        {"sequences": [{"events": "ab"}]},
        {"sequences": [{"events": [["a", 1]]}]},
        {"sequences": [{"events": [["a"]], "extra": 1}]},
        {"sequence": []},
    ):
        response = await client.post("/v2/nodes/mal/learn-batch", json=body)
        assert_error(response, 422, "KATO_VALIDATION_ERROR")
    await learn_batch(client, "genes", SEQUENCES)
    bad_gene = await client.post(
        "/v2/nodes/genes/predict", json={"contexts": [], "config": {"max_predictions": 0}}
    )
    assert_error(bad_gene, 400, "KATO_VALIDATION_ERROR")
    assert_error(await client.get("/v2/nodes/mal"), 404, "KATO_NODE_NOT_FOUND")


async def test_reads_of_an_unknown_node_are_404_and_create_nothing(
    client: httpx.AsyncClient,
) -> None:
    for method, path, extra in (
        ("GET", "/v2/nodes/ghost", {}),
        ("GET", "/v2/nodes/ghost/patterns", {}),
        ("GET", f"/v2/nodes/ghost/patterns/{'0' * 40}", {}),
        ("GET", "/v2/nodes/ghost/symbols", {}),
        ("GET", "/v2/nodes/ghost/symbols/a", {}),
        ("GET", "/v2/nodes/ghost/export", {}),
        ("POST", "/v2/nodes/ghost/predict", {"json": {"contexts": [[["a"]]]}}),
        ("PATCH", f"/v2/nodes/ghost/patterns/{'0' * 40}", {"json": {"frequency": 1}}),
        ("DELETE", f"/v2/nodes/ghost/patterns/{'0' * 40}", {}),
    ):
        response = await client.request(method, path, **extra)
        assert_error(response, 404, "KATO_NODE_NOT_FOUND")
    assert (await client.get("/v2/nodes")).json() == {"nodes": []}


# -- roles, scope, overload -------------------------------------------------------------------


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_roles_reader_reads_writer_learns_admin_edits(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, security={"auth_mode": "api_key", "audit_log_file": str(tmp_path / "a.log")}
    )
    store = ApiKeyStore(api_keys_path(settings))
    reader = {"X-API-Key": store.create("dash", ["reader"])[0]}
    writer = {"X-API-Key": store.create("etl", ["writer"])[0]}
    admin = {"X-API-Key": store.create("ops", ["admin"])[0]}
    async with _running(settings) as client:
        sequences = {"sequences": SEQUENCES}
        assert (await client.get("/v2/nodes/r")).status_code == 401
        denied = await client.post("/v2/nodes/r/learn-batch", json=sequences, headers=reader)
        assert_error(denied, 403, "KATO_FORBIDDEN")
        learned = await client.post("/v2/nodes/r/learn-batch", json=sequences, headers=writer)
        assert learned.status_code == 200
        for path in ("", "/patterns", "/symbols", "/symbols/a", "/export"):
            assert (await client.get(f"/v2/nodes/r{path}", headers=reader)).status_code == 200
        assert (await client.get(pattern_url("r", ABC), headers=reader)).status_code == 200
        predict = {"contexts": [[["a"], ["b"]]]}
        assert (
            await client.post("/v2/nodes/r/predict", json=predict, headers=reader)
        ).status_code == 200
        exported = (await client.get("/v2/nodes/r/export", headers=reader)).content
        for who, mode, status in (
            (reader, "merge", 403),
            (writer, "merge", 200),
            (writer, "replace", 403),
            (admin, "replace", 200),
        ):
            response = await client.post(
                f"/v2/nodes/r/import?mode={mode}", content=exported, headers={**who, **NDJSON}
            )
            assert response.status_code == status, (mode, response.text)
        for who, status in ((reader, 403), (writer, 403), (admin, 200)):
            patch = await client.patch(pattern_url("r", ABC), json={"frequency": 2}, headers=who)
            assert patch.status_code == status
        assert (await client.delete(pattern_url("r", ABC), headers=writer)).status_code == 403
        assert (await client.delete(pattern_url("r", ABC), headers=admin)).status_code == 200
        assert_error(await client.get("/v2/nodes", headers=reader), 403, "KATO_FORBIDDEN")
        listed = (await client.get("/v2/nodes", headers=admin)).json()["nodes"]
        assert [node["node_id"] for node in listed] == ["r"]


async def test_node_scope_binds_every_node_route(tmp_path: Path) -> None:
    security = {
        "auth_mode": "jwt",
        "jwt_secret": HS_SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "audit_log_file": str(tmp_path / "a.log"),
    }
    scoped = {"Authorization": "Bearer " + hs256_token(sub="s", roles=["admin"], nodes=["a"])}
    root = {"Authorization": "Bearer " + hs256_token(sub="root", roles=["admin"])}
    async with _running(make_settings(tmp_path, security=security)) as client:
        for node in ("a", "b"):
            response = await client.post(
                f"/v2/nodes/{node}/learn-batch", json={"sequences": SEQUENCES}, headers=root
            )
            assert response.status_code == 200
        own = await client.get("/v2/nodes/a/patterns", headers=scoped)
        assert own.status_code == 200
        for method, path in (
            ("GET", "/v2/nodes/b"),
            ("GET", "/v2/nodes/b/export"),
            ("POST", "/v2/nodes/b/learn-batch"),
            ("DELETE", pattern_url("b", ABC)),
        ):
            body = {"json": {"sequences": []}} if method == "POST" else {}
            response = await client.request(method, path, headers=scoped, **body)
            assert_error(response, 403, "KATO_FORBIDDEN")
        listed = (await client.get("/v2/nodes", headers=scoped)).json()["nodes"]
        assert [node["node_id"] for node in listed] == ["a"]
        everything = (await client.get("/v2/nodes", headers=root)).json()["nodes"]
        assert [node["node_id"] for node in everything] == ["a", "b"]


async def test_batch_predict_takes_a_prediction_slot(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, resilience={"max_concurrent_predictions": 1})
    async with _running(settings) as client:
        await learn_batch(client, "busy", SEQUENCES)
        slots = client.app.state.service.prediction_slots  # type: ignore[attr-defined]
        assert slots.try_acquire()  # another prediction holds the only slot
        try:
            refused = await client.post("/v2/nodes/busy/predict", json={"contexts": [[["a"]]]})
            assert_error(refused, 503, "KATO_OVERLOADED")
        finally:
            slots.release()
        answered = await client.post("/v2/nodes/busy/predict", json={"contexts": [[["a"]]]})
        assert answered.status_code == 200


@pytest.mark.parametrize("name", [ABC, ABC.removeprefix("PTRN|")])
async def test_pattern_reachable_with_and_without_prefix(
    client: httpx.AsyncClient, name: str
) -> None:
    await learn_batch(client, "pref", SEQUENCES)
    assert (await client.get(pattern_url("pref", name))).json()["name"] == ABC
