"""The engine as a library: a node's knowledge base in memory and the operations on a session.

The curated public API (the README's "Using the engine as a library" uses only these)::

    from kato.engine import Genes, InMemoryKnowledgeBase, Node, Observation, SessionState

    node, session, genes = Node("demo", InMemoryKnowledgeBase()), SessionState(), Genes()
    node.observe(session, Observation.parse(["hello"]), genes)   # -> ObserveOutcome
    node.learn(session, genes)                                     # -> pattern name or ""
    node.predictions(session, genes)                               # -> list of predictions

* :class:`Node` — observe / learn / predictions / clear_stm / clear_all on a
  :class:`SessionState` (the session-owned state: STM, emotives, time), over a
  :class:`KnowledgeBase` (the in-memory one here; SQLite and MongoDB in ``kato.storage``);
* :class:`Genes` and :class:`Observation` — the validated parameters and input (``kato.core``);
* :class:`KnowledgeBase`, :class:`VectorStore`, :class:`PatternRecord` — the storage ports an
  adapter implements.

Everything else in the package is internal and may change without notice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kato.core.genes import Genes
    from kato.core.observation import Observation
    from kato.engine.memory_kb import InMemoryKnowledgeBase
    from kato.engine.node import Node, ObserveOutcome
    from kato.engine.ports import KnowledgeBase, PatternRecord, VectorStore
    from kato.engine.session_state import SessionState

# Loaded on first use, not when a submodule (``kato.engine.session_state``, imported by the
# session records) is imported: the node pulls in numpy and the compiled matcher.
_EXPORTS = {
    "Genes": "kato.core.genes",
    "InMemoryKnowledgeBase": "kato.engine.memory_kb",
    "KnowledgeBase": "kato.engine.ports",
    "Node": "kato.engine.node",
    "Observation": "kato.core.observation",
    "ObserveOutcome": "kato.engine.node",
    "PatternRecord": "kato.engine.ports",
    "SessionState": "kato.engine.session_state",
    "VectorStore": "kato.engine.ports",
}
__all__ = [
    "Genes",
    "InMemoryKnowledgeBase",
    "KnowledgeBase",
    "Node",
    "Observation",
    "ObserveOutcome",
    "PatternRecord",
    "SessionState",
    "VectorStore",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
