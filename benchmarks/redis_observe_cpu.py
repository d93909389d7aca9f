"""CPU per observe on Redis sessions: the one-round-trip path against the locked path
(issue 10 req 3), in one process, the same requests, alternating.

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


async def run(url: str, fast: bool, observes: int, data_dir: Path) -> tuple[float, float]:
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
        if not fast:
            service._appender = None
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
    figures: dict[str, list[tuple[float, float]]] = {"fast": [], "locked": []}
    with RedisServer() as server, tempfile.TemporaryDirectory() as directory:
        for round_index in range(args.rounds):
            for name in ("locked", "fast"):
                data_dir = Path(directory) / f"{name}-{round_index}"
                figure = asyncio.run(run(server.url, name == "fast", args.observes, data_dir))
                figures[name].append(figure)
                print(f"{name:>6}: {figure[0]:.3f} ms CPU/observe, redis {figure[1]:.3f} ms")
    app_cpu = {name: statistics.median(f[0] for f in rows) for name, rows in figures.items()}
    redis_cpu = {name: statistics.median(f[1] for f in rows) for name, rows in figures.items()}
    print(
        f"medians of {args.rounds}: locked {app_cpu['locked']:.3f} ms, fast {app_cpu['fast']:.3f} "
        f"ms ({app_cpu['fast'] / app_cpu['locked']:.2f}x); Redis CPU per observe locked "
        f"{redis_cpu['locked']:.3f} ms, fast {redis_cpu['fast']:.3f} ms"
    )


if __name__ == "__main__":
    main()
