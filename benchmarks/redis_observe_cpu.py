"""CPU per observe on Redis sessions: the one-round-trip path against the locked path
(issue 10 req 3), in one process, the same requests, alternating; the one-round-trip path
both as a server sends it (the store's own channel, kato/sessions/redis_channel.py) and
through redis-py.

The app runs in-process behind httpx's ASGI transport (no HTTP server, no wrk), on a
``redis-server`` started on a free loopback port; the figure is this process's CPU time
(``time.process_time``) per observe, so it holds the app's whole request path plus the
in-process client — the same for both paths, so the difference between them is the
session-store work, and the ratio understates it. Redis's own CPU per observe (from
``INFO cpu``) is printed beside it. A script, not a test.

    .venv/bin/python -m benchmarks.redis_observe_cpu --observes 2000 2>/dev/null | grep -v '^{'
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import redis

from kato.api.app import create_app
from kato.config import Settings
from kato.service.kato_service import KatoService
from tests.servers import RedisServer


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


PATHS = ("locked", "fast, redis-py", "fast")


async def run(url: str, path: str, observes: int, data_dir: Path) -> tuple[float, float]:
    """``path``: the locked path, the one-step script sent by redis-py, or (what a server
    does) the one-step script on the store's own channel (kato/sessions/redis_channel.py)."""
    settings = Settings.model_validate(
        {
            "service": {"data_dir": str(data_dir)},
            "database": {"redis": {"url": url}, "qdrant": {"local_store": "sqlite"}},
        }
    )
    app = create_app(settings)
    raw = redis.Redis.from_url(url)
    async with app.router.lifespan_context(app):
        service: KatoService = app.state.service
        if path == "locked":
            service._appender = None
        elif path == "fast, redis-py":
            store = service.sessions
            while hasattr(store, "inner"):  # the breaker-guarded wrapper
                store = store.inner
            store._append_channel = None  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            sessions = []
            for index in range(64):
                created = await client.post("/v2/sessions", json={"node_id": f"n{index % 8}"})
                sessions.append(f"/v2/sessions/{created.json()['session_id']}/observe")
            for path in sessions:  # the first observe of each session takes the lock
                await client.post(path, json={"strings": ["warm"]})
            cpu, redis_cpu = time.process_time(), redis_cpu_seconds(raw)
            for index in range(observes):
                body = {"strings": [f"s{index % 997}", f"t{index % 13}"]}
                response = await client.post(sessions[index % len(sessions)], json=body)
                assert response.status_code == 200, response.text
            used = time.process_time() - cpu
            redis_used = redis_cpu_seconds(raw) - redis_cpu
    raw.close()
    return used / observes * 1000, redis_used / observes * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in PATHS}
    with RedisServer() as server, tempfile.TemporaryDirectory() as directory:
        for round_index in range(args.rounds):
            for index, name in enumerate(PATHS):
                data_dir = Path(directory) / f"{index}-{round_index}"
                figure = asyncio.run(run(server.url, name, args.observes, data_dir))
                figures[name].append(figure)
                print(f"{name:>14}: {figure[0]:.3f} ms CPU/observe, redis {figure[1]:.3f} ms")
    app_cpu = {name: statistics.median(f[0] for f in rows) for name, rows in figures.items()}
    redis_cpu = {name: statistics.median(f[1] for f in rows) for name, rows in figures.items()}
    print(f"medians of {args.rounds} rounds:")
    for name in PATHS:
        print(
            f"  {name:>14}: {app_cpu[name]:.3f} ms ({app_cpu[name] / app_cpu['locked']:.2f}x "
            f"the locked path); Redis CPU per observe {redis_cpu[name]:.3f} ms"
        )


if __name__ == "__main__":
    main()
