"""/ws/events (issue 12 req 5, §12.19): session and error events, role-checked and filtered."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kato.api.app import create_app
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from tests.api.conftest import make_settings
from tests.security_helpers import make_key
from tests.security_helpers import settings as security_settings


def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json()
    return message


def test_session_events_from_every_surface(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client, client.websocket_connect("/ws/events") as ws:
        hello = receive(ws)
        assert hello["event_type"] == "connection.established"
        assert hello["data"] == {"active_sessions": 0}
        assert hello["timestamp"].endswith("Z")
        v3 = client.post("/sessions", json={"node_id": "n1"}).json()["session_id"]
        created = receive(ws)
        assert created["event_type"] == "session.created"
        assert created["data"] == {"session_id": v3, "node_id": "n1"}
        v2 = client.post("/v2/sessions", json={"node_id": "n2"}).json()["session_id"]
        assert receive(ws)["data"] == {"session_id": v2, "node_id": "n2"}
        client.delete(f"/v2/sessions/{v3}")
        destroyed = receive(ws)
        assert destroyed["event_type"] == "session.destroyed"
        assert destroyed["data"] == {"session_id": v3, "node_id": "n1", "reason": "deleted"}
        ws.send_text("ping")
        assert receive(ws)["event_type"] == "pong"


def test_system_errors_are_pushed(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client, client.websocket_connect("/ws/events") as ws:
        receive(ws)
        logging.getLogger("kato.api").error("disk on fire")
        event = receive(ws)
        assert event["event_type"] == "system.error"
        assert event["data"] == {"message": "disk on fire", "logger": "kato.api"}


@pytest.fixture
def keyed(tmp_path: Path) -> Any:
    """An app with API keys: an admin key and a reader scoped to node n1."""
    settings = security_settings(tmp_path, auth_mode="api_key")
    store = ApiKeyStore(api_keys_path(settings))
    tokens = {
        "admin": make_key(store, "ops", ["admin"]),
        "reader": make_key(store, "dash", ["reader", "writer"], nodes=["n1"]),
    }
    return settings, tokens


def test_role_checked_and_filtered_by_node_scope(keyed: Any) -> None:
    settings, tokens = keyed
    admin = {"X-API-Key": tokens["admin"]}
    with TestClient(create_app(settings)) as client:
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/events") as ws:
            ws.receive_json()  # refused: no credentials
        reader_headers = {"X-API-Key": tokens["reader"]}
        with client.websocket_connect("/ws/events", headers=reader_headers) as reader:
            receive(reader)
            client.post("/sessions", json={"node_id": "n2"}, headers=admin)  # out of scope
            shared = client.post("/sessions", json={"node_id": "n1"}, headers=reader_headers)
            event = receive(reader)  # the n2 session was never sent to this reader
            assert event["data"]["session_id"] == shared.json()["session_id"]
            logging.getLogger("kato").error("only for admins")
            reader.send_text("ping")
            assert receive(reader)["event_type"] == "pong"  # no system.error before it
