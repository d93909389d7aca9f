"""The SDK's node methods (issue 11 req 7), sync and async, over loopback against a real
``kato serve``: every /v2/nodes route, streamed export and import, typed errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kato.client import (
    AsyncKatoClient,
    KatoAPIError,
    KatoClient,
    NotFound,
    PatternNotFound,
    ValidationFailed,
    sequence,
)
from kato.core.hashing import pattern_hash
from tests.servers import kato_serving

ABC = "PTRN|" + pattern_hash([["a", "b"], ["c"]])
SEQUENCES = [
    sequence([["b", "a"], ["c"]], emotives=[{"joy": 0.5}], metadata={"source": "x"}),
    [["a"]],  # one symbol: reported, not learned
    [["a"], ["d"]],
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with kato_serving(tmp_path_factory.mktemp("nodes") / "data") as base:
        yield base


@pytest.fixture
def kato(server: str) -> Iterator[KatoClient]:
    with KatoClient(server) as client:
        yield client


def test_sync_client_reaches_every_node_route(kato: KatoClient) -> None:
    learned = kato.learn_batch("sdk-sync", SEQUENCES)
    assert learned["learned"] == 2 and learned["patterns"][0] == ABC
    assert learned["patterns"][1] == ""
    assert any(node["node_id"] == "sdk-sync" for node in kato.list_nodes())
    summary = kato.node("sdk-sync")
    assert summary["pattern_count"] == 2 and summary["totals"]["pattern_frequencies"] == 2
    names = [record["name"] for record in kato.iter_patterns("sdk-sync", limit=1)]
    assert names == sorted(names) and len(names) == 2
    page = kato.patterns("sdk-sync", symbol="c")
    assert [record["name"] for record in page["patterns"]] == [ABC]
    assert kato.node_pattern("sdk-sync", ABC)["metadata"] == {"source": ["x"]}
    updated = kato.update_pattern("sdk-sync", ABC, frequency=9, metadata={"k": ["v"]})
    assert (updated["frequency"], updated["metadata"]) == (9, {"k": ["v"]})
    assert kato.symbols("sdk-sync", sort="frequency", limit=1)["symbols"][0]["name"] == "a"
    assert kato.symbol("sdk-sync", "a")["pattern_member_frequency"] == 2
    [predictions] = kato.predict_batch("sdk-sync", [[["a"], ["b"]]])
    assert predictions[0]["name"] == ABC.removeprefix("PTRN|")
    kato.delete_pattern("sdk-sync", ABC)
    with pytest.raises(PatternNotFound):
        kato.node_pattern("sdk-sync", ABC)


def test_sync_export_import_round_trip_is_byte_identical(kato: KatoClient) -> None:
    kato.learn_batch("sdk-source", SEQUENCES)
    exported = list(kato.export("sdk-source"))
    assert json.loads(exported[0])["format"] == "kato-kb"
    assert kato.import_lines("sdk-copy", iter(exported), mode="replace") == {
        "imported": 2,
        "mode": "replace",
    }
    copied = list(kato.export("sdk-copy"))
    assert copied[1:] == exported[1:]  # the header differs only by node id
    assert json.loads(copied[0]) | {"node_id": "sdk-source"} == json.loads(exported[0])


def test_sync_errors_are_typed(kato: KatoClient) -> None:
    with pytest.raises(NotFound) as unknown:
        kato.node("sdk-nobody")
    assert unknown.value.code == "KATO_NODE_NOT_FOUND"
    with pytest.raises(NotFound):
        list(kato.export("sdk-nobody"))
    with pytest.raises(ValidationFailed) as bad:
        kato.import_lines("sdk-bad", ['{"format": "kato-kb", "version": 1}', "{not json"])
    assert bad.value.details["line"] == 2


@pytest.fixture
async def async_kato(server: str) -> AsyncIterator[AsyncKatoClient]:
    async with AsyncKatoClient(server) as client:
        yield client


async def test_async_client_reaches_every_node_route(async_kato: AsyncKatoClient) -> None:
    learned = await async_kato.learn_batch("sdk-async", SEQUENCES)
    assert learned["patterns"] == [ABC, "", learned["patterns"][2]]
    assert any(node["node_id"] == "sdk-async" for node in await async_kato.list_nodes())
    assert (await async_kato.node("sdk-async"))["pattern_count"] == 2
    names = [record["name"] async for record in async_kato.iter_patterns("sdk-async", limit=1)]
    assert len(names) == 2
    assert (await async_kato.patterns("sdk-async", min_length=3))["patterns"][0]["name"] == ABC
    assert (await async_kato.node_pattern("sdk-async", ABC))["frequency"] == 1
    assert (await async_kato.update_pattern("sdk-async", ABC, frequency=4))["frequency"] == 4
    assert (await async_kato.symbols("sdk-async"))["symbols"][0]["name"] == "a"
    assert (await async_kato.symbol("sdk-async", "d"))["frequency"] == 1
    [predictions] = await async_kato.predict_batch("sdk-async", [[["a"], ["b"]]])
    assert predictions[0]["frequency"] == 4
    await async_kato.delete_pattern("sdk-async", ABC)
    with pytest.raises(PatternNotFound):
        await async_kato.node_pattern("sdk-async", ABC)


async def test_async_export_import_streams(async_kato: AsyncKatoClient) -> None:
    await async_kato.learn_batch("sdk-async-source", SEQUENCES)
    exported = [line async for line in async_kato.export("sdk-async-source")]

    async def lines() -> AsyncIterator[str]:
        for line in exported:
            yield line

    answer = await async_kato.import_lines("sdk-async-copy", lines(), mode="replace")
    assert answer == {"imported": 2, "mode": "replace"}
    copied = [line async for line in async_kato.export("sdk-async-copy")]
    assert copied[1:] == exported[1:]
    merged = await async_kato.import_lines("sdk-async-copy", exported)  # merge: frequencies add
    assert merged["mode"] == "merge"
    assert (await async_kato.node_pattern("sdk-async-copy", ABC))["frequency"] == 2
    with pytest.raises(KatoAPIError) as refused:
        await async_kato.import_lines("sdk-async-copy", ["{}"], mode="replace")
    assert refused.value.details["line"] == 1


def test_import_mode_is_checked_before_sending(kato: KatoClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        kato.import_lines("sdk-sync", [], mode="overwrite")
