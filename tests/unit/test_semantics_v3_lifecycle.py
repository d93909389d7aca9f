"""§12.18 heartbeats: a long batch keeps its stored session alive (memory and Redis stores)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from kato.config import Settings
from kato.service.v3_lifecycle import heartbeat, read_should_slide, slide, slide_step
from kato.sessions.factory import open_session_store
from kato.sessions.models import Session
from kato.sessions.store import SessionStore


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    session: dict[str, object] = {"store_type": request.param}
    data: dict[str, object] = {"session": session}
    if request.param == "redis":
        data["database"] = {"redis": {"url": request.getfixturevalue("redis_url")}}
    sessions = open_session_store(Settings.model_validate(data))
    yield sessions
    await sessions.close()


async def long_batch(
    sessions: SessionStore, session: Session, beating: bool, seconds: float
) -> bool:
    """Hold the session's lock for ``seconds`` (a batch); is the stored session alive then?"""
    async with sessions.lock(session.session_id):
        current = await sessions.get(session.session_id)  # as the critical section loads it
        assert current is not None
        loaded = Session.from_dict(current.to_dict())
        beat = heartbeat(sessions, loaded, 0.2) if beating else contextlib.nullcontext()
        async with beat:
            await asyncio.sleep(seconds)
        return await sessions.get(session.session_id) is not None


async def test_a_heartbeat_keeps_the_stored_session_alive(store: SessionStore) -> None:
    with_beat = Session.new("n", ttl_seconds=1)
    await store.create(with_beat)
    assert await long_batch(store, with_beat, beating=True, seconds=1.6) is True
    kept = await store.get(with_beat.session_id)
    assert kept is not None and kept.state.stm == []  # the state as loaded, not a partial one
    without = Session.new("n", ttl_seconds=1)  # the control: the same batch, no heartbeat
    await store.create(without)
    assert await long_batch(store, without, beating=False, seconds=1.6) is False


def test_reads_slide_once_per_step() -> None:
    session = Session.new("n", ttl_seconds=600)  # step: 6 s (1 % of the TTL)
    assert slide_step(600) == 6.0 and slide_step(30) == 1.0
    now = session.created_at
    assert read_should_slide(session, now + 5.9) is False
    assert read_should_slide(session, now + 6.0) is True
    slide(session, now + 6.0)
    assert session.expires_at == now + 606.0
    assert read_should_slide(session, now + 7.0) is False
