"""Node.observe_needs_storage: which observes the service must run off the event loop."""

from __future__ import annotations

from pathlib import Path

from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from kato.storage.sqlite_db import SQLiteDatabase
from kato.storage.sqlite_vectors import SQLiteVectorStore

STRINGS = Observation.parse(["a"])
VECTOR = Observation.parse(None, [[1.0, 2.0]])
EMPTY = Observation.parse([], [], {"joy": 1.0})


def test_plain_and_empty_observes_stay_in_memory() -> None:
    node, genes = Node("n", InMemoryKnowledgeBase()), Genes()
    assert not node.observe_needs_storage(SessionState(), STRINGS, genes)
    assert not node.observe_needs_storage(SessionState(), EMPTY, genes)


def test_vectors_need_storage_when_the_node_has_a_vector_store(tmp_path: Path) -> None:
    genes = Genes()
    assert not Node("n", InMemoryKnowledgeBase()).observe_needs_storage(
        SessionState(), VECTOR, genes
    )
    vectors = SQLiteVectorStore(SQLiteDatabase(tmp_path / "kato.sqlite3"), "n")
    assert Node("n", InMemoryKnowledgeBase(), vectors).observe_needs_storage(
        SessionState(), VECTOR, genes
    )


def test_auto_learn_boundary_and_archive() -> None:
    node, genes = Node("n", InMemoryKnowledgeBase()), Genes(max_pattern_length=3)
    assert not node.observe_needs_storage(SessionState(stm=[["x"]]), STRINGS, genes)
    assert node.observe_needs_storage(SessionState(stm=[["x"], ["y"]]), STRINGS, genes)
    archiving = Node("n", InMemoryKnowledgeBase(), archive_predictions=True)
    assert archiving.observe_needs_storage(SessionState(), STRINGS, Genes())
