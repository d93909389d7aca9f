"""3.x symbol routes (semantics §12.16) through the real app over httpx: statistics with
probabilities, affinity per emotive, paging, unknown nodes and symbols, roles, node scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kato.core.hashing import pattern_hash
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from tests.api.conftest import ClientFactory, assert_error, make_settings
from tests.api.test_nodes import _running
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token

SEQUENCES: list[dict[str, Any]] = [
    {"events": [["coffee"], ["cake"]], "emotives": [{"joy": 0.8}]},
    {"events": [["coffee"], ["deadline"]], "emotives": [{"joy": -0.4, "stress": 0.6}]},
    {"events": [["coffee"], ["cake"]], "emotives": [{"joy": 0.2}]},
]


async def _learned(client: httpx.AsyncClient, node: str = "moods", **headers: str) -> None:
    response = await client.post(
        f"/v2/nodes/{node}/learn-batch", json={"sequences": SEQUENCES}, headers=headers
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def moods(start: ClientFactory) -> Any:
    async with start() as client:
        await _learned(client)
        yield client


async def test_stats_are_the_node_symbols_with_probabilities(moods: httpx.AsyncClient) -> None:
    body = (await moods.get("/symbols/stats", params={"node_id": "moods"})).json()
    listed = (await moods.get("/v2/nodes/moods/symbols")).json()["symbols"]
    summary = (await moods.get("/v2/nodes/moods")).json()
    in_patterns = summary["totals"]["symbols_in_patterns"]
    assert body["totals"] == summary["totals"] and body["total_symbols"] == 3
    assert body["symbols"] == [
        {**stats, "probability": stats["pattern_member_frequency"] / in_patterns}
        for stats in listed
    ]
    assert [s["name"] for s in body["symbols"]] == ["cake", "coffee", "deadline"]
    by_frequency = await moods.get(
        "/symbols/stats", params={"node_id": "moods", "sort": "frequency"}
    )
    assert by_frequency.json()["symbols"][0]["name"] == "coffee"


async def test_affinity_pages_and_single_symbol(moods: httpx.AsyncClient) -> None:
    query = {"node_id": "moods", "limit": 2}
    first = (await moods.get("/symbols/affinity", params=query)).json()
    second = (
        await moods.get("/symbols/affinity", params={**query, "cursor": first["next_cursor"]})
    ).json()
    assert second["next_cursor"] is None
    affinity = {s["name"]: s["affinity"] for s in first["symbols"] + second["symbols"]}
    # coffee → cake was learned twice: frequency 2, mean joy (0.8 + 0.2) / 2.
    assert affinity["cake"] == {"joy": pytest.approx(2 * 0.5)}
    assert affinity["coffee"] == {"joy": pytest.approx(1.0 - 0.4), "stress": 0.6}
    assert affinity["deadline"] == {"joy": -0.4, "stress": 0.6}
    one = await moods.get("/symbols/coffee/affinity", params={"node_id": "moods"})
    assert one.json() == {"node_id": "moods", "symbol": "coffee", "affinity": affinity["coffee"]}


async def test_affinity_follows_a_deleted_pattern(moods: httpx.AsyncClient) -> None:
    name = "PTRN|" + pattern_hash([["coffee"], ["deadline"]])
    deleted = await moods.delete(f"/v2/nodes/moods/patterns/{quote(name, safe='')}")
    assert deleted.status_code == 200
    one = await moods.get("/symbols/coffee/affinity", params={"node_id": "moods"})
    assert one.json()["affinity"] == {"joy": pytest.approx(1.0)}


async def test_unknown_node_symbol_and_missing_node_id(moods: httpx.AsyncClient) -> None:
    for path in ("/symbols/stats", "/symbols/affinity", "/symbols/coffee/affinity"):
        assert_error(
            await moods.get(path, params={"node_id": "nobody"}), 404, "KATO_NODE_NOT_FOUND"
        )
        assert_error(await moods.get(path), 422, "KATO_VALIDATION_ERROR")
    assert (await moods.get("/v2/nodes/nobody")).status_code == 404  # nothing was created
    unknown = await moods.get("/symbols/tea/affinity", params={"node_id": "moods"})
    assert_error(unknown, 404, "KATO_SYMBOL_NOT_FOUND")
    bad_limit = await moods.get("/symbols/stats", params={"node_id": "moods", "limit": 0})
    assert_error(bad_limit, 422, "KATO_VALIDATION_ERROR")


async def test_reader_role_and_node_scope(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        security={
            "auth_mode": "jwt",
            "jwt_secret": HS_SECRET,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "audit_log_file": str(tmp_path / "a.log"),
        },
    )
    root = {"Authorization": "Bearer " + hs256_token(sub="root", roles=["admin"])}
    reader_a = {"Authorization": "Bearer " + hs256_token(sub="r", roles=["reader"], nodes=["a"])}
    async with _running(settings) as client:
        for node in ("a", "b"):
            await _learned(client, node, **root)
        for path in ("/symbols/stats", "/symbols/affinity", "/symbols/coffee/affinity"):
            assert (await client.get(path, params={"node_id": "a"})).status_code == 401
            own = await client.get(path, params={"node_id": "a"}, headers=reader_a)
            assert own.status_code == 200, own.text
            other = await client.get(path, params={"node_id": "b"}, headers=reader_a)
            assert_error(other, 403, "KATO_FORBIDDEN")


async def test_api_key_reader_may_read(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, security={"auth_mode": "api_key", "audit_log_file": str(tmp_path / "a.log")}
    )
    store = ApiKeyStore(api_keys_path(settings))
    writer = {"X-API-Key": store.create("etl", ["writer"])[0]}
    reader = {"X-API-Key": store.create("dash", ["reader"])[0]}
    async with _running(settings) as client:
        await _learned(client, "moods", **writer)
        answer = await client.get("/symbols/stats", params={"node_id": "moods"}, headers=reader)
        assert answer.status_code == 200
