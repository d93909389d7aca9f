"""What remembering retried writes costs an observe (issue 9 req 4).

Drives ``KatoService.observe`` directly (no HTTP) on two sessions in turn, on the memory store and
on a redis-server it starts on a free loopback port: observes without a ``unique_id`` (nothing
remembered) against observes with the client's ``unique_id`` once the session's window is
full (``session.idempotency_window`` entries, 16 by default, all encoded into every save),
and a repeat of a remembered observe. Prints the median and p99 per observe and the session
record's size. A script, not a test.

    .venv/bin/python benchmarks/idempotency_overhead.py
    .venv/bin/python benchmarks/idempotency_overhead.py --observes 5000 --window 64
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kato.config import Settings  # noqa: E402
from kato.core.observation import Observation  # noqa: E402
from kato.service.kato_service import KatoService  # noqa: E402
from kato.sessions.factory import open_session_store  # noqa: E402
from kato.storage.factory import StorageBackends  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

EVENT = Observation(strings=("hello", "world"))


def settings(data_dir: str, redis_url: str | None, window: int | None) -> Settings:
    session: dict[str, object] = {"max_stm_size": 10}  # a steady STM: figures do not drift
    database: dict[str, object] = {"qdrant": {"local_store": "sqlite"}}
    if window is not None:
        session["idempotency_window"] = window
    if redis_url is not None:
        session["store_type"] = "redis"
        database["redis"] = {"url": redis_url}
    return Settings.model_validate(
        {"service": {"data_dir": data_dir}, "database": database, "session": session}
    )


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    return f"median {statistics.median(samples):.3f} ms, p99 {p99:.3f} ms"


async def elapsed_ms(operation: Awaitable[object]) -> float:
    started = time.perf_counter()
    await operation
    return (time.perf_counter() - started) * 1000


async def measure(label: str, config: Settings, observes: int) -> None:
    storage = StorageBackends(config)
    service = KatoService(config, open_session_store(config), storage.node_storage)
    try:
        plain_id = (await service.create_session("bench")).session_id
        named_id = (await service.create_session("bench")).session_id
        for n in range(config.session.idempotency_window):  # fill the window
            await service.observe(named_id, EVENT, f"fill-{n}", named_by_client=True)
        # Interleaved, so both kinds see the same load of this shared machine.
        plain: list[float] = []
        named: list[float] = []
        repeated: list[float] = []
        for n in range(observes):
            plain.append(await elapsed_ms(service.observe(plain_id, EVENT, f"gen-{n}")))
            unique_id = f"obs-{n:032d}"
            named.append(
                await elapsed_ms(service.observe(named_id, EVENT, unique_id, named_by_client=True))
            )
            repeated.append(
                await elapsed_ms(service.observe(named_id, EVENT, unique_id, named_by_client=True))
            )
        sessions = [await service.sessions.get(sid) for sid in (plain_id, named_id)]
        plain_session, named_session = sessions
        assert plain_session is not None and named_session is not None
        print(
            f"{label:7} observe without unique_id: {summary(plain)}"
            f" (record {len(plain_session.to_json())} B)\n"
            f"{label:7} observe with unique_id, window of {len(named_session.applied_writes)}"
            f" full: {summary(named)} (record {len(named_session.to_json())} B)\n"
            f"{label:7} repeat answered from the window: {summary(repeated)}"
        )
    finally:
        await service.close()
        storage.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observes", type=int, default=2000)
    parser.add_argument(
        "--window", type=int, help="session.idempotency_window (default: the setting's)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        await measure("memory", settings(data_dir, None, args.window), args.observes)
    with RedisServer() as server, tempfile.TemporaryDirectory() as data_dir:
        await measure("redis", settings(data_dir, server.url, args.window), args.observes)


if __name__ == "__main__":
    asyncio.run(main())
