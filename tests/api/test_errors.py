"""The D10 error envelope and status codes on every error path, plus X-Trace-ID."""

from __future__ import annotations

from pathlib import Path

import httpx

from kato.api.app import create_app
from tests.api.conftest import assert_error, make_settings, new_session, observe


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no/such/route"), 404, "KATO_NOT_FOUND")
    wrong = await client.get("/learn")
    assert_error(wrong, 405, "KATO_METHOD_NOT_ALLOWED")
    assert wrong.headers["allow"] == "POST"


async def test_405_allow_lists_the_methods_of_every_route_of_the_path(
    client: httpx.AsyncClient,
) -> None:
    """One path may be served by several routes; Starlette names only the first one's."""
    for method, path, allowed in (
        ("PUT", "/v2/sessions/session-x", "DELETE, GET"),
        ("PATCH", "/predictions", "GET, POST"),
        ("PUT", "/v2/sessions", "POST"),
    ):
        response = await client.request(method, path)
        assert_error(response, 405, "KATO_METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == allowed, (method, path)


async def test_unknown_session_on_every_session_route(client: httpx.AsyncClient) -> None:
    base = "/v2/sessions/session-missing"
    for method, path in (
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/observe"),
        ("GET", "/stm"),
        ("POST", "/learn"),
        ("POST", "/clear-stm"),
        ("POST", "/clear-all"),
        ("GET", "/predictions"),
        ("GET", "/percept-data"),
        ("GET", "/cognition-data"),
        ("GET", "/config"),
        ("POST", "/config"),
        ("POST", "/extend"),
        ("POST", "/observe-sequence"),
    ):
        body: dict[str, list[str]] = {"observations": []} if path == "/observe-sequence" else {}
        response = await client.request(method, base + path, json=body)
        error = assert_error(response, 404, "KATO_SESSION_NOT_FOUND")
        assert error["details"]["session_id"] == "session-missing"


async def test_schema_violations_are_422(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    url = f"/v2/sessions/{session_id}/observe"
    for body in (
        {"strings": [1]},
        {"strings": "ab"},
        {"vectors": [["1"]]},
        {"vectors": [[True]]},
        {"emotives": {"joy": "high"}},
        {"strings": ["a"], "unexpected": 1},
    ):
        error = assert_error(await client.post(url, json=body), 422, "KATO_VALIDATION_ERROR")
        assert error["details"]["errors"], body
    not_json = await client.post(
        url, content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_error(not_json, 422, "KATO_VALIDATION_ERROR")
    nan = await client.post(
        url, content=b'{"emotives": {"e": NaN}}', headers={"content-type": "application/json"}
    )
    assert_error(nan, 422, "KATO_VALIDATION_ERROR")
    assert (await client.get(f"/v2/sessions/{session_id}/stm")).json()["length"] == 0


async def test_learn_on_empty_stm_is_400_with_empty(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    error = assert_error(
        await client.post(f"/v2/sessions/{session_id}/learn"), 400, "KATO_EMPTY_STM"
    )
    assert "empty" in error["message"]


async def test_semantic_validation_is_400_and_changes_nothing(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    await observe(client, session_id, "a")
    unequal = {"strings": ["b"], "vectors": [[1.0, 2.0], [1.0]]}
    response = await client.post(f"/v2/sessions/{session_id}/observe", json=unequal)
    assert_error(response, 400, "KATO_VALIDATION_ERROR")
    assert (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"] == [["a"]]
    assert (await observe(client, session_id, "c"))["time"] == 2


async def test_trace_id_generated_echoed_and_in_the_envelope(client: httpx.AsyncClient) -> None:
    ok = await client.get("/health")
    assert len(ok.headers["X-Trace-ID"]) == 32
    mine = await client.get("/no/such/route", headers={"X-Trace-ID": "trace-abc"})
    assert mine.headers["X-Trace-ID"] == "trace-abc"
    assert assert_error(mine, 404, "KATO_NOT_FOUND")["details"]["trace_id"] == "trace-abc"


async def test_unexpected_exception_is_a_500_envelope_without_traceback(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    async def boom() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            response = await client.get("/boom", headers={"X-Trace-ID": "t-500"})
    error = assert_error(response, 500, "KATO_INTERNAL_ERROR")
    assert error["details"]["trace_id"] == "t-500"
    assert "secret" not in response.text and "Traceback" not in response.text
