"""kato-client on its own: the SDK needs nothing of the server. Requests go to an
``httpx.MockTransport`` standing in for the service (the tests against a real server are in
the server's suite: tests/api/test_client*.py, tests/integration/test_client_package.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from kato.client import KatoClient, SessionNotFound, observation
from kato.client.version import __version__

SESSION = {
    "session_id": "session-1",
    "node_id": "alice",
    "user_id": "alice",
    "created_at": "2026-01-01T00:00:00",
    "expires_at": "2026-01-01T01:00:00",
    "last_accessed": "2026-01-01T00:00:00",
    "ttl_seconds": 3600,
    "access_count": 0,
    "metadata": {},
    "session_config": {},
}


class FakeService:
    """Answers the few routes these tests use, and keeps every request it saw."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v2/sessions":
            return httpx.Response(200, json=SESSION)
        if path == "/v2/sessions/session-1/observe-sequence":
            return httpx.Response(200, json={"status": "completed", "observations_processed": 2})
        if path == "/v2/sessions/session-1/learn":
            return httpx.Response(200, json={"pattern_name": "PTRN|abc", "status": "learned"})
        return httpx.Response(
            404,
            json={
                "error": {
                    "code": "KATO_SESSION_NOT_FOUND",
                    "message": "Session session-2 not found or expired",
                    "details": {"session_id": "session-2", "trace_id": "t-1"},
                    "timestamp": "2026-01-01T00:00:00.000000Z",
                },
                "status": 404,
            },
        )


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def kato(service: FakeService) -> Iterator[KatoClient]:
    transport = httpx.MockTransport(service)
    with KatoClient("http://kato.test", api_key="kato_key", transport=transport) as client:
        yield client


def test_writes_send_json_with_its_content_type(kato: KatoClient, service: FakeService) -> None:
    session = kato.create_session("alice")
    session.observe_sequence([observation(["wake"]), observation(["coffee"])])
    assert session.learn() == "PTRN|abc"
    create, sequence, learn = service.requests
    for request in (create, sequence):
        assert request.headers["content-type"] == "application/json"  # else the server's 415
    assert json.loads(create.content) == {"node_id": "alice"}
    sent = json.loads(sequence.content)["observations"]
    assert [event["strings"] for event in sent] == [["wake"], ["coffee"]]
    assert all(event["unique_id"].startswith("obs-") for event in sent)  # safe to retry
    assert learn.content == b""


def test_every_request_carries_the_key_and_the_client_version(
    kato: KatoClient, service: FakeService
) -> None:
    kato.create_session("alice")
    (request,) = service.requests
    assert request.headers["x-api-key"] == "kato_key"
    assert request.headers["user-agent"] == f"kato-client/{__version__}"


def test_the_error_envelope_becomes_a_typed_exception(kato: KatoClient) -> None:
    with pytest.raises(SessionNotFound) as raised:
        kato.get_session("session-2")
    assert raised.value.status == 404 and raised.value.trace_id == "t-1"
    assert "session-2" in str(raised.value)


def test_importing_the_sdk_loads_nothing_of_the_server() -> None:
    # A fresh interpreter: what `import kato.client` pulls in, alone.
    probe = (
        "import json, sys, kato.client\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
        "print(json.dumps(sorted(name for name in sys.modules if name.startswith('kato'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    top_level, kato_modules = map(json.loads, result.stdout.split("\n")[:2])
    assert not {"numpy", "fastapi", "pymongo", "qdrant_client", "redis"} & set(top_level)
    assert all(name == "kato" or name.startswith("kato.client") for name in kato_modules), (
        kato_modules
    )
