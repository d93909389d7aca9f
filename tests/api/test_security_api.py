"""Security through the real app: every route declares a role, modes, roles, ownership,
node scope, rate limits, audit, headers, CORS and the WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from kato.api.app import create_app
from kato.config import Settings
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from kato.security.roles import undeclared_routes
from tests.api.conftest import make_settings
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token, redis_server

DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
OBSERVATION = {"strings": ["a", "b"]}


def _settings(tmp_path: Path, **security: Any) -> Settings:
    if "jwt" in security.get("auth_mode", ""):
        security = {
            "jwt_secret": HS_SECRET,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            **security,
        }
    security.setdefault("audit_log_file", str(tmp_path / "audit.log"))
    return make_settings(tmp_path, security=security)


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _new_session(client: httpx.AsyncClient, headers: dict[str, str], node: str = "n1") -> str:
    response = await client.post("/v2/sessions", json={"node_id": node}, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def test_every_route_declares_its_access(tmp_path):
    app = create_app(_settings(tmp_path))
    assert undeclared_routes(app.routes, DOCS) == []


async def test_docs_are_served_by_default_and_closed_by_setting(tmp_path):
    async with _client(_settings(tmp_path, auth_mode="jwt")) as client:
        for path in sorted(DOCS):
            assert (await client.get(path)).status_code == 200, path
    closed = _settings(tmp_path, auth_mode="jwt", docs_enabled=False)
    async with _client(closed) as client:
        for path in sorted(DOCS):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "KATO_NOT_FOUND"
        assert undeclared_routes(create_app(closed).routes) == []


async def test_mode_none_is_anonymous_admin_and_sets_nosniff(tmp_path):
    async with _client(_settings(tmp_path)) as client:
        session_id = await _new_session(client, {})
        response = await client.post(f"/v2/sessions/{session_id}/clear-all")
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get("/status")).status_code == 200
    records = _audit(tmp_path)
    assert {r["action"] for r in records} >= {
        "POST /v2/sessions",
        "POST /v2/sessions/{session_id}/clear-all",
    }
    assert all(r["principal"] == "anonymous" and r["outcome"] == "allowed" for r in records)


def _reads_audited(tmp_path: Path, **security: Any) -> set[str]:
    """Actions audited for one session's reads over HTTP and the WebSocket."""
    (tmp_path / "audit.log").unlink(missing_ok=True)
    with TestClient(create_app(_settings(tmp_path, **security))) as client:
        session_id = client.post("/v2/sessions", json={"node_id": "n1"}).json()["session_id"]
        for path in ("", "/stm", "/predictions"):
            assert client.get(f"/v2/sessions/{session_id}{path}").status_code == 200
        assert client.get("/stm", headers={"X-Session-ID": session_id}).status_code == 200
        with client.websocket_connect("/ws", headers={"X-Session-ID": session_id}) as ws:
            ws.send_json({"type": "get_stm"})
            assert ws.receive_json()["type"] == "stm"
    reads = {r["action"] for r in _audit(tmp_path) if r["action"] != "POST /v2/sessions"}
    return reads


def test_reads_are_audited_only_when_configured(tmp_path):
    assert _reads_audited(tmp_path) == set()
    assert _reads_audited(tmp_path, audit_reads=True) == {
        "GET /v2/sessions/{session_id}",
        "GET /v2/sessions/{session_id}/stm",
        "GET /v2/sessions/{session_id}/predictions",
        "GET /stm",
        "WEBSOCKET /ws get_stm",
    }
    records = [r for r in _audit(tmp_path) if r["action"] == "GET /v2/sessions/{session_id}/stm"]
    assert records[0]["outcome"] == "allowed" and records[0]["session_id"]


async def test_api_key_roles_on_every_route_group(tmp_path):
    settings = _settings(tmp_path, auth_mode="api_key")
    store = ApiKeyStore(api_keys_path(settings))
    reader, _ = store.create("dash", ["reader"])
    writer, _ = store.create("etl", ["writer"])
    admin, _ = store.create("ops", ["admin"])
    async with _client(settings) as client:
        missing = await client.get("/v2/sessions/count")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "KATO_UNAUTHORIZED"
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert missing.headers["X-Content-Type-Options"] == "nosniff"
        assert (await client.get("/health")).status_code == 200  # public probe

        r, w, a = {"X-API-Key": reader}, _bearer(writer), {"X-API-Key": admin}
        assert (
            await client.post("/v2/sessions", json={"node_id": "n1"}, headers=r)
        ).status_code == 403
        session_id = await _new_session(client, w)
        base = f"/v2/sessions/{session_id}"
        assert (
            await client.post(f"{base}/observe", json=OBSERVATION, headers=w)
        ).status_code == 200
        assert (await client.get(f"{base}/stm", headers=w)).json()["stm"] == [["a", "b"]]
        assert (await client.post(f"{base}/clear-all", headers=w)).status_code == 403
        assert (await client.post(f"{base}/clear-all", headers=a)).status_code == 200
        # v1 group
        assert (await client.post("/observe", json=OBSERVATION, headers=r)).status_code == 403
        assert (await client.post("/observe", json=OBSERVATION, headers=w)).status_code == 200
        assert (await client.get("/stm", headers=r)).status_code == 200
        assert (await client.post("/clear-all", headers=w)).status_code == 403
        assert (
            await client.post("/genes/update", json={"genes": {}}, headers=w)
        ).status_code == 403
        # operational endpoints
        assert (await client.get("/status", headers=w)).status_code == 403
        assert (await client.get("/status", headers=a)).status_code == 200
        denied = await client.get("/status", headers=r)
        assert denied.json()["error"]["code"] == "KATO_FORBIDDEN"
        # the metrics scrape is operational too: admin only once authentication is on
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=w)).status_code == 403
        assert (await client.get("/metrics", headers=a)).status_code == 200


async def test_revoked_key_is_rejected(tmp_path):
    settings = _settings(tmp_path, auth_mode="api_key")
    store = ApiKeyStore(api_keys_path(settings))
    key, record = store.create("etl", ["writer"])
    async with _client(settings) as client:
        assert (
            await client.get("/v2/sessions/count", headers={"X-API-Key": key})
        ).status_code == 200
        store.revoke(record.key_id)
        response = await client.get("/v2/sessions/count", headers={"X-API-Key": key})
        assert response.status_code == 401
    denied = [r for r in _audit(tmp_path) if r["outcome"] == "denied"]
    assert denied and denied[-1]["status"] == 401
    assert key not in (tmp_path / "audit.log").read_text()


@pytest.mark.parametrize(
    "token_args",
    [
        {"lifetime": -300},
        {"not_before": 4_000_000_000},
        {"audience": "elsewhere"},
        {"issuer": "https://other.test"},
        {"secret": "wrong-secret-wrong-secret-wrong-secret-0000"},
    ],
)
async def test_bad_tokens_are_401(tmp_path, token_args):
    async with _client(_settings(tmp_path, auth_mode="jwt")) as client:
        response = await client.get(
            "/v2/sessions/count", headers=_bearer(hs256_token(**token_args))
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "KATO_UNAUTHORIZED"


async def test_cross_principal_sessions_are_404_and_admin_sees_them(tmp_path):
    alice = _bearer(hs256_token(sub="alice", roles=["writer"]))
    bob = _bearer(hs256_token(sub="bob", roles=["writer"]))
    root = _bearer(hs256_token(sub="root", roles=["admin"]))
    async with _client(_settings(tmp_path, auth_mode="jwt")) as client:
        session_id = await _new_session(client, alice)
        base = f"/v2/sessions/{session_id}"
        for method, path in [
            ("GET", base),
            ("GET", f"{base}/stm"),
            ("GET", f"{base}/predictions"),  # checked on the session the service loads
            ("POST", f"{base}/learn"),
            ("DELETE", base),
        ]:
            response = await client.request(method, path, headers=bob)
            assert response.status_code == 404, (method, path)
            assert response.json()["error"]["code"] == "KATO_SESSION_NOT_FOUND"
        # observe checks ownership on the session its critical section loads: same 404, and
        # nothing of the session changes
        response = await client.post(f"{base}/observe", json=OBSERVATION, headers=bob)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "KATO_SESSION_NOT_FOUND"
        assert (await client.get(f"{base}/stm", headers=alice)).json()["stm"] == []
        assert (await client.get(base, headers=alice)).json()["access_count"] == 0
        # a malformed body is refused before the session is read: no hint of its existence
        for target in (base, "/v2/sessions/session-unknown"):
            response = await client.post(f"{target}/observe", json={"strings": 1}, headers=bob)
            assert response.status_code == 422
        exists = await client.get(f"{base}/exists", headers=bob)
        assert exists.json()["exists"] is False
        assert (await client.get(f"{base}/exists", headers=alice)).json()["exists"] is True
        # v1 through X-Session-ID: same rule
        stm = await client.get("/stm", headers={**bob, "X-Session-ID": session_id})
        assert stm.status_code == 404
        assert (await client.get(base, headers=root)).status_code == 200
        # each principal has its own v1 default session
        await client.post("/observe", json=OBSERVATION, headers=alice)
        assert (await client.get("/stm", headers=bob)).json()["stm"] == []
        assert (await client.get("/stm", headers=alice)).json()["stm"] == [["a", "b"]]
    hidden = [r for r in _audit(tmp_path) if r["status"] == 404]
    assert hidden and all(r["principal"] == "jwt:bob" for r in hidden)
    assert hidden[0]["session_id"] == session_id and hidden[0]["node_id"] == "n1"


async def test_node_scope_on_create_and_read(tmp_path):
    scoped = _bearer(hs256_token(sub="scoped", roles=["writer"], nodes=["a"]))
    root = _bearer(hs256_token(sub="root", roles=["admin"]))
    async with _client(_settings(tmp_path, auth_mode="jwt")) as client:
        own = await _new_session(client, scoped, node="a")
        assert (await client.get(f"/v2/sessions/{own}", headers=scoped)).status_code == 200
        refused = await client.post("/v2/sessions", json={"node_id": "b"}, headers=scoped)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "KATO_FORBIDDEN"
        foreign = await _new_session(client, root, node="b")
        assert (await client.get(f"/v2/sessions/{foreign}", headers=scoped)).status_code == 404
        # the v1 default session lives on the default node, outside this scope
        assert (await client.get("/stm", headers=scoped)).status_code == 403
        assert (
            await client.get("/stm", headers={**scoped, "X-Session-ID": own})
        ).status_code == 200


async def test_session_id_claim_routes_v1_requests(tmp_path):
    writer = _bearer(hs256_token(sub="w", roles=["writer"]))
    async with _client(_settings(tmp_path, auth_mode="jwt")) as client:
        session_id = await _new_session(client, writer)
        bound = _bearer(hs256_token(sub="w", roles=["writer"], session_id=session_id))
        await client.post("/observe", json=OBSERVATION, headers=bound)
        stm = await client.get(f"/v2/sessions/{session_id}/stm", headers=writer)
        assert stm.json()["stm"] == [["a", "b"]]


async def test_api_key_and_jwt_together(tmp_path):
    settings = _settings(tmp_path, auth_mode="api_key+jwt")
    key, _ = ApiKeyStore(api_keys_path(settings)).create("svc", ["reader"])
    async with _client(settings) as client:
        for headers in (
            {"X-API-Key": key},
            _bearer(key),
            _bearer(hs256_token(roles=["reader"])),
        ):
            assert (await client.get("/v2/sessions/count", headers=headers)).status_code == 200
        assert (await client.get("/v2/sessions/count", headers=_bearer("junk"))).status_code == 401


async def test_rate_limit_429_with_envelope_and_headers(tmp_path):
    settings = _settings(tmp_path, rate_limit_enabled=True, rate_limit_principal="2/minute")
    async with _client(settings) as client:
        first = await client.get("/v2/sessions/count")
        assert first.headers["RateLimit-Limit"] == "2"
        assert first.headers["RateLimit-Remaining"] == "1"
        await client.get("/v2/sessions/count")
        limited = await client.get("/v2/sessions/count")
        assert limited.status_code == 429
        body = limited.json()
        assert body["error"]["code"] == "KATO_RATE_LIMITED" and body["status"] == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert (await client.get("/health")).status_code == 200  # probes are not limited
    assert any(r["status"] == 429 and r["outcome"] == "denied" for r in _audit(tmp_path))


@pytest.mark.slow
async def test_two_instances_share_rate_limits_through_redis(tmp_path):
    with redis_server() as url:
        settings = _settings(
            tmp_path,
            rate_limit_enabled=True,
            rate_limit_principal="3/minute",
            rate_limit_storage_url=url,
        )
        async with _client(settings) as first, _client(settings) as second:
            statuses = [
                (await (first if i % 2 else second).get("/v2/sessions/count")).status_code
                for i in range(4)
            ]
        assert statuses == [200, 200, 200, 429]


async def test_cors_origins_from_settings(tmp_path):
    settings = _settings(tmp_path, cors_origins=["https://app.example"])
    async with _client(settings) as client:
        preflight = await client.options(
            "/v2/sessions",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        other = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_websocket_roles_and_authentication(tmp_path):
    settings = _settings(tmp_path, auth_mode="jwt")
    reader = _bearer(hs256_token(sub="r", roles=["reader"]))
    writer = _bearer(hs256_token(sub="w", roles=["writer"]))
    with TestClient(create_app(settings)) as client:
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect("/ws"):
            pass
        assert denied.value.status_code == 401
        with client.websocket_connect("/ws", headers=reader) as ws:
            ws.send_json({"type": "get_stm"})
            assert ws.receive_json()["type"] == "stm"
            ws.send_json({"type": "observe", "payload": OBSERVATION})
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["data"]["code"] == "KATO_FORBIDDEN"
        with client.websocket_connect("/ws", headers=writer) as ws:
            ws.send_json({"type": "observe", "payload": OBSERVATION})
            assert ws.receive_json()["type"] == "observation_result"
            ws.send_json({"type": "clear_all"})
            assert ws.receive_json()["data"]["code"] == "KATO_FORBIDDEN"
    records = _audit(tmp_path)
    assert any(
        r["action"] == "WEBSOCKET /ws observe" and r["outcome"] == "allowed" for r in records
    )
    assert any(
        r["action"] == "WEBSOCKET /ws clear_all" and r["outcome"] == "denied" for r in records
    )


def test_websocket_messages_count_against_rate_limits(tmp_path):
    settings = _settings(tmp_path, rate_limit_enabled=True, rate_limit_principal="3/minute")
    with TestClient(create_app(settings)) as client, client.websocket_connect("/ws") as ws:
        replies = []
        for _ in range(3):  # the connection itself was the first hit
            ws.send_json({"type": "ping"})
            replies.append(ws.receive_json())
        assert [reply["type"] for reply in replies] == ["pong", "pong", "error"]
        limited = replies[-1]["data"]
        assert limited["code"] == "KATO_RATE_LIMITED" and limited["status"] == 429
        assert limited["retry_after"] >= 1
    denied = [r for r in _audit(tmp_path) if r["status"] == 429]
    assert denied and denied[0]["action"] == "WEBSOCKET /ws ping"


async def test_every_request_outcome_feeds_the_adaptive_controller(tmp_path):
    settings = _settings(tmp_path, rate_limit_enabled=True, rate_limit_adaptive=True)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            for _ in range(5):
                await client.get("/v2/sessions/count")
            await client.get("/v2/sessions/no-such-session")
    p99, error_rate, count = app.state.kato_security.adaptive.observed()
    assert count == 6 and error_rate == 0.0 and p99 > 0  # a 404 is not a server error
