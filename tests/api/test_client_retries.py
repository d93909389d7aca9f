"""The SDK retries a write whose answer was lost with the same ``unique_id`` /
``Idempotency-Key``, and the server applies it once (issue 9 req 4).

The fault is the one of tests/api/test_idempotency.py: the write is applied, then its client
gets 503 ``KATO_DATABASE_ERROR`` (``Retry-After: 1``, no ``X-Kato-Not-Processed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from kato.api.app import create_app
from kato.client import AsyncKatoClient, KatoClient, RetryPolicy, observation
from kato.core.hashing import pattern_hash
from tests.api.conftest import make_settings
from tests.api.test_client import InProcessTransport
from tests.api.test_idempotency import FailsAfterWriting, inject_fault

AB = pattern_hash([["a"], ["b"]])
RETRY_ONCE = RetryPolicy(max_retries=1, backoff=0.01, max_delay=2.0)

Sent = list[tuple[str, Any, str | None]]  # path, JSON body, Idempotency-Key


def record(request: httpx.Request, sent: Sent) -> None:
    body = json.loads(request.content) if request.content else None
    sent.append((request.url.path, body, request.headers.get("Idempotency-Key")))


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: Sent = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        record(request, self.sent)
        return await self.inner.handle_async_request(request)


class RecordingSyncTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: Sent = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        record(request, self.sent)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def attempts(sent: Sent, path: str) -> list[tuple[Any, str | None]]:
    return [(body, key) for sent_path, body, key in sent if sent_path == path]


async def test_async_client_retries_lost_writes_with_the_same_id(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    async with app.router.lifespan_context(app):
        fault: FailsAfterWriting = inject_fault(app)
        transport = RecordingTransport(httpx.ASGITransport(app=app, raise_app_exceptions=False))
        async with AsyncKatoClient("http://kato", transport=transport, retry=RETRY_ONCE) as kato:
            fault.armed = True
            session = await kato.create_session("sdk")
            assert await kato.count_sessions() == 1
            for symbol in ("a", "b"):
                fault.armed = True
                answer = await session.observe([symbol])
            assert answer["time"] == 2 and answer["stm_length"] == 2
            assert await session.stm() == [["a"], ["b"]]
            fault.armed = True
            assert await session.learn() == f"PTRN|{AB}"
            pattern = await session.get_pattern(AB)
            assert pattern["frequency"] == 1
    sent = transport.sent
    creates = attempts(sent, "/v2/sessions")
    assert len(creates) == 2 and creates[0] == creates[1] and creates[0][1]  # same key
    observes = attempts(sent, f"/v2/sessions/{session.id}/observe")
    assert len(observes) == 4
    assert observes[0] == observes[1] and observes[2] == observes[3]
    assert observes[0][0]["unique_id"] != observes[2][0]["unique_id"]  # one id per observe
    learns = attempts(sent, f"/v2/sessions/{session.id}/learn")
    assert len(learns) == 2 and learns[0] == learns[1] and learns[0][1]


def test_sync_client_retries_lost_writes_with_the_same_id(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    transport = RecordingSyncTransport(InProcessTransport(app))
    fault = inject_fault(app)
    with KatoClient("http://kato", transport=transport, retry=RETRY_ONCE) as kato:
        session = kato.create_session("sdk")
        fault.armed = True
        summary = session.observe_sequence(
            [observation(["a"]), observation(["b"], unique_id="mine")]
        )
        assert [r["time"] for r in summary["results"]] == [1, 2]
        assert session.stm() == [["a"], ["b"]]
        fault.armed = True
        session.clear_stm()
        session.observe(["c"])
        assert session.stm() == [["c"]]
    sequences = attempts(transport.sent, f"/v2/sessions/{session.id}/observe-sequence")
    assert len(sequences) == 2 and sequences[0] == sequences[1]
    assert [o["unique_id"] for o in sequences[0][0]["observations"]][1] == "mine"
    clears = attempts(transport.sent, f"/v2/sessions/{session.id}/clear-stm")
    assert len(clears) == 2 and clears[0] == clears[1] and clears[0][1]
