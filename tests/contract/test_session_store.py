"""SessionStore contract: one suite, run unchanged against every adapter (issue 4 req 8).

``memory`` is the in-process store; ``redis`` runs against a real redis-server started for
the test session (tests/conftest.py). A few backend-specific properties (encryption at rest,
lock take-over by another instance, Redis restarts) follow the shared suite.

"Another instance" of the memory store is the same object: a process-local store has no
second instance that could share its sessions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from kato.config import RedisSettings, ResilienceSettings, SessionSettings, Settings
from kato.resilience import Resilience
from kato.resilience.session_store import BreakerGuardedSessionStore
from kato.sessions.crypto import SessionCipher, SessionDecryptError
from kato.sessions.errors import (
    SessionExistsError,
    SessionGoneError,
    SessionLockNotHeldError,
    SessionLockTimeoutError,
)
from kato.sessions.factory import open_session_store
from kato.sessions.memory_store import SHARED_FIELDS, MemorySessionStore, copy_session
from kato.sessions.models import Session
from kato.sessions.redis_store import RedisSessionStore, redis_client
from kato.sessions.store import SessionStore
from kato.sessions.tombstones import SessionTombstone
from tests.servers import RedisServer

OpenStore = Callable[..., SessionStore]


# ``redis-guarded``: the Redis store behind its circuit breaker, as ``create_app`` wires it.
@pytest.fixture(params=["memory", "redis", "redis-guarded", "redis-cluster"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_store(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[OpenStore]:
    """``open_store(**options)``: a store instance on the shared backend of this test
    (``redis-cluster``: 3 primaries and 3 replicas, tests/redis_cluster.py)."""
    opened: list[SessionStore] = []
    redis_url = {
        "memory": lambda: None,
        "redis": lambda: request.getfixturevalue("redis_url"),
        "redis-guarded": lambda: request.getfixturevalue("redis_url"),
        "redis-cluster": lambda: request.getfixturevalue("redis_cluster_url"),
    }[backend]()
    cluster = backend == "redis-cluster"
    # A cluster client's first command reads the cluster's command table (~0.4 s): clients
    # are made ready before the test, whose sessions may expire within that time.
    ready_clients = [await ready_cluster_client(redis_url) for _ in range(2)] if cluster else []

    def open_store(
        lock_timeout: float = 10.0,
        acquire_timeout: float = 30.0,
        keys: list[str] | None = None,
        retention: int = 3600,
    ) -> SessionStore:
        store: SessionStore
        if redis_url is None:
            if opened:
                return opened[0]
            store = MemorySessionStore(lock_timeout, acquire_timeout, retention)
        else:
            store = redis_store(
                redis_url,
                cluster=cluster,
                client=ready_clients.pop() if ready_clients else None,
                lock_timeout_seconds=lock_timeout,
                lock_acquire_timeout_seconds=acquire_timeout,
                encryption_keys=keys or [],
                expired_retention_seconds=retention,
            )
            if backend == "redis-guarded":
                store = BreakerGuardedSessionStore(store, Resilience(ResilienceSettings()))
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()
    for client in ready_clients:
        await client.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs


@pytest.fixture
def store(open_store: OpenStore) -> SessionStore:
    return open_store()


def redis_store(
    url: str, cluster: bool = False, client: aioredis.Redis | None = None, **session_settings: Any
) -> RedisSessionStore:
    """A Redis store wired exactly as the service wires it (pool, retries, timeouts)."""
    return RedisSessionStore.from_settings(
        RedisSettings(url=url, cluster=cluster), SessionSettings(**session_settings), client=client
    )


async def ready_cluster_client(url: str) -> aioredis.Redis:
    client = redis_client(RedisSettings(url=url, cluster=True))
    await client.ping()
    return client


def new_session(node_id: str = "node-a", ttl_seconds: int = 3600, **changes: Any) -> Session:
    session = Session.new(node_id, ttl_seconds, metadata={"purpose": "contract"})
    for name, value in changes.items():
        setattr(session, name, value)
    return session


async def update(store: SessionStore, session_id: str, change: Callable[[Session], None]) -> None:
    async with store.lock(session_id):
        session = await store.get(session_id)
        assert session is not None
        change(session)
        await store.save(session)


# -- records ----------------------------------------------------------------------------


async def test_created_session_reads_back_equal(store: SessionStore) -> None:
    session = new_session(owner="alice")
    session.state.stm = [["a", "b"], ["c"]]
    session.state.emotives = [{"joy": 0.5}]
    session.state.time = 2
    session.config = {"recall_threshold": 0.3}
    await store.create(session)

    loaded = await store.get(session.session_id)

    assert loaded is not None
    assert loaded.to_dict() == session.to_dict()


async def test_get_returns_an_independent_copy(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    session.state.stm.append(["changed-after-create"])

    first = await store.get(session.session_id)
    assert first is not None
    first.state.stm.append(["changed-without-save"])
    first.metadata = {"purpose": "changed"}  # replaced, never changed in place (SHARED_FIELDS)

    second = await store.get(session.session_id)
    assert second is not None
    assert second.state.stm == []
    assert second.metadata == {"purpose": "contract"}


async def test_reader_outside_the_lock_never_sees_half_applied_state(
    store: SessionStore,
) -> None:
    session = new_session()
    await store.create(session)
    observed: list[tuple[int, int]] = []
    halfway = asyncio.Event()

    async def writer() -> None:
        async with store.lock(session.session_id):
            own = await store.get(session.session_id)
            assert own is not None
            own.state.stm.append(["x"])
            halfway.set()
            await asyncio.sleep(0.01)
            own.state.time += 1
            await store.save(own)

    async def reader() -> None:
        await halfway.wait()
        seen = await store.get(session.session_id)
        assert seen is not None
        observed.append((len(seen.state.stm), seen.state.time))

    await asyncio.gather(writer(), reader())
    final = await store.get(session.session_id)
    assert final is not None
    assert observed == [(0, 0)]
    assert (len(final.state.stm), final.state.time) == (1, 1)


async def test_unknown_session_is_none(store: SessionStore) -> None:
    assert await store.get("session-unknown") is None
    assert await store.delete("session-unknown") is False


async def test_create_refuses_an_existing_id(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    with pytest.raises(SessionExistsError):
        await store.create(new_session(session_id=session.session_id))


async def test_create_reuses_the_id_of_an_expired_session(store: SessionStore) -> None:
    expired = new_session(expires_at=time.time() - 1)
    await store.create(expired)
    fresh = new_session(session_id=expired.session_id, node_id="node-b")
    await store.create(fresh)

    loaded = await store.get(fresh.session_id)
    assert loaded is not None and loaded.node_id == "node-b"
    assert await store.count() == 1


async def test_save_under_the_lock_persists(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)

    def observe(s: Session) -> None:
        s.state.stm.append(["hello"])
        s.state.time += 1

    await update(store, session.session_id, observe)

    loaded = await store.get(session.session_id)
    assert loaded is not None
    assert loaded.state.stm == [["hello"]] and loaded.state.time == 1


async def test_save_without_the_lock_is_refused(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    session.state.time = 99
    with pytest.raises(SessionLockNotHeldError):
        await store.save(session)
    loaded = await store.get(session.session_id)
    assert loaded is not None and loaded.state.time == 0


async def test_delete_removes_and_a_late_save_cannot_resurrect(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)

    async with store.lock(session.session_id):
        held = await store.get(session.session_id)
        assert held is not None
        assert await store.delete(session.session_id) is True
        with pytest.raises(SessionGoneError):
            await store.save(held)

    assert await store.get(session.session_id) is None
    assert await store.delete(session.session_id) is False
    assert await store.count() == 0


# -- expiry -----------------------------------------------------------------------------


async def test_session_expires_at_its_ttl(store: SessionStore) -> None:
    session = new_session(expires_at=time.time() + 0.3)
    await store.create(session)
    assert await store.get(session.session_id) is not None

    await asyncio.sleep(0.35)

    assert await store.get(session.session_id) is None
    assert await store.count() == 0


async def test_saving_a_past_expiry_expires_the_session(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)

    def expire(s: Session) -> None:
        s.expires_at = time.time() - 1

    await update(store, session.session_id, expire)

    assert await store.get(session.session_id) is None


async def test_extend_keeps_the_session_alive(store: SessionStore) -> None:
    session = new_session(expires_at=time.time() + 0.3)
    await store.create(session)

    def extend(s: Session) -> None:
        s.expires_at = time.time() + 60

    await update(store, session.session_id, extend)
    await asyncio.sleep(0.35)

    loaded = await store.get(session.session_id)
    assert loaded is not None
    assert loaded.expires_at > time.time() + 50
    assert await store.count() == 1
    assert await store.cleanup_expired() == 0


async def test_count_and_cleanup_distinguish_live_from_expired(store: SessionStore) -> None:
    for _ in range(5):
        await store.create(new_session())
    for _ in range(3):
        await store.create(new_session(expires_at=time.time() + 0.2))
    assert await store.count() == 8

    await asyncio.sleep(0.25)

    assert await store.cleanup_expired() == 3
    assert await store.count() == 5
    assert await store.cleanup_expired() == 0


# -- tombstones of expired sessions ------------------------------------------------------


async def test_an_expired_session_leaves_a_tombstone_for_the_retention_window(
    open_store: OpenStore,
) -> None:
    store = open_store(retention=1)
    session = new_session("node-t", expires_at=time.time() + 0.3, owner="alice")
    await store.create(session)
    assert await store.expired(session.session_id) is None  # live

    await asyncio.sleep(0.35)

    assert await store.get(session.session_id) is None
    tombstone = await store.expired(session.session_id)
    assert tombstone == SessionTombstone(session.session_id, "node-t", "alice")
    await asyncio.sleep(max(0.0, session.expires_at + 1.05 - time.time()))
    assert await store.expired(session.session_id) is None


async def test_cleanup_leaves_the_tombstone(store: SessionStore) -> None:
    session = new_session(expires_at=time.time() + 0.2)
    await store.create(session)
    await asyncio.sleep(0.25)

    assert await store.cleanup_expired() == 1
    assert await store.expired(session.session_id) == SessionTombstone.of(session)


async def test_a_deleted_session_leaves_no_tombstone(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    assert await store.delete(session.session_id)
    assert await store.expired(session.session_id) is None
    assert await store.expired("session-never-existed") is None


async def test_a_new_session_under_an_expired_id_hides_and_then_drops_the_tombstone(
    store: SessionStore,
) -> None:
    expired = new_session(expires_at=time.time() + 0.2)
    await store.create(expired)
    await asyncio.sleep(0.25)
    assert await store.get(expired.session_id) is None
    assert await store.expired(expired.session_id) is not None

    fresh = new_session(session_id=expired.session_id)
    await store.create(fresh)
    assert await store.expired(fresh.session_id) is None  # live again
    assert await store.delete(fresh.session_id)
    assert await store.expired(fresh.session_id) is None  # deleted, not expired


async def test_a_save_moves_the_tombstone_with_the_expiry(open_store: OpenStore) -> None:
    store = open_store(retention=1)
    session = new_session()
    await store.create(session)

    def expire_soon(s: Session) -> None:
        s.expires_at = time.time() + 0.3

    await update(store, session.session_id, expire_soon)
    await asyncio.sleep(0.35)
    assert await store.expired(session.session_id) is not None  # not an hour after the create
    await asyncio.sleep(1.0)
    assert await store.expired(session.session_id) is None


async def test_retention_zero_keeps_no_tombstone(open_store: OpenStore) -> None:
    store = open_store(retention=0)
    session = new_session(expires_at=time.time() + 0.2)
    await store.create(session)
    await asyncio.sleep(0.25)

    assert await store.get(session.session_id) is None
    assert await store.expired(session.session_id) is None


async def test_stats(store: SessionStore) -> None:
    a1 = new_session("node-a")
    a1.state.stm = [["x"], ["y"], ["z"]]
    a2 = new_session("node-a")
    a2.state.stm = [["x"]]
    b1 = new_session("node-b")
    short = new_session("node-c", expires_at=time.time() + 0.2)
    short.state.stm = [["gone"]] * 10
    for session in (a1, a2, b1, short):
        await store.create(session)
    await asyncio.sleep(0.25)

    stats = await store.stats()

    assert stats["backend"] == store.backend
    assert stats["total_sessions"] == 4
    assert stats["active_sessions"] == 3
    assert stats["expired_sessions"] == 1
    assert stats["nodes_with_sessions"] == 2
    assert stats["total_stm_events"] == 4
    assert stats["average_stm_size"] == pytest.approx(4 / 3)

    def grow(s: Session) -> None:
        s.state.stm.append(["w"])

    await update(store, b1.session_id, grow)
    await store.delete(a2.session_id)
    stats = await store.stats()
    assert stats["active_sessions"] == 2
    assert stats["total_stm_events"] == 4
    assert stats["nodes_with_sessions"] == 2


# -- locking ----------------------------------------------------------------------------


async def increment_many(stores: list[SessionStore], session_id: str, times: int) -> None:
    async def increment(store: SessionStore) -> None:
        async with store.lock(session_id):
            session = await store.get(session_id)
            assert session is not None
            await asyncio.sleep(0)  # let every other task run between read and write
            session.state.time += 1
            session.state.stm.append([f"e{session.state.time}"])
            await store.save(session)

    await asyncio.gather(*(increment(stores[i % len(stores)]) for i in range(times)))


async def test_lock_serialises_concurrent_updates(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)

    await increment_many([store], session.session_id, 200)

    loaded = await store.get(session.session_id)
    assert loaded is not None
    assert loaded.state.time == 200
    assert loaded.state.stm == [[f"e{n}"] for n in range(1, 201)]


async def test_lock_holds_across_two_store_instances(open_store: OpenStore) -> None:
    first, second = open_store(), open_store()
    session = new_session()
    await first.create(session)

    await increment_many([first, second], session.session_id, 300)

    loaded = await second.get(session.session_id)
    assert loaded is not None
    assert loaded.state.time == 300
    assert len(loaded.state.stm) == 300


async def test_sessions_are_isolated(store: SessionStore) -> None:
    one, other = new_session("node-a"), new_session("node-a")
    await store.create(one)
    await store.create(other)

    await asyncio.gather(
        increment_many([store], one.session_id, 30),
        increment_many([store], other.session_id, 7),
    )

    loaded_one = await store.get(one.session_id)
    loaded_other = await store.get(other.session_id)
    assert loaded_one is not None and loaded_other is not None
    assert loaded_one.state.time == 30 and loaded_other.state.time == 7


async def test_waiting_for_a_busy_session_times_out(open_store: OpenStore) -> None:
    holder_store = open_store(acquire_timeout=0.2)
    waiter_store = open_store(acquire_timeout=0.2)
    session = new_session()
    await holder_store.create(session)
    held, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with holder_store.lock(session.session_id):
            held.set()
            await done.wait()

    task = asyncio.create_task(holder())
    await held.wait()
    with pytest.raises(SessionLockTimeoutError):
        async with waiter_store.lock(session.session_id):
            pass
    done.set()
    await task
    async with waiter_store.lock(session.session_id):
        pass  # free again once the holder left


async def test_holder_whose_lock_expired_cannot_save(open_store: OpenStore) -> None:
    store = open_store(lock_timeout=0.2)
    session = new_session()
    await store.create(session)

    async with store.lock(session.session_id):
        stale = await store.get(session.session_id)
        assert stale is not None
        await asyncio.sleep(0.3)
        stale.state.time = 999
        with pytest.raises(SessionLockNotHeldError):
            await store.save(stale)

    loaded = await store.get(session.session_id)
    assert loaded is not None and loaded.state.time == 0


async def test_cancelled_waiters_leave_the_lock_usable(open_store: OpenStore) -> None:
    store = open_store(acquire_timeout=5)
    session = new_session()
    await store.create(session)
    held, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with store.lock(session.session_id):
            held.set()
            await done.wait()

    async def waiter() -> None:
        async with store.lock(session.session_id):
            raise AssertionError("a cancelled waiter must never get the lock")

    holding_task = asyncio.create_task(holder())
    await held.wait()
    waiters = [asyncio.create_task(waiter()) for _ in range(5)]
    await asyncio.sleep(0.05)
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    done.set()
    await holding_task

    await increment_many([open_store(acquire_timeout=0.5)], session.session_id, 3)
    loaded = await store.get(session.session_id)
    assert loaded is not None and loaded.state.time == 3


async def test_lock_raises_through_and_releases(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    with pytest.raises(RuntimeError):
        async with store.lock(session.session_id):
            raise RuntimeError("request failed")
    await update(store, session.session_id, lambda s: None)  # not left locked


# -- memory-only -------------------------------------------------------------------------


async def test_memory_lock_entries_and_heap_stay_bounded() -> None:
    store = MemorySessionStore()
    sessions = [new_session() for _ in range(10)]
    for session in sessions:
        await store.create(session)
    for round_ in range(500):
        for session in sessions:

            def extend(s: Session, by: int = round_) -> None:
                s.expires_at = time.time() + 3600 + by

            await update(store, session.session_id, extend)

    assert len(store._locks) == 0
    assert len(store._expiry_heap) <= 2 * len(sessions) + 1024
    assert await store.count() == 10


async def test_memory_tombstones_are_bounded_oldest_dropped_first() -> None:
    store = MemorySessionStore(expired_retention_max_sessions=3)
    sessions = [new_session(expires_at=time.time() + 0.2) for _ in range(5)]
    for session in sessions:
        await store.create(session)
    await asyncio.sleep(0.25)
    for session in sessions:  # found expired in this order
        assert await store.get(session.session_id) is None

    kept = [await store.expired(session.session_id) is not None for session in sessions]
    assert kept == [False, False, True, True, True]


def test_memory_copy_shares_only_replaced_fields() -> None:
    """Guards ``copy_session`` against a mutable field added to Session or SessionState: only
    the fields every writer replaces (``SHARED_FIELDS``) may be shared with the original."""
    session = new_session()
    session.state.stm = [["a"]]
    session.state.emotives = [{"e": 1.0}]
    session.state.last_symbols = ["a"]
    session.state.percept_data = {"p": [1]}
    session.config = {"k": [1]}
    copied = copy_session(session)
    for owner, twin in ((session, copied), (session.state, copied.state)):
        for spec in dataclasses.fields(owner):
            value = getattr(owner, spec.name)
            if spec.name in SHARED_FIELDS or isinstance(value, str | int | float | bool | None):
                continue
            assert getattr(twin, spec.name) is not value, spec.name
    assert copied.to_dict() == session.to_dict()
    # Events are shared (never changed in place); growing the copy's lists leaves the original.
    copied.state.stm.append(["b"])
    copied.state.emotives.append({"e": 2.0})
    # Shared fields are replaced by writers: replacing them on the copy leaves the original.
    copied.state.percept_data = {"p": [2]}
    copied.config = {}
    copied.metadata = {"changed": True}
    assert session.state.stm == [["a"]]
    assert session.state.emotives == [{"e": 1.0}]
    assert session.state.percept_data == {"p": [1]}
    assert session.config == {"k": [1]}
    assert session.metadata == new_session().metadata


# -- redis-only: lock take-over and dead holders -------------------------------------------


async def test_expired_lock_is_taken_over_and_the_stale_holder_is_fenced(
    redis_url: str,
) -> None:
    def open_instance() -> RedisSessionStore:
        return redis_store(redis_url, lock_timeout_seconds=0.2)

    slow, fast = open_instance(), open_instance()
    session = new_session()
    await slow.create(session)
    try:
        async with slow.lock(session.session_id):
            stale = await slow.get(session.session_id)
            assert stale is not None
            await asyncio.sleep(0.3)  # slow's lock expires ...

            def take_over(s: Session) -> None:
                s.state.time = 1

            await update(fast, session.session_id, take_over)  # ... and fast takes over
            stale.state.time = 999
            with pytest.raises(SessionLockNotHeldError):
                await slow.save(stale)

        loaded = await fast.get(session.session_id)
        assert loaded is not None and loaded.state.time == 1
    finally:
        await slow.close()
        await fast.close()


_DYING_HOLDER = """
import asyncio, os, sys
from kato.config import RedisSettings, SessionSettings
from kato.sessions.redis_store import RedisSessionStore, redis_client

async def main():
    store = RedisSessionStore.from_settings(
        RedisSettings(url=sys.argv[1]),
        SessionSettings(lock_timeout_seconds=float(sys.argv[3])),
    )
    async with store.lock(sys.argv[2]):
        os._exit(0)  # dies holding the lock: no release, no cleanup

asyncio.run(main())
"""


def die_holding_the_lock(redis_url: str, session_id: str, lock_timeout: float) -> None:
    command = [sys.executable, "-c", _DYING_HOLDER, redis_url, session_id, str(lock_timeout)]
    subprocess.run(command, check=True)


@pytest.mark.slow
async def test_dead_holder_blocks_only_until_the_lock_expires(redis_url: str) -> None:
    store = redis_store(redis_url, lock_acquire_timeout_seconds=5)
    session = new_session()
    await store.create(session)
    die_holding_the_lock(redis_url, session.session_id, lock_timeout=1.0)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert await raw.pttl(f"kato:session-lock:{session.session_id}") > 0  # still held

        def observe(s: Session) -> None:
            s.state.time += 1

        await update(store, session.session_id, observe)

        loaded = await store.get(session.session_id)
        assert loaded is not None and loaded.state.time == 1
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


@pytest.mark.slow
async def test_a_dead_holder_blocks_for_the_short_lease_not_the_lock_timeout(
    redis_url: str,
) -> None:
    """The lock's lease in Redis is short and renewed while its holder works: a holder that
    dies with the default ``lock_timeout_seconds`` (10 s) blocks the session ~2 s."""
    store = redis_store(redis_url, lock_acquire_timeout_seconds=5)
    session = new_session()
    await store.create(session)
    try:
        die_holding_the_lock(redis_url, session.session_id, lock_timeout=10.0)
        died = time.monotonic()
        await update(store, session.session_id, lambda s: None)
        blocked = time.monotonic() - died
        print(f"\na dead holder blocked its session {blocked:.3f} s (lock_timeout 10 s)")
        assert blocked <= 3.0
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_live_holder_keeps_its_lock_past_the_short_lease(redis_url: str) -> None:
    """Renewal: a holder working longer than the short lease (but within lock_timeout) is
    neither taken over nor fenced."""
    holder = redis_store(redis_url, lock_timeout_seconds=10.0)
    waiter = redis_store(redis_url, lock_acquire_timeout_seconds=0.5)
    session = new_session()
    await holder.create(session)
    try:
        async with holder.lock(session.session_id):
            loaded = await holder.get(session.session_id)
            assert loaded is not None
            await asyncio.sleep(2.5)  # beyond the 2 s lease
            with pytest.raises(SessionLockTimeoutError):
                async with waiter.lock(session.session_id):
                    pass
            loaded.state.time = 7
            await holder.save(loaded)
        stored = await waiter.get(session.session_id)
        assert stored is not None and stored.state.time == 7
    finally:
        await holder.close()
        await waiter.close()


@pytest.mark.slow
async def test_a_lock_command_run_after_its_caller_gave_up_takes_no_lock() -> None:
    """A paused Redis runs the acquisitions buffered in its sockets when it resumes, after
    their callers gave up: they must take no lock (issue 9 req 3; they used to hold the
    session for the whole lease)."""
    with RedisServer() as server:

        def open_instance() -> RedisSessionStore:
            return RedisSessionStore.from_settings(
                RedisSettings(url=server.url, socket_timeout=0.3),
                SessionSettings(lock_acquire_timeout_seconds=3.0),
            )

        gave_up, other = open_instance(), open_instance()
        session = new_session()
        try:
            await gave_up.create(session)
            await update(gave_up, session.session_id, lambda s: None)  # scripts loaded
            server.pause()
            try:
                with pytest.raises(redis_errors.TimeoutError):
                    async with gave_up.lock(session.session_id):
                        pass
                await asyncio.sleep(0.5)  # Redis resumes well after the caller gave up
            finally:
                server.resume()
            resumed = time.monotonic()
            await update(other, session.session_id, lambda s: None)
            waited = time.monotonic() - resumed
            print(f"\nafter the pause the session was locked again in {waited:.3f} s")
            assert waited <= 0.5
        finally:
            await gave_up.close()
            await other.close()


# -- redis-only: key layout, encryption at rest ---------------------------------------------


async def test_redis_tombstone_is_one_small_key_expiring_after_the_retention(
    redis_url: str,
) -> None:
    store = redis_store(redis_url, expired_retention_seconds=600)
    raw = aioredis.Redis.from_url(redis_url)
    session = new_session(owner="alice")
    session.expires_at = time.time() + 120
    key = f"kato:session-end:{session.session_id}"
    try:
        await store.create(session)
        expected = int(session.expires_at * 1000) + 600_000
        assert await raw.pexpiretime(key) == expected  # type: ignore[attr-defined]
        assert len(await raw.get(key)) < 100

        def extend(s: Session) -> None:
            s.expires_at += 60

        await update(store, session.session_id, extend)
        assert await raw.pexpiretime(key) == expected + 60_000  # type: ignore[attr-defined]
        await store.delete(session.session_id)
        assert await raw.exists(key) == 0
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


async def test_redis_tombstones_are_encrypted_with_the_sessions(redis_url: str) -> None:
    store = redis_store(redis_url, encryption_keys=[SessionCipher.generate_key()])
    raw = aioredis.Redis.from_url(redis_url)
    session = new_session("node-secret", expires_at=time.time() + 0.2, owner="alice")
    try:
        await store.create(session)
        assert b"alice" not in await raw.get(f"kato:session-end:{session.session_id}")
        await asyncio.sleep(0.25)
        assert await store.expired(session.session_id) == SessionTombstone.of(session)
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


async def test_redis_layout_uses_ttl_and_the_expiry_index(redis_url: str) -> None:
    store = redis_store(redis_url)
    raw = aioredis.Redis.from_url(redis_url)
    session = new_session(ttl_seconds=120)
    session.expires_at = time.time() + 120
    try:
        await store.create(session)
        ttl_ms = await raw.pttl(f"kato:session:{session.session_id}")
        score = await raw.zscore("kato:sessions:expiry", session.session_id)
        assert 110_000 < ttl_ms <= 120_000
        assert score == int(session.expires_at * 1000)
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


async def test_redis_expired_by_ttl_leaves_consistent_statistics(redis_url: str) -> None:
    store = redis_store(redis_url)
    short = new_session("node-z", expires_at=time.time() + 0.2)
    short.state.stm = [["a"]] * 4
    try:
        await store.create(short)
        await asyncio.sleep(0.25)
        assert await store.get(short.session_id) is None  # Redis already dropped the record
        stats = await store.stats()
        assert stats["active_sessions"] == 0
        assert stats["nodes_with_sessions"] == 0
        assert stats["total_stm_events"] == 0
    finally:
        await store.close()


async def test_encrypted_sessions_are_not_plaintext_in_redis(redis_url: str) -> None:
    key = SessionCipher.generate_key()
    store = redis_store(redis_url, encryption_keys=[key])
    raw = aioredis.Redis.from_url(redis_url)
    session = new_session("secret-node")
    session.state.stm = [["very-secret-symbol"]]
    try:
        await store.create(session)
        stored = await raw.get(f"kato:session:{session.session_id}")
        assert stored is not None
        assert b"very-secret-symbol" not in stored and b"contract" not in stored
        loaded = await store.get(session.session_id)
        assert loaded is not None and loaded.state.stm == [["very-secret-symbol"]]
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


async def test_key_rotation(redis_url: str) -> None:
    old_key, new_key = SessionCipher.generate_key(), SessionCipher.generate_key()

    def open_with(*keys: str) -> RedisSessionStore:
        return redis_store(redis_url, encryption_keys=list(keys))

    before, during, after = open_with(old_key), open_with(new_key, old_key), open_with(new_key)
    written_before = [new_session() for _ in range(3)]
    try:
        for session in written_before:
            await before.create(session)

        # Step 1: new key first, old key kept: old records stay readable.
        assert await during.get(written_before[0].session_id) is not None
        # Records written or saved now use the new key.
        await update(during, written_before[0].session_id, lambda s: None)
        assert await after.get(written_before[0].session_id) is not None
        with pytest.raises(SessionDecryptError):
            await after.get(written_before[1].session_id)

        # Step 2: rewrite what is left under the new key; the old key can then go.
        assert await during.rotate_encryption() == 3
        for session in written_before:
            loaded = await after.get(session.session_id)
            assert loaded is not None and loaded.metadata == {"purpose": "contract"}
    finally:
        for store in (before, during, after):
            await store.close()


def test_invalid_encryption_key_is_a_clear_start_up_error() -> None:
    with pytest.raises(ValueError, match=r"encryption_keys\[1\] is not a Fernet key"):
        SessionCipher(["not-a-key"])


# -- redis-only: the server restarting --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("appendonly", [True, False], ids=["aof-always", "no-persistence"])
async def test_sessions_after_a_redis_crash(appendonly: bool) -> None:
    with RedisServer(appendonly=appendonly, appendfsync="always") as server:
        store = redis_store(server.url)
        session = new_session()
        try:
            await store.create(session)
            server.kill()
            server.start()
            loaded = await store.get(session.session_id)  # the client reconnects by itself
            if appendonly:
                assert loaded is not None and loaded.session_id == session.session_id
                assert await store.count() == 1
            else:
                assert loaded is None
                assert await store.count() == 0
        finally:
            await store.close()


@pytest.mark.slow
async def test_sessions_survive_a_graceful_redis_restart_with_aof_everysec() -> None:
    with RedisServer(appendonly=True, appendfsync="everysec") as server:
        store = redis_store(server.url)
        session = new_session()
        try:
            await store.create(session)
            server.restart()  # SIGTERM: Redis writes its AOF before exiting
            assert await store.get(session.session_id) is not None
            await update(store, session.session_id, lambda s: None)
        finally:
            await store.close()


@pytest.mark.slow
async def test_a_paused_redis_times_out_then_recovers() -> None:
    with RedisServer() as server:
        store = RedisSessionStore.from_settings(
            RedisSettings(url=server.url, socket_timeout=0.3), SessionSettings()
        )
        session = new_session()
        try:
            await store.create(session)
            server.pause()
            try:
                with pytest.raises(redis_errors.TimeoutError):
                    await store.get(session.session_id)
            finally:
                server.resume()
            assert await store.get(session.session_id) is not None
        finally:
            await store.close()


# -- selection --------------------------------------------------------------------------------


def test_factory_selects_the_backend_from_configuration(redis_url: str) -> None:
    assert isinstance(open_session_store(Settings()), MemorySessionStore)
    with_url = Settings.model_validate({"database": {"redis": {"url": redis_url}}})
    assert isinstance(open_session_store(with_url), RedisSessionStore)
    forced_memory = with_url.model_copy(
        update={"session": with_url.session.model_copy(update={"store_type": "memory"})}
    )
    assert isinstance(open_session_store(forced_memory), MemorySessionStore)


def test_factory_refuses_redis_without_url_or_tls_without_rediss() -> None:
    with pytest.raises(ValueError, match="no Redis URL"):
        open_session_store(Settings.model_validate({"session": {"store_type": "redis"}}))
    tls_on_plain = Settings.model_validate(
        {"database": {"redis": {"url": "redis://127.0.0.1:1/0", "tls_ca_file": "/ca.pem"}}}
    )
    with pytest.raises(ValueError, match="rediss://"):
        open_session_store(tls_on_plain)


async def test_first_get_under_the_lock_is_the_record_read_with_the_lock(redis_url: str) -> None:
    """The lock script returns the record; the holder's first ``get`` uses it (one round trip
    less per update), later ones read Redis again, and nothing is kept after the lock."""
    store = redis_store(redis_url)
    session = new_session()
    await store.create(session)
    stored_before = await store.get(session.session_id)
    assert stored_before is not None
    raw = aioredis.Redis.from_url(redis_url)
    record_key = f"kato:session:{session.session_id}"
    changed = new_session(session_id=session.session_id)
    changed.state.time = 42
    try:
        async with store.lock(session.session_id):
            # A write that bypasses the lock (only a test does this) after the acquisition:
            await raw.set(record_key, changed.to_json(), keepttl=True)
            first = await store.get(session.session_id)
            second = await store.get(session.session_id)
        assert first is not None and first.to_dict() == stored_before.to_dict()
        assert second is not None and second.state.time == 42
        async with store.lock(session.session_id):
            pass  # a holder that never reads leaves nothing behind either
        assert store._prefetched == {}
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
        await store.close()


# -- remembered writes and keyed creates (issue 9 req 4) --------------------------------------


async def test_remembered_writes_are_saved_with_the_session(store: SessionStore) -> None:
    """An observe and what it remembers are one record write, in every store."""
    session = new_session()
    await store.create(session)
    entry = {"op": "observe", "fp": "f", "at": 1.0, "answer": {"time": 1}}

    def observe_and_remember(stored: Session) -> None:
        stored.state.stm = [["a"]]
        stored.applied_writes = {"observe:u1": entry}

    await update(store, session.session_id, observe_and_remember)
    loaded = await store.get(session.session_id)
    assert loaded is not None
    assert loaded.state.stm == [["a"]] and loaded.applied_writes == {"observe:u1": entry}


async def test_create_once_creates_one_session_per_request_key(store: SessionStore) -> None:
    first, second = new_session(), new_session()
    assert await store.create_once(first, "key-1", "record-1", ttl_seconds=60) is None
    assert await store.create_once(second, "key-1", "record-2", ttl_seconds=60) == "record-1"
    assert await store.get(first.session_id) is not None
    assert await store.get(second.session_id) is None  # the repeat created nothing
    assert await store.count() == 1
    assert await store.create_once(second, "key-2", "record-2", ttl_seconds=60) is None


async def test_create_once_forgets_a_key_after_its_lifetime(store: SessionStore) -> None:
    assert await store.create_once(new_session(), "short", "old", ttl_seconds=0.05) is None
    await asyncio.sleep(0.15)
    assert await store.create_once(new_session(), "short", "new", ttl_seconds=60) is None
    assert await store.count() == 2


async def test_create_once_refuses_an_existing_session_id(store: SessionStore) -> None:
    session = new_session()
    await store.create(session)
    with pytest.raises(SessionExistsError):
        await store.create_once(session, "key", "record", ttl_seconds=60)
