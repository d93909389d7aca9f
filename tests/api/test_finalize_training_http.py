"""POST /sessions/{id}/finalize-training (semantics §12.7): role, 404, response shape."""

from __future__ import annotations

from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from tests.api.conftest import assert_error
from tests.api.test_security_api import _bearer, _client, _settings


async def test_finalize_training_answers_the_3x_shape(client):
    created = await client.post("/sessions", json={"node_id": "ft"})
    session_id = created.json()["session_id"]
    base = f"/sessions/{session_id}"
    for strings in (["a", "b"], ["c"]):
        assert (await client.post(f"{base}/observe", json={"strings": strings})).status_code == 200
    assert (await client.post(f"{base}/learn")).status_code == 200
    response = await client.post(f"{base}/finalize-training")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "status",
        "patterns_processed",
        "time_ms",
        "session_id",
        "node_id",
        "message",
    }
    assert body["status"] == "completed" and body["patterns_processed"] == 1
    assert body["session_id"] == session_id and body["node_id"] == "ft"
    assert body["time_ms"] >= 0.0


async def test_unknown_session_is_404(client):
    response = await client.post("/sessions/no-such-session/finalize-training")
    assert_error(response, 404, "KATO_SESSION_NOT_FOUND")


async def test_a_reader_may_not_finalize(tmp_path):
    settings = _settings(tmp_path, auth_mode="api_key")
    store = ApiKeyStore(api_keys_path(settings))
    reader, _ = store.create("dash", ["reader"])
    writer, _ = store.create("etl", ["writer"])
    async with _client(settings) as client:
        created = await client.post("/sessions", json={"node_id": "n1"}, headers=_bearer(writer))
        base = f"/sessions/{created.json()['session_id']}"
        refused = await client.post(f"{base}/finalize-training", headers={"X-API-Key": reader})
        assert refused.status_code == 403
        allowed = await client.post(f"{base}/finalize-training", headers=_bearer(writer))
        assert allowed.status_code == 200 and allowed.json()["patterns_processed"] == 0
