"""The golden conformance scenarios replayed through the v2 session API (ASGI transport)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import ClientFactory
from tests.conformance_cases import GOLDEN, golden, prediction_mismatches, scenarios

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not GOLDEN.exists(), reason=f"conformance data not found at {GOLDEN} (../shared absent)"
    ),
]


async def replay(client: httpx.AsyncClient, scenario: dict[str, Any]) -> list[str]:
    base = ""
    problems: list[str] = []
    for step, op in enumerate(scenario["ops"]):
        kind, expect = op["op"], op.get("expect", {})
        where = f"{scenario['id']} op {step} {kind}"
        if kind == "new_node":
            created = await client.post("/v2/sessions", json={"node_id": scenario["id"]})
            base = f"/v2/sessions/{created.json()['session_id']}"
            continue
        if kind == "observe":
            body = {key: op[key] for key in ("strings", "vectors", "emotives")}
            response = await client.post(f"{base}/observe", json=body)
            if response.status_code != 200 or response.json()["time"] != expect["time"]:
                problems.append(f"{where}: {response.status_code} {response.text[:200]}")
        elif kind == "learn":
            response = await client.post(f"{base}/learn")
            if expect.get("error") == "empty_stm":
                if response.status_code != 400 or "empty" not in response.text:
                    problems.append(f"{where}: refused learn answered {response.status_code}")
            elif response.json().get("pattern_name") != expect["pattern_name"]:
                problems.append(f"{where}: {response.text[:200]}")
        elif kind == "clear_stm":
            await client.post(f"{base}/clear-stm")
        elif kind == "predictions":
            body = (await client.get(f"{base}/predictions")).json()
            if body["count"] != len(body["predictions"]):
                problems.append(f"{where}: count {body['count']}")
            problems += [
                f"{where}: {p}"
                for p in prediction_mismatches(body["predictions"], expect["predictions"])
            ]
        if "stm" in expect:
            stm = (await client.get(f"{base}/stm")).json()["stm"]
            if stm != expect["stm"]:
                problems.append(f"{where}: stm {stm!r} != {expect['stm']!r}")
        if problems:
            break
    return problems


@pytest.mark.timeout(900)  # the whole golden corpus over HTTP: minutes on a busy machine
async def test_every_golden_scenario_through_the_session_api(start: ClientFactory) -> None:
    genes = golden()["genes"]
    async with start(genes=genes) as client:
        problems: list[str] = []
        for scenario in scenarios():
            problems += await replay(client, scenario)
    assert problems == []
