"""GET predictions answers the same bytes as before the lean response path (issue 10 req 4).

``golden/prediction_bytes.json`` holds the full response bodies of a fixed scenario, recorded
from the code before the change (commit e7df427, FastAPI's ``response_model`` validation and
serialisation). The scenario exercises what an encoder could render differently: floats of
every magnitude (emotive averages, fractions, entropies), non-ASCII and escaped symbols, ties,
an empty answer, v2 and v1. Session ids are random, so each body has its own id replaced by
``<session>`` before the comparison.

Regenerate (only when a response is meant to change) from a checkout of the reference code:
``.venv/bin/python -m tests.api.test_prediction_bytes tests/api/golden/prediction_bytes.json``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import httpx

from tests.api.conftest import ClientFactory, make_settings, running

GOLDEN = Path(__file__).parent / "golden" / "prediction_bytes.json"

# Emotive values whose averages and renderings differ between float formatters
# (exponents, long mantissas, negative zero, integers given as floats).
_EMOTIVES = [
    {"joy": 0.1, "fear": -0.0, "big": 1e20},
    {"joy": 1 / 3, "tiny": 1e-7, "big": 123456789.123},
    {"joy": 2.5e-300, "tiny": 5e-5, "whole": 3.0},
]
_PATTERNS = [
    [["a", "b"], ["c"], ["d", "e"]],
    [["a"], ["b", "c"], ["f"]],
    [["é", "日本"], ["a", "b"], ["😀"]],
    [['quote"', "back\\slash"], ["a"], ["tab\tbell\u0007"]],
    [["b", "c"], ["d"], ["z"]],
    [["x"], ["a", "b"], ["c", "d"], ["y"]],
]
# (name, STM to observe, session genes): each asks GET predictions on v2 and v1.
_QUERIES = [
    ("plain", [["a", "b"], ["c"]], {}),
    ("unicode", [["é"], ["a", "b"]], {}),
    ("escaped", [['quote"'], ["a"]], {}),
    ("ties", [["a"], ["b"]], {"max_predictions": 2}),
    ("none", [["nothing"], ["known"]], {}),
]


async def scenario(client: httpx.AsyncClient) -> dict[str, str]:
    """Learn the patterns, then the raw body of every query's predictions, v2 and v1."""
    created = await client.post("/v2/sessions", json={"node_id": "bytes"})
    learner = created.json()["session_id"]
    for index, events in enumerate(_PATTERNS):
        for position, event in enumerate(events):
            body: dict[str, object] = {"strings": event}
            if position == 0:
                body["emotives"] = _EMOTIVES[index % len(_EMOTIVES)]
            response = await client.post(f"/v2/sessions/{learner}/observe", json=body)
            assert response.status_code == 200, response.text
        assert (await client.post(f"/v2/sessions/{learner}/learn")).status_code == 200
    bodies: dict[str, str] = {}
    for name, stm, genes in _QUERIES:
        created = await client.post("/v2/sessions", json={"node_id": "bytes", "config": genes})
        session = created.json()["session_id"]
        for event in stm:
            response = await client.post(f"/v2/sessions/{session}/observe", json={"strings": event})
            assert response.status_code == 200, response.text
        for version, path, headers in (
            ("v2", f"/v2/sessions/{session}/predictions", {}),
            ("v1", "/predictions", {"X-Session-ID": session}),
        ):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            if version == "v1":  # set by the session dependency, kept on the encoded response
                assert response.headers["x-session-id"] == session
            bodies[f"{name} {version}"] = response.content.decode().replace(session, "<session>")
    return bodies


async def test_prediction_bodies_are_byte_identical_to_the_reference(
    start: ClientFactory,
) -> None:
    async with start() as client:
        bodies = await scenario(client)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(bodies) == sorted(golden)
    for key, body in bodies.items():
        assert body == golden[key], key
    # The scenario is not vacuous: answers with predictions, a tie cut at max_predictions,
    # an empty answer.
    assert json.loads(golden["plain v2"])["count"] > 1
    assert json.loads(golden["ties v2"])["count"] == 2
    assert json.loads(golden["none v2"])["count"] == 0


async def _record() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as directory:
        async with running(make_settings(Path(directory))) as client:
            return await scenario(client)


if __name__ == "__main__":  # the app logs to stdout: the bodies go to the named file
    recorded = json.dumps(asyncio.run(_record()), ensure_ascii=False, indent=1, sort_keys=True)
    Path(sys.argv[1]).write_text(recorded + "\n", encoding="utf-8")


async def test_openapi_still_describes_the_encoded_bodies(start: ClientFactory) -> None:
    """The routes return a pre-encoded Response; their response models stay in the schema,
    with exactly the keys (and order) of the bodies."""
    async with start() as client:
        spec = (await client.get("/openapi.json")).json()
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    for path, model, key in (
        ("/v2/sessions/{session_id}/predictions", "PredictionsResponse", "plain v2"),
        ("/predictions", "V1PredictionsResponse", "plain v1"),
    ):
        schema = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert schema["schema"] == {"$ref": f"#/components/schemas/{model}"}
        properties = spec["components"]["schemas"][model]["properties"]
        assert list(properties) == list(json.loads(golden[key]))
