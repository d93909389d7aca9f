"""``kato serve`` over loopback HTTP in ``api_key`` mode: a session's rate limit counts only
requests that passed authentication and ownership (issue 9 req 5)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kato.security.api_keys import ApiKeyStore
from tests.servers import kato_serving

pytestmark = pytest.mark.slow
SESSION_LIMIT = 5


def test_a_strangers_404s_do_not_use_up_the_owners_session_quota(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    keys = ApiKeyStore(data_dir / "api_keys.json")
    owner = {"X-API-Key": keys.create("alice", ["writer"])[0]}
    stranger = {"X-API-Key": keys.create("bob", ["writer"])[0]}
    limits = {
        "KATO_SECURITY__AUTH_MODE": "api_key",
        "KATO_SECURITY__RATE_LIMIT_ENABLED": "true",
        "KATO_SECURITY__RATE_LIMIT_SESSION": f"{SESSION_LIMIT}/minute",
    }
    with (
        kato_serving(data_dir, **limits) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        created = client.post("/v2/sessions", json={"node_id": "n1"}, headers=owner)
        session_id = created.json()["session_id"]
        path = f"/v2/sessions/{session_id}"
        # Every kind of route that checks ownership: path guard, the checks run on the session
        # the service loads (observe, predictions), v1 through X-Session-ID.
        requests = [
            ("GET", path, {}),
            ("POST", f"{path}/observe", {"json": {"strings": ["a"]}}),
            ("GET", f"{path}/predictions", {}),
            ("GET", "/stm", {"headers": {"X-Session-ID": session_id}}),
        ]
        for _ in range(3):
            for method, url, options in requests:
                headers = {**stranger, **options.get("headers", {})}
                body = options.get("json")
                response = client.request(method, url, headers=headers, json=body)
                assert response.status_code == 404, (method, url, response.text)
                assert response.json()["error"]["code"] == "KATO_SESSION_NOT_FOUND"
        # 12 requests of the stranger, more than the session's limit: the owner is served.
        for index in range(SESSION_LIMIT):
            method, url, options = requests[index % len(requests)]
            headers = {**owner, **options.get("headers", {})}
            response = client.request(method, url, headers=headers, json=options.get("json"))
            assert response.status_code == 200, (index, method, url, response.text)
        # The owner's own requests still count: past the limit, 429.
        limited = client.get(f"{path}/stm", headers=owner)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "KATO_RATE_LIMITED"
        assert "session" in limited.json()["error"]["message"]
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["RateLimit-Limit"] == str(SESSION_LIMIT)
