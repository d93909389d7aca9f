"""The one-step observe (issue 10 req 2, 3): one script on Redis sessions (over a real
Redis), one call of the in-process memory store; both in-process.

The same requests go to a service using the fast path and to one forced down the locked
path (``_appender = None``); every response body must be the same bytes once the values that
differ between any two runs (ids, clocks) are masked, and so must the stored sessions. Caps,
auto-learn and the byte cap make the store decline: the locked path then answers exactly.
The tests that read Redis keys or count round trips are Redis's alone.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from kato.api.app import create_app
from kato.core.observation import Observation
from kato.service.fast_observe import fast_change
from kato.service.kato_service import KatoService
from kato.sessions.redis_channel import _Connection
from tests.api.conftest import make_settings

# Values that differ between two runs of the same requests: masked before comparing.
_VOLATILE = re.compile(
    r'"(session_id|unique_id|created_at|expires_at|last_accessed|started_at|timestamp|trace_id)"'
    r':("[^"]*"|[0-9.e+-]+)'
)
_SESSION_IDS = re.compile(r"session-[0-9a-f]{32}-[0-9]+")


def masked(text: str) -> str:
    return _SESSION_IDS.sub("<session>", _VOLATILE.sub(r'"\1":"<v>"', text))


@pytest.fixture(params=["redis", "memory"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The session store of a parametrised test: Redis (its URL) or the memory store."""
    return request.getfixturevalue("redis_url") if request.param == "redis" else None


@asynccontextmanager
async def serving(
    tmp_path: Path, redis_url: str | None, fast: bool, **sections: dict[str, Any]
) -> AsyncIterator[tuple[httpx.AsyncClient, KatoService]]:
    """``redis_url`` None: the memory store."""
    database: dict[str, Any] = {"qdrant": {"local_store": "sqlite"}}
    if redis_url is not None:
        database["redis"] = {"url": redis_url}
    settings = make_settings(
        tmp_path / ("fast" if fast else "locked"), database=database, **sections
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        service: KatoService = app.state.service
        if not fast:
            service._appender = None  # every observe takes the lock
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            yield client, service


# Observations covering what an observe changes: strings (sorted), emotives (floats of every
# kind), empty observations, non-ASCII symbols; learns and clears between them.
SCRIPT: list[tuple[str, dict[str, Any]]] = [
    ("observe", {"strings": ["b", "a"]}),
    ("observe", {"strings": ["c"], "emotives": {"joy": 0.1, "fear": -2.5e-7}}),
    ("observe", {"strings": []}),
    ("observe", {"strings": ["ünï", "\U0001f600"], "emotives": {"joy": 1.0}}),
    ("observe", {"strings": ["d"]}),
    ("get", {"path": "/stm"}),
    ("get", {"path": "/percept-data"}),
    ("get", {"path": ""}),
    ("learn", {}),
    ("observe", {"strings": ["a", "b"]}),
    ("observe", {"strings": ["c"], "emotives": {"calm": 3}}),
    ("get", {"path": "/predictions"}),
    ("observe", {"strings": ["e", "f", "g"]}),
    ("clear-stm", {}),
    ("observe", {"strings": ["x"]}),
    ("observe", {"strings": ["y"], "emotives": {"joy": 12345.678}}),
    ("observe", {"strings": ["z"]}),
    ("observe", {"strings": ["w"]}),
    ("get", {"path": "/cognition-data"}),
    ("get", {"path": "/stm"}),
    ("get", {"path": ""}),
]


async def run_script(client: httpx.AsyncClient, node_id: str) -> tuple[str, list[str]]:
    created = await client.post("/v2/sessions", json={"node_id": node_id})
    assert created.status_code == 200, created.text
    session_id = created.json()["session_id"]
    base = f"/v2/sessions/{session_id}"
    answers = []
    for kind, body in SCRIPT:
        if kind == "observe":
            response = await client.post(f"{base}/observe", json=body)
        elif kind == "get":
            response = await client.get(base + body["path"])
        else:
            response = await client.post(f"{base}/{kind}")
        answers.append(f"{kind} {response.status_code} {masked(response.text)}")
    return session_id, answers


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the commands (a pipeline: one) every Redis connection sends: redis-py's and
    the one-step observe's channel's."""
    sent = [0]
    original = Connection.send_packed_command
    channel_send = _Connection.send

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        await original(self, command, check_health)

    def counting_channel(self: _Connection, command: bytes) -> Any:
        sent[0] += 1
        return channel_send(self, command)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    monkeypatch.setattr(_Connection, "send", counting_channel)
    yield sent


CAP_SETTINGS: list[dict[str, dict[str, Any]]] = [
    {},
    {"session": {"max_stm_size": 3, "stm_overflow": "trim"}},
    {"session": {"max_stm_size": 3, "stm_overflow": "reject"}},
    {"session": {"max_session_bytes": 1400}},
    {"genes": {"max_pattern_length": 3}},
    {"genes": {"max_pattern_length": 4, "stm_mode": "ROLLING"}},
]


@pytest.mark.parametrize(
    "sections", CAP_SETTINGS, ids=["defaults", "trim", "reject", "bytes", "learn", "rolling"]
)
async def test_fast_and_locked_observes_answer_and_store_the_same(
    tmp_path: Path, store_url: str | None, sections: dict[str, dict[str, Any]]
) -> None:
    async with serving(tmp_path, store_url, fast=True, **sections) as (client, service):
        assert service._appender is not None
        fast_id, fast_answers = await run_script(client, "node-fast")
        fast_session = await service.sessions.get(fast_id)
    async with serving(tmp_path, store_url, fast=False, **sections) as (client, service):
        locked_id, locked_answers = await run_script(client, "node-locked")
        locked_session = await service.sessions.get(locked_id)

    assert fast_answers == [answer.replace("node-locked", "node-fast") for answer in locked_answers]
    assert fast_session is not None and locked_session is not None
    stored_fast = masked(fast_session.to_json())
    assert stored_fast == masked(locked_session.to_json()).replace("node-locked", "node-fast")


async def test_the_figures_hold_the_exact_size_of_the_session(
    tmp_path: Path, redis_url: str
) -> None:
    """The byte cap decided in Lua uses the figures' size: it must be ``encoded_size()``."""
    async with serving(tmp_path, redis_url, fast=True) as (client, service):
        session_id, _ = await run_script(client, "node-size")
        base = f"/v2/sessions/{session_id}"
        for body in ({"strings": ["long-" * 20]}, {"strings": [], "emotives": {"e": 0.3}}):
            assert (await client.post(f"{base}/observe", json=body)).status_code == 200
        raw = aioredis.Redis.from_url(redis_url)
        try:
            figures = await raw.hgetall(f"kato:session-figures:{session_id}")
            log_length = await raw.llen(f"kato:session-log:{session_id}")
        finally:
            await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        session = await service.sessions.get(session_id)
    assert session is not None
    assert log_length == 6  # the observes since the last locked write (clear-stm)
    assert int(figures[b"size"]) == session.encoded_size()
    assert int(figures[b"time"]) == session.state.time
    assert int(figures[b"stm"]) == len(session.state.stm)
    assert int(figures[b"ac"]) == session.access_count


async def test_a_common_observe_is_one_redis_round_trip(
    tmp_path: Path, redis_url: str, round_trips: list[int]
) -> None:
    async with serving(tmp_path, redis_url, fast=True) as (client, _):
        created = await client.post("/v2/sessions", json={"node_id": "node-rt"})
        base = f"/v2/sessions/{created.json()['session_id']}"
        # Warm-up: the first observe is locked (this instance learns the session's node and
        # owner), the first learn and fast observe load their scripts into Redis.
        for warm_up in ("observe", "learn", "observe", "observe"):
            body = {"strings": ["a", "b"]} if warm_up == "observe" else None
            assert (await client.post(f"{base}/{warm_up}", json=body)).status_code == 200
        before = round_trips[0]
        for index in range(10):
            response = await client.post(f"{base}/observe", json={"strings": [f"s{index}"]})
            assert response.status_code == 200 and response.json()["time"] == index + 4
        assert round_trips[0] - before == 10
        before = round_trips[0]
        learned = await client.post(f"{base}/learn")
        assert learned.status_code == 200
        # A multi-step write keeps the lock: the route's read, lock (with a read), save, release.
        assert round_trips[0] - before == 4


async def test_retries_of_a_named_observe_are_answered_not_applied(
    tmp_path: Path, store_url: str | None
) -> None:
    """A client-named observe takes the locked path (its answer is remembered in the
    record), also between fast observes."""
    async with serving(tmp_path, store_url, fast=True) as (client, _):
        created = await client.post("/v2/sessions", json={"node_id": "node-retry"})
        base = f"/v2/sessions/{created.json()['session_id']}"
        await client.post(f"{base}/observe", json={"strings": ["a"]})
        await client.post(f"{base}/observe", json={"strings": ["b"]})  # fast
        named = {"strings": ["c"], "unique_id": "client-1"}
        first = await client.post(f"{base}/observe", json=named)
        await client.post(f"{base}/observe", json={"strings": ["d"]})  # fast
        repeat = await client.post(f"{base}/observe", json=named)
        stm = (await client.get(f"{base}/stm")).json()["stm"]
    assert first.status_code == repeat.status_code == 200
    assert json.loads(repeat.text) == json.loads(first.text)
    assert stm == [["a"], ["b"], ["c"], ["d"]]


async def test_a_resent_append_is_answered_again_not_applied_twice(
    tmp_path: Path, redis_url: str
) -> None:
    """redis-py re-sends a command once on a broken connection; the script recognises its
    own call by the token and answers it again."""
    async with serving(tmp_path, redis_url, fast=True) as (client, service):
        created = await client.post("/v2/sessions", json={"node_id": "node-resend"})
        session_id = created.json()["session_id"]
        await client.post(f"/v2/sessions/{session_id}/observe", json={"strings": ["a"]})
        store: Any = service.sessions
        while hasattr(store, "inner"):  # the breaker-guarded wrapper(s)
            store = store.inner
        identity = service._identities.get(session_id)
        assert identity is not None
        node = service.nodes.get("node-resend")
        observation = Observation(strings=("b",))
        change = fast_change(node, observation, service.settings.genes, identity)
        assert change is not None
        keys = store._space.session(session_id)
        script_keys = [keys.record, keys.figures, keys.log, keys.lock, keys.info, keys.stm_events]
        args = change.script_args(
            session_id, int(time.time() * 1000), service._observation_limits, "t1"
        )
        first = await store._append(keys=script_keys, args=args)
        resent = await store._append(keys=script_keys, args=args)
        stm = (await client.get(f"/v2/sessions/{session_id}/stm")).json()["stm"]
    assert first == resent == [1, 2, 2]
    assert stm == [["a"], ["b"]]
