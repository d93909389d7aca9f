"""Expired sessions say so (issue 9 req 7): ``KATO_SESSION_EXPIRED`` on v2, v1
(``X-Session-ID``) and the WebSocket for ``session.expired_retention_seconds`` after the
expiry, ``KATO_SESSION_NOT_FOUND`` after it, for a deleted session, and for a caller who could
not see the session. Memory store and a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kato.api.app import create_app
from tests.api.conftest import make_settings
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token

EXPIRED = "KATO_SESSION_EXPIRED"
NOT_FOUND = "KATO_SESSION_NOT_FOUND"
Start = Callable[..., TestClient]


@pytest.fixture(params=["memory", "redis"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Start]:
    """``start(retention, **security)``: the app on the store of this test's backend."""
    clients: list[TestClient] = []

    def open_client(retention: int = 60, **security: Any) -> TestClient:
        sections: dict[str, dict[str, Any]] = {
            "session": {"store_type": request.param, "expired_retention_seconds": retention},
            "security": {"audit_log_file": str(tmp_path / "audit.log"), **security},
        }
        if request.param == "redis":
            sections["database"] = {"redis": {"url": request.getfixturevalue("redis_url")}}
        client = TestClient(create_app(make_settings(tmp_path / "data", **sections)))
        clients.append(client.__enter__())
        return client

    yield open_client
    for client in clients:
        client.__exit__(None, None, None)


def _code(response: Any) -> str:
    assert response.status_code == 404, response.text
    code: str = response.json()["error"]["code"]
    return code


def _new_session(client: TestClient, ttl_seconds: int = 1, **headers: str) -> str:
    response = client.post(
        "/v2/sessions", json={"node_id": "n1", "ttl_seconds": ttl_seconds}, headers=headers
    )
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def _sleep_past(client: TestClient, session_id: str, **headers: str) -> None:
    """Until just after the session's ``expires_at`` (semantics §7.1: ISO-8601 UTC)."""
    stamp = client.get(f"/v2/sessions/{session_id}", headers=headers).json()["expires_at"]
    expires_at = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    time.sleep(max(0.0, expires_at - time.time() + 0.05))


def _ws_refusal(client: TestClient, session_id: str) -> str:
    with client.websocket_connect(f"/ws?session_id={session_id}") as ws:
        reply = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4404
    code: str = reply["data"]["code"]
    return code


def test_an_expired_session_says_so_on_every_route(start: Start) -> None:
    client = start()
    expiring = _new_session(client)
    deleted = _new_session(client, ttl_seconds=600)
    assert client.delete(f"/v2/sessions/{deleted}").status_code == 200
    with client.websocket_connect(f"/ws?session_id={expiring}") as ws:
        _sleep_past(client, expiring)
        ws.send_json({"type": "get_stm"})
        reply = ws.receive_json()  # the connection's session expired under it
        assert reply["type"] == "error" and reply["data"]["code"] == EXPIRED

    base = f"/v2/sessions/{expiring}"
    assert _code(client.get(base)) == EXPIRED
    assert _code(client.get(f"{base}/stm")) == EXPIRED
    assert _code(client.post(f"{base}/observe", json={"strings": ["a"]})) == EXPIRED
    assert _code(client.get(f"{base}/predictions")) == EXPIRED
    assert _code(client.post(f"{base}/learn")) == EXPIRED
    assert client.get(f"{base}/exists").json() == {
        "exists": False,
        "expired": True,
        "session_id": expiring,
    }
    assert _code(client.get("/stm", headers={"X-Session-ID": expiring})) == EXPIRED
    assert (
        _code(client.post("/observe", json={"strings": ["a"]}, headers={"X-Session-ID": expiring}))
        == EXPIRED
    )
    assert _ws_refusal(client, expiring) == EXPIRED
    # Deleted is not expired; unknown is not expired.
    for session_id in (deleted, "session-never-existed"):
        assert _code(client.get(f"/v2/sessions/{session_id}")) == NOT_FOUND
        assert _code(client.get("/stm", headers={"X-Session-ID": session_id})) == NOT_FOUND
        assert _ws_refusal(client, session_id) == NOT_FOUND
        assert client.get(f"/v2/sessions/{session_id}/exists").json()["expired"] is False


def test_after_the_retention_window_an_expired_session_is_not_found(start: Start) -> None:
    client = start(retention=1)
    session_id = _new_session(client)
    _sleep_past(client, session_id)
    assert _code(client.get(f"/v2/sessions/{session_id}")) == EXPIRED
    time.sleep(1.1)
    assert _code(client.get(f"/v2/sessions/{session_id}")) == NOT_FOUND
    assert _code(client.get("/stm", headers={"X-Session-ID": session_id})) == NOT_FOUND


def test_retention_zero_disables_the_tombstone(start: Start) -> None:
    client = start(retention=0)
    session_id = _new_session(client)
    _sleep_past(client, session_id)
    assert _code(client.get(f"/v2/sessions/{session_id}")) == NOT_FOUND


def test_a_stranger_is_not_told_that_somebody_elses_session_expired(start: Start) -> None:
    client = start(auth_mode="jwt", jwt_secret=HS_SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    alice = {"Authorization": f"Bearer {hs256_token(sub='alice', roles=['writer'])}"}
    bob = {"Authorization": f"Bearer {hs256_token(sub='bob', roles=['writer'])}"}
    session_id = _new_session(client, **alice)
    _sleep_past(client, session_id, **alice)

    assert _code(client.get(f"/v2/sessions/{session_id}", headers=bob)) == NOT_FOUND
    observe = client.post(
        f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]}, headers=bob
    )
    assert _code(observe) == NOT_FOUND
    assert client.get(f"/v2/sessions/{session_id}/exists", headers=bob).json()["expired"] is False
    assert _code(client.get(f"/v2/sessions/{session_id}", headers=alice)) == EXPIRED
