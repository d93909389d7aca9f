"""What the KATO 3.x surface costs next to v2, in one process and one run (issue 12 req 7).

Rounds alternate: N observes on a v2 session through ``/v2/sessions/{id}/observe``, then N
on a 3.x session (``stm_mode`` CLEAR, ``session_auto_extend`` on: every write slides the
expiry) through ``/sessions/{id}/observe``; then M ``GET predictions`` on each surface over
the same node. Medians of the per-request time over the rounds; the ratio is 3.x / v2.
In-process ASGI transport (no sockets), embedded stores, a fresh temporary data directory.

    .venv/bin/python benchmarks/v3_surface_bench.py --rounds 7 --observes 400 --predictions 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from kato.api.app import create_app
from kato.config import Settings


async def timed(
    client: httpx.AsyncClient, method: str, path: str, count: int, **kw: object
) -> float:
    started = time.perf_counter()
    for _ in range(count):
        response = await client.request(method, path, **kw)  # type: ignore[arg-type]
        response.raise_for_status()
    return (time.perf_counter() - started) / count


async def main(rounds: int, observes: int, predictions: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="kato-v3-bench-"))
    settings = Settings.model_validate(
        {
            "service": {"data_dir": str(data)},
            "database": {"qdrant": {"local_store": "sqlite"}},
            "monitoring": {"log_level": "WARNING"},
            "security": {"audit_log_file": str(data / "audit.log")},
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            v2 = (await client.post("/v2/sessions", json={"node_id": "bench"})).json()["session_id"]
            v3 = (await client.post("/sessions", json={"node_id": "bench"})).json()["session_id"]
            # A small knowledge base: 200 patterns of three events.
            for i in range(200):
                body = {
                    "observations": [{"strings": [f"s{(i + k) % 50}"]} for k in range(3)],
                    "learn_at_end": True,
                }
                await client.post(f"/v2/sessions/{v2}/observe-sequence", json=body)
            figures: dict[str, list[float]] = {k: [] for k in ("obs2", "obs3", "pred2", "pred3")}
            for _ in range(rounds):
                for key, session, prefix in (
                    ("obs2", v2, "/v2/sessions"),
                    ("obs3", v3, "/sessions"),
                ):
                    await client.post(f"{prefix}/{session}/clear-stm")
                    figures[key].append(
                        await timed(
                            client,
                            "POST",
                            f"{prefix}/{session}/observe",
                            observes,
                            json={"strings": ["s1", "s2"]},
                        )
                    )
                for key, session, prefix in (
                    ("pred2", v2, "/v2/sessions"),
                    ("pred3", v3, "/sessions"),
                ):
                    await client.post(f"{prefix}/{session}/clear-stm")
                    for symbol in ("s1", "s2"):
                        await client.post(f"{prefix}/{session}/observe", json={"strings": [symbol]})
                    figures[key].append(
                        await timed(client, "GET", f"{prefix}/{session}/predictions", predictions)
                    )
    med = {key: statistics.median(values) * 1e6 for key, values in figures.items()}
    print(f"rounds={rounds} observes/round={observes} predictions/round={predictions}")
    print(f"{'request':<20}{'v2 us':>10}{'3.x us':>10}{'3.x / v2':>10}")
    for label, v2_key, v3_key in (
        ("observe", "obs2", "obs3"),
        ("GET predictions", "pred2", "pred3"),
    ):
        ratio = med[v3_key] / med[v2_key]
        print(f"{label:<20}{med[v2_key]:>10.1f}{med[v3_key]:>10.1f}{ratio:>10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--observes", type=int, default=400)
    parser.add_argument("--predictions", type=int, default=100)
    options = parser.parse_args()
    asyncio.run(main(options.rounds, options.observes, options.predictions))
