"""/health, /status and the OpenAPI description."""

from __future__ import annotations

import httpx

from tests.api.conftest import new_session


async def test_health_identifies_the_session_service(client: httpx.AsyncClient) -> None:
    await new_session(client)
    body = (await client.get("/health")).json()
    assert body["status"] == "healthy" and body["processor_status"] == "healthy"
    assert body["base_processor_id"] == "kato" and body["active_sessions"] == 1
    assert body["issues"] == [] and isinstance(body["uptime_seconds"], float)
    assert {"metrics_collected", "last_collection", "timestamp"} <= set(body)


async def test_status_reports_sessions_nodes_and_backends(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client, "n1")
    await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]})
    body = (await client.get("/status")).json()
    assert body["sessions"]["active_sessions"] == 1 and body["version"] == "2.0.0"
    assert body["processors"]["processors"] == [{"processor_id": "n1"}]
    assert body["backends"]["sessions"] == "memory"
    assert body["backends"]["knowledge_base"] == "sqlite"


async def test_openapi_documents_every_route_with_error_responses(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/v2/sessions",
        "/v2/sessions/{session_id}/observe",
        "/v2/sessions/{session_id}/config",
        "/observe",
        "/predictions",
        "/health",
    ):
        assert path in paths, path
    observe = paths["/v2/sessions/{session_id}/observe"]["post"]
    assert {"200", "404", "422"} <= set(observe["responses"])
    assert "ErrorResponse" in spec["components"]["schemas"]
    v1 = {
        "/observe",
        "/stm",
        "/learn",
        "/predictions",
        "/pattern/{pattern_id}",
        "/gene/{gene_name}",
    }
    for path, operations in paths.items():
        if not (path.startswith("/v2/sessions") or path in v1 or path in {"/health", "/status"}):
            continue
        for method, operation in operations.items():
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            # A named response model (or a union of named models), not a bare dict.
            named = [schema] if "$ref" in schema else schema.get("anyOf", [])
            assert named and all("$ref" in option for option in named), (method, path)
    assert (await client.get("/docs")).status_code == 200
