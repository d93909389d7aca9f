"""Redis memory per session and session-store latency (issue 4, Performance).

Starts its own redis-server on a free loopback port (or uses ``--url``), creates
``--sessions`` live sessions through ``RedisSessionStore`` and prints the growth of Redis's
``used_memory`` divided by the session count, for a fresh session (empty STM) and for one
holding ``--stm-events`` events, plain and encrypted. Then, with those sessions live, it
times single-client store operations: create, get, and a locked update (lock, get, save,
release — what one observe costs the store). A script, not a test.

    .venv/bin/python benchmarks/redis_session_memory.py
    .venv/bin/python benchmarks/redis_session_memory.py --sessions 10000 --stm-events 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kato.config import RedisSettings, SessionSettings  # noqa: E402
from kato.sessions.crypto import SessionCipher  # noqa: E402
from kato.sessions.models import Session  # noqa: E402
from kato.sessions.redis_store import RedisSessionStore  # noqa: E402
from tests.servers import RedisServer  # noqa: E402


def make_session(index: int, stm_events: int) -> Session:
    session = Session.new(f"node-{index % 20}", 3600, metadata={"client": "bench"})
    session.state.stm = [[f"sym{(index + n) % 997}", "VCTR|0f3a"] for n in range(stm_events)]
    session.state.time = stm_events
    return session


async def used_memory(raw: aioredis.Redis) -> int:
    info = await raw.info("memory")
    return int(info["used_memory"])


async def memory_per_session(url: str, sessions: int, stm_events: int, encrypt: bool) -> float:
    keys = [SessionCipher.generate_key()] if encrypt else []
    store = RedisSessionStore.from_settings(
        RedisSettings(url=url), SessionSettings(encryption_keys=keys)
    )
    raw = aioredis.Redis.from_url(url)
    try:
        await raw.flushall()
        before = await used_memory(raw)
        batch = 200
        for start in range(0, sessions, batch):
            await asyncio.gather(
                *(store.create(make_session(i, stm_events)) for i in range(start, start + batch))
            )
        after = await used_memory(raw)
        assert await store.count() == sessions
        return (after - before) / sessions
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
        await store.close()


async def time_calls(count: int, call: Callable[[int], Awaitable[None]]) -> str:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        await call(n)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    return f"p50 {p50:.3f} ms  p99 {p99:.3f} ms"


async def latencies(url: str, sessions: int, stm_events: int) -> None:
    store = RedisSessionStore.from_settings(RedisSettings(url=url), SessionSettings())
    raw = aioredis.Redis.from_url(url)
    try:
        await raw.flushall()
        ids = []
        for i in range(sessions):
            session = make_session(i, stm_events)
            await store.create(session)
            ids.append(session.session_id)

        async def create(n: int) -> None:
            await store.create(make_session(n, stm_events))

        async def get(n: int) -> None:
            await store.get(ids[n % len(ids)])

        async def locked_update(n: int) -> None:
            session_id = ids[n % len(ids)]
            async with store.lock(session_id):
                session = await store.get(session_id)
                assert session is not None
                session.state.stm.append(["x"])
                await store.save(session)

        print(f"with {sessions} live sessions, one client:")
        print(f"  create                 {await time_calls(2000, create)}")
        print(f"  get                    {await time_calls(2000, get)}")
        print(f"  lock+get+save+release  {await time_calls(2000, locked_update)}")
    finally:
        await raw.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
        await store.close()


async def main(url: str, sessions: int, stm_events: int) -> None:
    print(f"Redis used_memory growth per session ({sessions} sessions):")
    for events in (0, stm_events):
        for encrypt in (False, True):
            per_session = await memory_per_session(url, sessions, events, encrypt)
            label = f"STM {events:>3} events, {'encrypted' if encrypt else 'plain    '}"
            print(f"  {label}: {per_session:8.0f} bytes")
    await latencies(url, sessions, stm_events=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing Redis (it is FLUSHALLed!)")
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--stm-events", type=int, default=50)
    args = parser.parse_args()
    if args.url:
        asyncio.run(main(args.url, args.sessions, args.stm_events))
    else:
        with RedisServer() as server:
            asyncio.run(main(server.url, args.sessions, args.stm_events))
