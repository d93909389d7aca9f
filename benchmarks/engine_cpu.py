"""The engine's own CPU per prediction, in-process, for the ceiling comparison of
``service_load.py`` (issue 10): the baseline GET predictions is measured against.

    python benchmarks/engine_cpu.py REPOSITORY DATA_DIR NODE_ID QUERIES_JSON

Runs the engine of the checkout at REPOSITORY (so a benchmark of an older commit measures
that commit's engine) on the SQLite knowledge base of DATA_DIR: loads the node's index, then
computes each query's predictions once on a fresh node cache (``max_predictions`` 100, the
default genes), as a server does for a session whose STM it has not seen. Prints one JSON
line: the CPU seconds per query (``time.process_time``, so other load on the machine does
not count) and how many queries predicted something.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    repository, data_dir, node_id, queries_file = sys.argv[1:5]
    sys.path.insert(0, repository)
    from kato.config import Settings
    from kato.core.genes import Genes
    from kato.engine.node import Node
    from kato.engine.session_state import SessionState
    from kato.storage.factory import open_knowledge_base

    queries = json.loads(Path(queries_file).read_text())
    settings = Settings.model_validate({"service": {"data_dir": data_dir}})
    node = Node(node_id, open_knowledge_base(settings, node_id))
    genes = Genes()
    node.refresh()  # the load is not part of a prediction
    found = 0
    started = time.process_time()
    for events in queries:
        session = SessionState()
        session.stm = [list(event) for event in events]
        found += bool(node.predictions(session, genes))
    used = time.process_time() - started
    print(json.dumps({"cpu_per_query": used / len(queries), "found": found}))


if __name__ == "__main__":
    main()
