"""One contract suite for the ``VectorStore`` port (decision D11), plus backend selection.

Adapters: Qdrant local mode (a real on-disk store in a temporary directory) and the SQLite
alternative. No Qdrant server can run here; the server-mode client is built from settings
only (see docs/STORAGE.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import mongomock
import pytest

from kato.config import Settings
from kato.core.node_ids import knowledge_base_id
from kato.engine.ports import VectorStore
from kato.storage.factory import (
    StorageBackends,
    StorageConfigurationError,
    check_process_model,
    open_knowledge_base,
)
from kato.storage.mongo_kb import MongoKnowledgeBase
from kato.storage.qdrant_vectors import LocalQdrantInUseError, QdrantVectorStore, open_local_client
from kato.storage.sqlite_db import SQLiteDatabase
from kato.storage.sqlite_kb import SQLiteKnowledgeBase
from kato.storage.sqlite_vectors import SQLiteVectorStore

# Values exact in float32, so both adapters must return them unchanged.
VECTOR = [0.5, -1.25, 3.0]


@pytest.fixture(params=["qdrant-local", "sqlite"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[str], VectorStore]]:
    """Opens the store of a node; every node shares one client, as in a process."""
    if request.param == "qdrant-local":
        client, lock = open_local_client(tmp_path / "qdrant"), threading.Lock()
        yield lambda kb_id: QdrantVectorStore(client, kb_id, lock)
        client.close()
    else:
        database = SQLiteDatabase(tmp_path / "kato.sqlite3")
        yield lambda kb_id: SQLiteVectorStore(database, kb_id)
        database.close()


def test_put_then_get_by_name(open_store: Callable[[str], VectorStore]) -> None:
    store = open_store("node_kato")
    store.put("VCTR|abc", VECTOR)
    assert store.get("VCTR|abc") == VECTOR
    assert store.get("VCTR|unknown") is None


def test_put_again_replaces(open_store: Callable[[str], VectorStore]) -> None:
    store = open_store("node_kato")
    store.put("VCTR|abc", VECTOR)
    store.put("VCTR|abc", [1.0, 2.0, 4.0])
    assert store.get("VCTR|abc") == [1.0, 2.0, 4.0]


def test_vectors_of_several_dimensions(open_store: Callable[[str], VectorStore]) -> None:
    store = open_store("node_kato")
    vectors = {"VCTR|one": [7.0], "VCTR|three": VECTOR, "VCTR|many": [0.25] * 128}
    for name, vector in vectors.items():
        store.put(name, vector)
    assert {name: store.get(name) for name in vectors} == vectors


def test_a_fresh_handle_reads_what_another_handle_stored(
    open_store: Callable[[str], VectorStore],
) -> None:
    open_store("node_kato").put("VCTR|abc", VECTOR)
    assert open_store("node_kato").get("VCTR|abc") == VECTOR


def test_nodes_are_isolated(open_store: Callable[[str], VectorStore]) -> None:
    # "a_kato_d3_kato" starts with the collection prefix of "a_kato": clear must not touch it.
    alice, neighbour = open_store("a_kato"), open_store("a_kato_d3_kato")
    alice.put("VCTR|abc", VECTOR)
    neighbour.put("VCTR|xyz", [1.0, 1.0, 1.0])
    assert alice.get("VCTR|xyz") is None
    assert neighbour.get("VCTR|abc") is None
    alice.clear()
    assert alice.get("VCTR|abc") is None
    assert neighbour.get("VCTR|xyz") == [1.0, 1.0, 1.0]


def test_clear_then_put_again(open_store: Callable[[str], VectorStore]) -> None:
    store = open_store("node_kato")
    store.put("VCTR|abc", VECTOR)
    store.put("VCTR|one", [2.0])
    store.clear()
    assert (store.get("VCTR|abc"), store.get("VCTR|one")) == (None, None)
    store.put("VCTR|abc", VECTOR)
    assert store.get("VCTR|abc") == VECTOR


def test_empty_vector_is_refused(open_store: Callable[[str], VectorStore]) -> None:
    with pytest.raises(ValueError, match="at least one dimension"):
        open_store("node_kato").put("VCTR|empty", [])


def test_qdrant_vectors_read_back_rounded_to_float32(tmp_path: Path) -> None:
    client = open_local_client(tmp_path / "qdrant")
    store = QdrantVectorStore(client, "node_kato", threading.Lock())
    store.put("VCTR|tenth", [0.1])
    assert store.get("VCTR|tenth") == [pytest.approx(0.1, abs=1e-7)]
    client.close()


# -- backend selection -------------------------------------------------------------------


def settings_for(tmp_path: Path, **database: object) -> Settings:
    return Settings.model_validate(
        {"service": {"data_dir": str(tmp_path / "data")}, "database": database}
    )


def test_qdrant_local_store_is_refused_to_a_second_client(tmp_path: Path) -> None:
    backends = StorageBackends(settings_for(tmp_path))
    with pytest.raises(LocalQdrantInUseError, match=r"local_store: sqlite"):
        StorageBackends(settings_for(tmp_path))
    backends.close()
    StorageBackends(settings_for(tmp_path)).close()  # released on close


def test_several_workers_are_refused_with_qdrant_local_mode_only(tmp_path: Path) -> None:
    check_process_model(settings_for(tmp_path), 1)
    with pytest.raises(StorageConfigurationError, match="QDRANT_URL"):
        check_process_model(settings_for(tmp_path), 2)
    check_process_model(settings_for(tmp_path, qdrant={"local_store": "sqlite"}), 4)
    check_process_model(settings_for(tmp_path, qdrant={"url": "http://q:6333"}), 4)


def test_embedded_defaults(tmp_path: Path) -> None:
    backends = StorageBackends(settings_for(tmp_path))
    assert backends.describe() == {
        "knowledge_base": "sqlite",
        "knowledge_base_location": str(tmp_path / "data" / "kato.sqlite3"),
        "vectors": "qdrant-local",
        "vectors_location": str(tmp_path / "data" / "qdrant"),
    }
    assert backends.multi_process_safe is False
    kb = backends.knowledge_base("team-a/bob")
    # "team-a/bob" is not plain (§1.11 would make it team_a_bob): its id carries a 128-bit tag.
    assert isinstance(kb, SQLiteKnowledgeBase) and kb.kb_id.startswith("team_a_bob-")
    assert kb.kb_id == knowledge_base_id("team-a/bob", "kato") != "team_a_bob_kato"
    vectors = backends.vector_store("team-a/bob")
    vectors.put("VCTR|abc", VECTOR)
    node_kb, node_vectors = backends.node_storage("team-a/bob")
    assert isinstance(node_kb, SQLiteKnowledgeBase) and node_kb.kb_id == kb.kb_id
    assert node_vectors.get("VCTR|abc") == VECTOR
    assert backends.vector_store("team-a/bob").get("VCTR|abc") == VECTOR
    assert backends.vector_store("alice").get("VCTR|abc") is None
    backends.close()


def test_data_directory_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, qdrant={"local_store": "sqlite"})
    backends = StorageBackends(settings)
    assert backends.multi_process_safe is True
    backends.knowledge_base("alice").learn("0" * 40, (("a",), ("b",)), None, 5)
    backends.vector_store("alice").put("VCTR|abc", VECTOR)
    backends.close()
    restarted = StorageBackends(settings)
    record = restarted.knowledge_base("alice").get_pattern("0" * 40)
    assert record is not None and record.frequency == 1
    assert restarted.vector_store("alice").get("VCTR|abc") == VECTOR
    restarted.close()
    standalone = open_knowledge_base(settings, "alice")
    assert standalone.pattern_count() == 1
    standalone.close()


def test_mongodb_is_selected_by_client_or_url_and_described_without_secrets(
    tmp_path: Path,
) -> None:
    injected = StorageBackends(settings_for(tmp_path), mongo_client=mongomock.MongoClient())
    kb = injected.knowledge_base("alice")
    assert isinstance(kb, MongoKnowledgeBase) and kb.kb_id == "alice_kato"
    assert injected.describe()["knowledge_base"] == "mongodb"
    injected.close()
    settings = settings_for(
        tmp_path / "remote",
        mongodb={"url": "mongodb://user:s3cret@db1:27017,db2:27017/?authSource=admin"},
        qdrant={"url": "https://key:s3cret@qdrant.example:6333?api-key=s3cret"},
    )
    # pymongo and qdrant-client connect lazily: nothing is contacted here.
    remote = StorageBackends(settings)
    described = remote.describe()
    assert described == {
        "knowledge_base": "mongodb",
        "knowledge_base_location": "mongodb://db1:27017,db2:27017/",
        "vectors": "qdrant-server",
        "vectors_location": "https://qdrant.example:6333",
    }
    assert "s3cret" not in repr(described)
    assert not (tmp_path / "remote").exists()  # no embedded store was opened
    remote.close()
