"""WebSocket /ws (semantics §8.2): many messages per connection, errors keep it open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from kato.api import routes_ws
from kato.api.app import create_app
from kato.core.hashing import pattern_hash
from tests.api.conftest import make_settings

AB = "PTRN|" + pattern_hash([["a"], ["b"]])


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path))) as started:
        yield started


def test_full_flow_on_the_default_session(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "observe", "payload": {"strings": ["a"]}})
        first = ws.receive_json()
        assert first["type"] == "observation_result" and first["data"]["time"] == 1
        assert first["data"]["unique_id"].startswith("ws-")
        ws.send_json({"type": "observe", "payload": {"strings": ["b"]}})
        ws.receive_json()
        ws.send_json({"type": "get_stm"})
        assert ws.receive_json()["data"]["stm"] == [["a"], ["b"]]
        ws.send_json({"type": "learn"})
        assert ws.receive_json() == {
            "type": "learn_result",
            "data": {
                "pattern_name": AB,
                "processor_id": "default",
                "session_id": "session-default",
            },
        }
        for symbol in ("a", "b"):
            ws.send_json({"type": "observe", "payload": {"strings": [symbol]}})
            ws.receive_json()
        ws.send_json({"type": "get_predictions"})
        predictions = ws.receive_json()
        assert predictions["type"] == "predictions"
        assert [p["name"] for p in predictions["data"]["predictions"]] == [AB]
        ws.send_json({"type": "clear_stm"})
        assert ws.receive_json()["data"]["message"] == "stm-cleared"
        ws.send_json({"type": "clear_all"})
        assert ws.receive_json()["data"]["message"] == "all-cleared"
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
    # The WebSocket worked on the same default session the v1 HTTP endpoints use.
    assert client.get("/stm").json()["session_id"] == "session-default"


def test_bad_messages_get_errors_and_the_connection_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        for bad, code in (
            ("not json", "KATO_VALIDATION_ERROR"),
            ("[1, 2]", "KATO_VALIDATION_ERROR"),
            ('{"type": "dance"}', "KATO_VALIDATION_ERROR"),
            ('{"type": "observe", "payload": {"strings": [1]}}', "KATO_VALIDATION_ERROR"),
            ('{"type": "observe", "payload": "x"}', "KATO_VALIDATION_ERROR"),
            (
                '{"type": "observe", "payload": {"vectors": [[1.0], [1.0, 2.0]]}}',
                "KATO_VALIDATION_ERROR",
            ),
        ):
            ws.send_text(bad)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["data"]["code"] == code, bad
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["data"]["message"] == "Unknown message type: dance"
        ws.send_json({"type": "learn"})  # empty STM: not an error on the WebSocket
        assert ws.receive_json()["data"]["pattern_name"] == ""
        ws.send_json({"type": "observe", "payload": {"strings": ["ok"]}})
        assert ws.receive_json()["data"]["time"] == 1  # nothing before counted


def test_binary_frames_deep_nesting_and_falsy_payloads_keep_the_connection(
    client: TestClient,
) -> None:
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b'{"type": "ping"}')  # a binary frame used to crash the handler
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["data"]["code"] == "KATO_VALIDATION_ERROR"
        ws.send_text("[" * 100_000 + "]" * 100_000)  # RecursionError in the JSON decoder
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["data"]["code"] == "KATO_VALIDATION_ERROR"
        ws.send_text('{"type": "observe", "payload": 0}')  # not an object, even if falsy
        assert ws.receive_json()["data"]["message"] == "payload must be an object"
        ws.send_json({"type": "get_stm"})
        assert ws.receive_json()["data"]["stm"] == []  # nothing was observed


def test_message_over_the_body_limit_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, limits={"max_body_bytes": 1024})
    with TestClient(create_app(settings)) as client, client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "observe", "payload": {"strings": ["é" * 600]}})
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["data"]["code"] == "KATO_PAYLOAD_TOO_LARGE"
        ws.send_json({"type": "get_stm"})
        assert ws.receive_json()["data"]["stm"] == []


def test_bound_to_a_session_and_unknown_session_closes(client: TestClient) -> None:
    session_id = client.post("/v2/sessions", json={"node_id": "wsnode"}).json()["session_id"]
    with client.websocket_connect(f"/ws?session_id={session_id}") as ws:
        ws.send_json({"type": "observe", "payload": {"strings": ["q"]}})
        reply = ws.receive_json()
        assert reply["data"]["session_id"] == session_id
        assert reply["data"]["processor_id"] == "wsnode"
    assert client.get(f"/v2/sessions/{session_id}/stm").json()["stm"] == [["q"]]
    with client.websocket_connect("/ws?session_id=session-nope") as ws:
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["data"]["code"] == "KATO_SESSION_NOT_FOUND"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4404


def test_an_unexpected_failure_is_an_error_reply_and_the_connection_stays_open(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> tuple[str, dict[str, object]]:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setitem(routes_ws.HANDLERS, "get_stm", broken)  # stands for any internal bug
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "get_stm"})
        reply = ws.receive_json()
        assert reply["type"] == "error" and reply["data"]["code"] == "KATO_INTERNAL_ERROR"
        assert "internal detail" not in str(reply)
        ws.send_json({"type": "ping"})
        assert ws.receive_json()["type"] == "pong"
