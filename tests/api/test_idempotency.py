"""Retries are safe (issue 9 req 4): a write whose answer was lost is not applied twice.

The fault of the black-box runs is injected exactly: the session store applies the write
(save, or the keyed create) and then fails with a Redis connection error, so the client gets
503 ``KATO_DATABASE_ERROR`` with ``Retry-After`` and without ``X-Kato-Not-Processed`` for a
write that was applied. The retry — same ``unique_id`` / ``Idempotency-Key`` — must get the
original answer and change nothing. Run on the memory store and on a real redis-server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import exceptions as redis_errors
from starlette.testclient import TestClient

from kato.api.app import create_app
from kato.config import Settings
from kato.core.hashing import pattern_hash
from kato.resilience.session_store import BreakerGuardedSessionStore
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from kato.sessions.models import Session
from kato.sessions.store import SessionStore
from tests.api.conftest import assert_error, make_settings

AB = pattern_hash([["a"], ["b"]])


class FailsAfterWriting:
    """A session store whose next write, once armed, is applied and then reported failed."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.backend = inner.backend
        self.armed = False
        self.store = inner  # the store under the fault, to read what it holds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save(self, session: Session) -> None:
        await self.inner.save(session)
        self._fail_if_armed()

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        earlier = await self.inner.create_once(session, request_key, record, ttl_seconds)
        self._fail_if_armed()
        return earlier

    def _fail_if_armed(self) -> None:
        if self.armed:
            self.armed = False
            raise redis_errors.ConnectionError("the reply was lost after the write")


def inject_fault(app: FastAPI) -> FailsAfterWriting:
    """Put the fault under the ``redis`` breaker, which answers it with the 503 of the runs."""
    service = app.state.service
    sessions = service.sessions
    if isinstance(sessions, BreakerGuardedSessionStore):
        faulty = FailsAfterWriting(sessions.inner)
        sessions.inner = faulty
    else:  # the memory store has no breaker of its own: give it the one Redis would have
        faulty = FailsAfterWriting(sessions)
        service.sessions = BreakerGuardedSessionStore(faulty, app.state.resilience)
    return faulty


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "memory":
        return make_settings(tmp_path)
    url = request.getfixturevalue("redis_url")
    return make_settings(
        tmp_path, session={"store_type": "redis"}, database={"redis": {"url": url}}
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, FailsAfterWriting]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        fault = inject_fault(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            yield client, fault


async def post(client: httpx.AsyncClient, path: str, **options: Any) -> Any:
    response = await client.post(path, **options)
    assert response.status_code == 200, response.text
    return response.json()


async def post_lost(
    client: httpx.AsyncClient, fault: FailsAfterWriting, path: str, **options: Any
) -> None:
    """The write is applied, and its client gets the 503 that does not say 'not processed'."""
    fault.armed = True
    response = await client.post(path, **options)
    assert_error(response, 503, "KATO_DATABASE_ERROR")
    assert response.headers["retry-after"] == "1"
    assert "x-kato-not-processed" not in response.headers
    assert not fault.armed


async def stm(client: httpx.AsyncClient, session_id: str) -> Any:
    return (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"]


async def new_session(client: httpx.AsyncClient) -> str:
    body = await post(client, "/v2/sessions", json={"node_id": "retries"})
    session_id: str = body["session_id"]
    return session_id


# -- observe --------------------------------------------------------------------------------


async def test_v2_observe_retried_with_its_unique_id_is_applied_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        path = f"/v2/sessions/{session_id}/observe"
        event = {"strings": ["a"], "unique_id": "event-1"}
        await post_lost(client, fault, path, json=event)

        retried = await post(client, path, json=event)
        assert await stm(client, session_id) == [["a"]]
        assert retried == {
            "status": "ok",
            "session_id": session_id,
            "processor_id": "retries",
            "stm_length": 1,
            "time": 1,
            "unique_id": "event-1",
            "auto_learned_pattern": None,
        }
        await post(client, path, json={"strings": ["b"]})
        # Later repeats still answer what the first one did, not the session as it is now.
        assert await post(client, path, json=event) == retried
        assert await stm(client, session_id) == [["a"], ["b"]]


async def test_v1_observe_retried_with_its_unique_id_is_applied_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        headers = {"X-Session-ID": session_id}
        event = {"strings": ["a"], "unique_id": "v1-event"}
        await post_lost(client, fault, "/observe", json=event, headers=headers)

        retried = await post(client, "/observe", json=event, headers=headers)
        assert retried == {
            "status": "okay",
            "processor_id": "retries",
            "auto_learned_pattern": None,
            "time": 1,
            "unique_id": "v1-event",
            "stm_length": 1,
            "session_id": session_id,
        }
        assert await post(client, "/observe", json=event, headers=headers) == retried
        assert await stm(client, session_id) == [["a"]]


async def test_observe_sequence_items_retried_are_applied_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        path = f"/v2/sessions/{session_id}/observe-sequence"
        body = {
            "observations": [
                {"strings": ["a"], "unique_id": "item-a"},
                {"strings": ["b"], "unique_id": "item-b"},
            ],
            "learn_at_end": True,
        }
        await post_lost(client, fault, path, json=body)

        retried = await post(client, path, json=body)
        assert [
            (r["unique_id"], r["time"], r["stm_length"], r["sequence_position"])
            for r in retried["results"]
        ] == [("item-a", 1, 1, 0), ("item-b", 2, 2, 1)]
        assert retried["final_learned_pattern"] is None  # the first request learned it
        pattern = await client.get(f"/pattern/{AB}", headers={"X-Session-ID": session_id})
        assert pattern.json()["pattern"]["frequency"] == 1
        assert await stm(client, session_id) == []  # learned at the end, once

        # A single observe with an id a sequence applied is a repeat too.
        single = await post(
            client,
            f"/v2/sessions/{session_id}/observe",
            json={"strings": ["b"], "unique_id": "item-b"},
        )
        assert (single["time"], single["stm_length"]) == (2, 2)
        assert await stm(client, session_id) == []


def test_websocket_observe_retried_with_its_unique_id_is_applied_once(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        fault = inject_fault(client.app)  # type: ignore[arg-type]
        session_id = client.post("/v2/sessions", json={"node_id": "ws"}).json()["session_id"]
        message = {"type": "observe", "payload": {"strings": ["a"], "unique_id": "ws-1"}}
        with client.websocket_connect(f"/ws?session_id={session_id}") as ws:
            fault.armed = True
            ws.send_json(message)
            lost = ws.receive_json()
            assert lost["type"] == "error" and lost["data"]["code"] == "KATO_DATABASE_ERROR"
            ws.send_json(message)
            retried = ws.receive_json()
            ws.send_json(message)
            assert ws.receive_json() == retried
        assert retried["data"]["time"] == 1 and retried["data"]["stm_length"] == 1
        assert client.get(f"/v2/sessions/{session_id}/stm").json()["stm"] == [["a"]]


async def test_a_unique_id_reused_for_another_observation_is_refused(settings: Settings) -> None:
    async with serving(settings) as (client, _):
        session_id = await new_session(client)
        path = f"/v2/sessions/{session_id}/observe"
        await post(client, path, json={"strings": ["a"], "unique_id": "same"})
        reused = await client.post(path, json={"strings": ["b"], "unique_id": "same"})
        assert_error(reused, 409, "KATO_CONFLICT")
        assert await stm(client, session_id) == [["a"]]


async def test_generated_unique_ids_are_not_remembered(settings: Settings) -> None:
    async with serving(settings) as (client, _):
        session_id = await new_session(client)
        for _ in range(2):
            await post(client, f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]})
        assert await stm(client, session_id) == [["a"], ["a"]]


# -- Idempotency-Key ------------------------------------------------------------------------


async def test_learn_retried_with_its_key_learns_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        for symbol in ("a", "b"):
            await post(client, f"/v2/sessions/{session_id}/observe", json={"strings": [symbol]})
        learn = f"/v2/sessions/{session_id}/learn"
        key = {"Idempotency-Key": "learn-1"}
        await post_lost(client, fault, learn, headers=key)

        retried = await post(client, learn, headers=key)
        assert retried["pattern_name"] == f"PTRN|{AB}"
        pattern = await client.get(f"/pattern/{AB}", headers={"X-Session-ID": session_id})
        assert pattern.json()["pattern"]["frequency"] == 1
        # v1 learn with the same key on the same session: the same write, answered again.
        v1 = await post(client, "/learn", headers={**key, "X-Session-ID": session_id})
        assert v1["pattern_name"] == f"PTRN|{AB}"
        assert (await client.get(f"/pattern/{AB}", headers={"X-Session-ID": session_id})).json()[
            "pattern"
        ]["frequency"] == 1


async def test_clear_stm_retried_with_its_key_clears_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        observe = f"/v2/sessions/{session_id}/observe"
        clear = f"/v2/sessions/{session_id}/clear-stm"
        key = {"Idempotency-Key": "clear-1"}
        await post(client, observe, json={"strings": ["a"]})
        await post_lost(client, fault, clear, headers=key)
        await post(client, observe, json={"strings": ["b"]})  # observed after the clear

        assert await post(client, clear, headers=key) == {
            "status": "cleared",
            "session_id": session_id,
            "ttl_seconds": None,
            "scope": None,
        }
        assert await stm(client, session_id) == [["b"]]


async def test_clear_all_retried_with_its_key_clears_once(settings: Settings) -> None:
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        clear_all = f"/v2/sessions/{session_id}/clear-all"
        key = {"Idempotency-Key": "wipe-1"}
        await post_lost(client, fault, clear_all, headers=key)
        for symbol in ("a", "b"):
            await post(client, f"/v2/sessions/{session_id}/observe", json={"strings": [symbol]})
        await post(client, f"/v2/sessions/{session_id}/learn")

        assert (await post(client, clear_all, headers=key))["scope"] == "all"
        pattern = await client.get(f"/pattern/{AB}", headers={"X-Session-ID": session_id})
        assert pattern.status_code == 200  # learned after the clear, still there


async def test_a_key_reused_for_another_operation_is_refused(settings: Settings) -> None:
    async with serving(settings) as (client, _):
        session_id = await new_session(client)
        await post(client, f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]})
        key = {"Idempotency-Key": "k"}
        await post(client, f"/v2/sessions/{session_id}/clear-stm", headers=key)
        learn = await client.post(f"/v2/sessions/{session_id}/learn", headers=key)
        assert_error(learn, 409, "KATO_CONFLICT")


async def test_session_create_retried_with_its_key_creates_one_session(
    settings: Settings,
) -> None:
    async with serving(settings) as (client, fault):
        body = {"node_id": "retries", "metadata": {"run": 1}}
        key = {"Idempotency-Key": "create-1"}
        await post_lost(client, fault, "/v2/sessions", json=body, headers=key)

        retried = await post(client, "/v2/sessions", json=body, headers=key)
        again = await post(client, "/v2/sessions", json=body, headers=key)
        assert again["session_id"] == retried["session_id"]
        assert (await client.get("/v2/sessions/count")).json()["active_session_count"] == 1
        other = await client.post(
            "/v2/sessions", json={**body, "node_id": "elsewhere"}, headers=key
        )
        assert_error(other, 409, "KATO_CONFLICT")
        # Once the session is gone, a repeat says so instead of making a new one.
        await client.delete(f"/v2/sessions/{retried['session_id']}")
        gone = await client.post("/v2/sessions", json=body, headers=key)
        assert gone.status_code == 404, gone.text


async def test_session_create_keys_belong_to_their_principal(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, security={"auth_mode": "api_key", "audit_log_file": str(tmp_path / "a.log")}
    )
    keys = ApiKeyStore(api_keys_path(settings))
    alice, _ = keys.create("alice", ["writer"])
    bob, _ = keys.create("bob", ["writer"])
    async with serving(settings) as (client, _):
        created = {}
        for name, api_key in (("alice", alice), ("bob", bob)):
            headers = {"X-API-Key": api_key, "Idempotency-Key": "shared-key"}
            body = await post(client, "/v2/sessions", json={"node_id": "n"}, headers=headers)
            created[name] = body["session_id"]
        assert created["alice"] != created["bob"]


@pytest.mark.parametrize("key", ["", "x" * 257, "has space", "naïve"])
async def test_malformed_idempotency_keys_are_refused(settings: Settings, key: str) -> None:
    async with serving(settings) as (client, _):
        session_id = await new_session(client)
        response = await client.post(
            f"/v2/sessions/{session_id}/clear-stm", headers={"Idempotency-Key": key.encode()}
        )
        assert_error(response, 422, "KATO_VALIDATION_ERROR")


async def test_the_openapi_schema_declares_the_idempotency_key(settings: Settings) -> None:
    async with serving(settings) as (client, _):
        paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (
        "/v2/sessions",
        "/v2/sessions/{session_id}/learn",
        "/v2/sessions/{session_id}/clear-stm",
        "/v2/sessions/{session_id}/clear-all",
        "/learn",
        "/clear-stm",
        "/clear-all",
    ):
        parameters = paths[path]["post"]["parameters"]
        declared = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert declared and declared[0]["in"] == "header", path
        assert declared[0]["schema"]["anyOf"][0]["maxLength"] == 256, path
        assert "409" in paths[path]["post"]["responses"], path


# -- the window -----------------------------------------------------------------------------


async def test_the_window_bounds_what_a_session_remembers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, session={"idempotency_window": 2})
    async with serving(settings) as (client, fault):
        session_id = await new_session(client)
        path = f"/v2/sessions/{session_id}/observe"
        for number in range(3):
            await post(client, path, json={"strings": ["a"], "unique_id": f"u{number}"})
        session = await fault.store.get(session_id)
        assert session is not None
        assert list(session.applied_writes) == ["observe:u1", "observe:u2"]
        # u0 was forgotten: sent again, it is a new observation.
        await post(client, path, json={"strings": ["a"], "unique_id": "u0"})
        assert len(await stm(client, session_id)) == 4


async def test_browsers_may_send_the_key_and_read_not_processed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, security={"cors_origins": ["https://app.example"]})
    async with serving(settings) as (client, _):
        preflight = await client.options(
            "/v2/sessions",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Idempotency-Key",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
        created = await client.post(
            "/v2/sessions", json={"node_id": "n"}, headers={"Origin": "https://app.example"}
        )
        exposed = created.headers["access-control-expose-headers"].lower()
        assert "x-kato-not-processed" in exposed
