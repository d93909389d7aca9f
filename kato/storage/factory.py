"""Backend selection: which adapters serve the ports, from the settings.

A process creates one :class:`StorageBackends` at start-up and asks it for each node's
knowledge base and vector store; the SQLite file, the MongoDB client (and its pool) and the
Qdrant client are opened once and shared by every node.

- Knowledge base: MongoDB when ``database.mongodb.url`` is set, else SQLite in
  ``<data_dir>/kato.sqlite3``.
- Vectors: a Qdrant server when ``database.qdrant.url`` or ``host`` is set, else Qdrant local
  mode under ``<data_dir>/qdrant`` (one process only), or the SQLite file when
  ``database.qdrant.local_store`` is ``sqlite``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kato.config import Settings
from kato.core.errors import NodeIdConflictError
from kato.core.node_ids import knowledge_base_id
from kato.engine.ports import KnowledgeBase, VectorStore
from kato.storage.sqlite_db import FILE_NAME, SQLiteDatabase
from kato.storage.sqlite_kb import SQLiteKnowledgeBase, sqlite_has_node, sqlite_node_ids
from kato.storage.sqlite_vectors import SQLiteVectorStore

# qdrant_client is imported only when a Qdrant backend is configured: its import is about a
# second of CPU, a large share of a start-up with vectors in the SQLite file (issue 10 req 5).
# pymongo likewise only with MongoDB configured (kato.storage.mongo_kb): a tenth of a second
# of every embedded command's start-up.
if TYPE_CHECKING:
    from pymongo import MongoClient
    from qdrant_client import QdrantClient


class StorageConfigurationError(RuntimeError):
    """The configured backends cannot serve the requested process model."""


def _without_secrets(url: str) -> str:
    """Scheme, hosts and path only: credentials and query options may hold secrets."""
    return re.sub(r"//[^@/]*@", "//", url).split("?", 1)[0]


def vector_backend(settings: Settings) -> str:
    qdrant = settings.database.qdrant
    if qdrant.url or qdrant.host:
        return "qdrant-server"
    return "qdrant-local" if qdrant.local_store == "qdrant" else "sqlite"


def check_process_model(settings: Settings, processes: int) -> None:
    """Refuse several processes sharing one data directory when a backend cannot be shared.

    Call before starting workers; it opens nothing. A second *instance* on the same data
    directory is refused when it opens the store (``LocalQdrantInUseError``).
    """
    if processes > 1 and vector_backend(settings) == "qdrant-local":
        raise StorageConfigurationError(
            f"{processes} worker processes cannot share Qdrant local mode (it locks "
            f"{Path(settings.service.data_dir) / 'qdrant'} to one process). Set "
            "database.qdrant.url (QDRANT_URL) to use a Qdrant server, or "
            "database.qdrant.local_store: sqlite to keep vectors in the SQLite file, or run "
            "one worker"
        )


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory, owner-only (0700), when an embedded store keeps files in it.

    An existing directory keeps its mode. A path that cannot be a writable directory is a
    ``StorageConfigurationError`` naming the setting, raised before anything is opened.
    """
    if settings.database.mongodb.url and vector_backend(settings) == "qdrant-server":
        return
    path = Path(settings.service.data_dir)
    fix = "set --data-dir / KATO_DATA_DIR to a writable directory"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageConfigurationError(
            f"service.data_dir: cannot create {path}: {exc.strerror or exc}; {fix}"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StorageConfigurationError(f"service.data_dir: {path} is not writable; {fix}")


class StorageBackends:
    """The storage clients of one process, shared by every node.

    ``mongo_client`` injects a client (e.g. ``mongomock.MongoClient()`` in tests); it
    selects MongoDB even without a URL and is not closed by :meth:`close`.
    """

    def __init__(
        self, settings: Settings, *, mongo_client: MongoClient[dict[str, Any]] | None = None
    ) -> None:
        prepare_data_dir(settings)
        self._settings = settings
        self._data_dir = Path(settings.service.data_dir)
        mongo = settings.database.mongodb
        self._injected_mongo = mongo_client is not None
        self._mongo = mongo_client
        if self._mongo is None and mongo.url:
            from kato.storage.mongo_kb import open_mongo_client

            self._mongo = open_mongo_client(mongo)
        self._vectors = vector_backend(settings)
        self._sqlite: SQLiteDatabase | None = None
        if self._mongo is None or self._vectors == "sqlite":
            self._sqlite = SQLiteDatabase(
                self._data_dir / FILE_NAME, settings.database.sqlite.busy_timeout_seconds
            )
        self._qdrant: QdrantClient | None = None
        self._qdrant_lock: threading.Lock | None = None
        if self._vectors == "qdrant-server":
            from kato.storage.qdrant_vectors import open_server_client

            self._qdrant = open_server_client(settings.database.qdrant)
        elif self._vectors == "qdrant-local":
            from kato.storage.qdrant_vectors import open_local_client

            # Opened now so a second process on this data directory fails at start-up.
            self._qdrant = open_local_client(self._data_dir / "qdrant")
            self._qdrant_lock = threading.Lock()

    def _kb_id(self, node_id: str) -> str:
        return knowledge_base_id(node_id, self._settings.service.base_node_id)

    def knowledge_base(self, node_id: str) -> KnowledgeBase:
        """``node_id``'s knowledge base; raises if its storage id belongs to another node id.

        Opening a MongoDB knowledge base is deferred behind its breaker (the first call that
        needs MongoDB), so the owner check never makes string observes depend on MongoDB.
        """
        if self._mongo is not None:
            from kato.storage.mongo_kb import MongoKnowledgeBase

            return _claimed(MongoKnowledgeBase(self._mongo, self._kb_id(node_id)), node_id)
        assert self._sqlite is not None
        return _claimed(SQLiteKnowledgeBase(self._sqlite, self._kb_id(node_id)), node_id)

    def node_ids(self) -> list[str]:
        """Every node id with a knowledge base in the store, sorted (``GET /v2/nodes``)."""
        if self._mongo is not None:
            from kato.storage.mongo_kb import mongo_node_ids

            return mongo_node_ids(self._mongo)
        assert self._sqlite is not None
        return sqlite_node_ids(self._sqlite)

    def has_node(self, node_id: str) -> bool:
        """Whether ``node_id`` has a knowledge base, without creating one."""
        if self._mongo is not None:
            from kato.storage.mongo_kb import mongo_has_node

            return mongo_has_node(self._mongo, self._kb_id(node_id), node_id)
        assert self._sqlite is not None
        return sqlite_has_node(self._sqlite, node_id)

    def vector_store(self, node_id: str) -> VectorStore:
        if self._qdrant is not None:
            from kato.storage.qdrant_vectors import QdrantVectorStore

            return QdrantVectorStore(self._qdrant, self._kb_id(node_id), self._qdrant_lock)
        assert self._sqlite is not None
        return SQLiteVectorStore(self._sqlite, self._kb_id(node_id))

    def node_storage(self, node_id: str) -> tuple[KnowledgeBase, VectorStore]:
        """Both stores of a node (the service's node registry opens nodes with this)."""
        return self.knowledge_base(node_id), self.vector_store(node_id)

    def embedded_connections(self) -> dict[str, int]:
        """Open handles of this process's embedded stores (``kato_database_connections``):
        SQLite connections, and Qdrant local mode's one client."""
        connections: dict[str, int] = {}
        if self._sqlite is not None:
            connections["sqlite"] = self._sqlite.open_connections()
        if self._vectors == "qdrant-local":
            connections["qdrant-local"] = 1
        return connections

    @property
    def multi_process_safe(self) -> bool:
        """Whether several processes may use this data directory at once."""
        return self._vectors != "qdrant-local"

    def probes(self) -> dict[str, Callable[[], object]]:
        """Blocking reachability checks of the networked backends (readiness probe)."""
        checks: dict[str, Callable[[], object]] = {}
        if self._mongo is not None:
            checks["mongodb"] = partial(self._mongo.admin.command, "ping")
        if self._vectors == "qdrant-server" and self._qdrant is not None:
            checks["qdrant"] = self._qdrant.get_collections
        return checks

    def describe(self) -> dict[str, str]:
        """Active backends and where they live, without credentials (for ``/status``)."""
        sqlite_path = str(self._data_dir / FILE_NAME)
        if self._mongo is None:
            knowledge = {"knowledge_base": "sqlite", "knowledge_base_location": sqlite_path}
        else:
            url = self._settings.database.mongodb.url
            where = "injected client" if self._injected_mongo or not url else _without_secrets(url)
            knowledge = {"knowledge_base": "mongodb", "knowledge_base_location": where}
        qdrant = self._settings.database.qdrant
        vectors = {
            "qdrant-server": _without_secrets(qdrant.url)
            if qdrant.url
            else f"{qdrant.host}:{qdrant.port}",
            "qdrant-local": str(self._data_dir / "qdrant"),
            "sqlite": sqlite_path,
        }[self._vectors]
        return {**knowledge, "vectors": self._vectors, "vectors_location": vectors}

    def close(self) -> None:
        if self._qdrant is not None:
            self._qdrant.close()
        if self._mongo is not None and not self._injected_mongo:
            self._mongo.close()
        if self._sqlite is not None:
            self._sqlite.close()


def _claimed(knowledge_base: KnowledgeBase, node_id: str) -> KnowledgeBase:
    """The knowledge base, once ``node_id`` is (or becomes) its recorded owner."""
    owner = knowledge_base.claim_owner(node_id)
    if owner != node_id:
        raise NodeIdConflictError(node_id, owner)
    return knowledge_base


# The page cache of a standalone SQLite knowledge base's one connection. A bulk learn or
# import checks every name against the store's name index, which outgrows SQLite's 2 MiB
# default at ~40,000 patterns; each miss was a read from the file (about a tenth of
# `kato learn`'s CPU at 200,000 patterns). A server keeps the default: one connection a thread.
# Not larger: at 1,000,000 patterns (a 64 MiB name index) 160 MiB moved the store step by
# less than the noise; its growth is each commit writing the index pages a batch dirtied.
STANDALONE_CACHE_MIB = 64


def open_knowledge_base(settings: Settings, node_id: str) -> KnowledgeBase:
    """A standalone knowledge base that owns its connection (for tools and scripts).

    A long-running process should create one :class:`StorageBackends` instead, so every
    node shares one connection pool.
    """
    kb_id = knowledge_base_id(node_id, settings.service.base_node_id)
    mongo = settings.database.mongodb
    if mongo.url:
        from kato.storage.mongo_kb import MongoKnowledgeBase

        return _claimed(MongoKnowledgeBase(mongo.url, kb_id, mongo), node_id)
    return _claimed(
        SQLiteKnowledgeBase(
            Path(settings.service.data_dir) / FILE_NAME,
            kb_id,
            busy_timeout=settings.database.sqlite.busy_timeout_seconds,
            cache_mib=STANDALONE_CACHE_MIB,
        ),
        node_id,
    )
