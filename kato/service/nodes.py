"""Node registry: one ``Node`` per node id, least-recently-used nodes evicted (D6).

Eviction only drops the in-memory index; the knowledge base lives in its store and is
caught up again on next use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from kato.engine.node import Node
from kato.engine.ports import KnowledgeBase, VectorStore
from kato.observability.metrics import record_prediction

NodeStorageOpener = Callable[[str], tuple[KnowledgeBase, VectorStore | None]]


class NodeRegistry:
    def __init__(
        self, open_storage: NodeStorageOpener, max_nodes: int, archive_predictions: bool = False
    ) -> None:
        self._open_storage = open_storage
        self._max_nodes = max_nodes
        self._archive_predictions = archive_predictions
        self._nodes: OrderedDict[str, Node] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, node_id: str) -> Node:
        with self._lock:
            node = self._nodes.get(node_id)
            if node is not None:
                self._nodes.move_to_end(node_id)
                return node
            knowledge_base, vectors = self._open_storage(node_id)
            node = Node(node_id, knowledge_base, vectors, self._archive_predictions)
            node.on_compute = record_prediction
            self._nodes[node_id] = node
            if len(self._nodes) > self._max_nodes:
                self._nodes.popitem(last=False)
            return node

    def cached(self) -> list[Node]:
        with self._lock:
            return list(self._nodes.values())
