"""Where the fixed cost of GET predictions goes (issue 10 req 4): server CPU per request of
one ``kato serve`` (1 worker, default settings, the seeded 1,000 patterns of
``service_load.py ceiling-predictions``) for requests that each skip one more part of it.

    .venv/bin/python benchmarks/predictions_floor.py [--patterns 1000] [--repository DIR]

* ``GET /health`` and ``GET stm``: the request path without predictions;
* predictions of a one-symbol STM: the predictions route with nothing to compute or encode;
* predictions of one session, repeated: a node-cache hit (the ~KB body encoded and sent);
* predictions of distinct sessions (≥ 1,600, more than the node cache holds): a computation
  each, as ``ceiling-predictions`` measures.

Differences between consecutive rows price the parts; the engine's own CPU for the last row
is ``ceiling-predictions``' "engine in-process". Server CPU from ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from benchmarks import service_load  # noqa: E402
from benchmarks.engine_bench import generate_patterns, generate_queries  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repository", type=Path, help="serve this checkout instead")
    args = parser.parse_args()
    if args.repository is not None:
        service_load.SERVED = args.repository.resolve()
    learned = generate_patterns(args.patterns, args.seed)
    fragments = {json.dumps(f): f for f in generate_queries(learned, 2000, args.seed)}
    with tempfile.TemporaryDirectory(prefix="kato-bench-seed-") as directory:
        seeded = Path(directory) / "data"
        service_load.seed_store(seeded, learned, "predict")
        server = service_load.KatoServer()
        shutil.copytree(seeded, server.data_dir)
        server.start()
        try:
            measure(server, list(fragments.values()))
        finally:
            server.stop()


def measure(server: service_load.KatoServer, fragments: list[list[list[str]]]) -> None:
    client = service_load.Client(server.port, timeout=120)

    def session(events: list[list[str]]) -> str:
        session_id = client.ok("POST", "/v2/sessions", {"node_id": "predict"})["session_id"]
        for event in events:
            client.ok("POST", f"/v2/sessions/{session_id}/observe", {"strings": event})
        return str(session_id)

    sessions = [session(fragment) for fragment in fragments]
    single = session([["nothing-holds-this"]])
    for session_id in sessions[:50]:  # the index loaded, the node's computations timed
        client.ok("GET", f"/v2/sessions/{session_id}/predictions")
    count = len(sessions)
    rows = [
        ("GET /health", ["/health"] * count),
        ("GET stm", [f"/v2/sessions/{single}/stm"] * count),
        ("GET predictions, one-symbol STM", [f"/v2/sessions/{single}/predictions"] * count),
        ("GET predictions, node-cache hit", [f"/v2/sessions/{sessions[0]}/predictions"] * count),
        ("GET predictions, computed", [f"/v2/sessions/{s}/predictions" for s in sessions]),
    ]
    print(f"served: {service_load.SERVED}; {count} requests per row")
    for label, paths in rows:
        used = server.cpu_seconds()
        for path in paths:
            client.ok("GET", path)
        print(f"  {label}: {1000 * (server.cpu_seconds() - used) / count:.3f} ms CPU/request")


if __name__ == "__main__":
    main()
