"""Where the data commands (``kato learn / export / import / evaluate``) act: the embedded
store of the local data directory, or a server through the Python SDK (``--url``).

Both targets offer the same four operations and call the same service functions in the end
(``kato.service.knowledge_base``): embedded, in this process on the knowledge base that
``kato serve`` would open for the node; remote, through the server's node routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kato.config import Settings
from kato.core.genes import Genes
from kato.core.node_ids import knowledge_base_id
from kato.core.observation import Observation
from kato.engine.node import Node
from kato.service import knowledge_base as kb_service
from kato.storage.factory import open_knowledge_base, prepare_data_dir
from kato.storage.sqlite_db import FILE_NAME, SQLiteDatabase
from kato.storage.sqlite_kb import sqlite_has_node

# The SDK (httpx) only with --url and pymongo only with MongoDB configured, imported where
# they are used: together about a fifth of a second of an embedded command's start-up.
if TYPE_CHECKING:
    from kato.client import KatoClient

Predictions = list[dict[str, Any]]


class DataTarget(Protocol):
    remote: bool  # a server (requests carry several contexts) or this process

    def learn(self, sequences: Sequence[dict[str, Any]]) -> list[str]:
        """Learn a batch of ``learn-batch`` items; each one's ``PTRN|`` name or ``""``."""
        ...

    def predict(self, contexts: Sequence[list[list[str]]], genes: Genes) -> list[Predictions]:
        """For each context (events), the predictions of a session holding it in its STM."""
        ...

    def export_lines(self) -> Iterator[str]: ...

    def import_lines(self, lines: Iterable[bytes], replace: bool) -> int: ...

    def pattern_count(self) -> int: ...

    def close(self) -> None: ...


class EmbeddedTarget:
    """The node's knowledge base in the local data directory (SQLite, or MongoDB when
    ``database.mongodb.url`` is set), opened as ``kato serve`` opens it."""

    remote = False

    def __init__(
        self, settings: Settings, node_id: str, create: bool = True, index: bool = True
    ) -> None:
        """``create=False`` (export, evaluate) refuses a node without a knowledge base
        instead of creating an empty one. ``index=False`` (``--no-index``) learns and imports
        without building the node's index or keeping its snapshot: memory stays flat however
        large the knowledge base grows, and the next server indexes the node itself."""
        if not create and not node_exists(settings, node_id):
            where = "MongoDB" if settings.database.mongodb.url else settings.service.data_dir
            raise NodeNotFoundError(f"node {node_id!r} has no knowledge base in {where}")
        prepare_data_dir(settings)
        self._settings = settings
        self.node = Node(node_id, open_knowledge_base(settings, node_id))
        self._genes = settings.genes  # the server's genes: learn and import as it would
        self._changed = False
        self._index = index

    def learn(self, sequences: Sequence[dict[str, Any]]) -> list[str]:
        batch = [batch_sequence(item) for item in sequences]
        if self._index and not self._changed:  # current before the first batch: it follows each
            self.node.refresh()
        self._changed = True
        return kb_service.learn_batch(self.node, batch, self._genes)

    def predict(self, contexts: Sequence[list[list[str]]], genes: Genes) -> list[Predictions]:
        parsed = [kb_service.parse_observations(context) for context in contexts]
        return kb_service.predict_many(self.node, parsed, genes)

    def export_lines(self) -> Iterator[str]:
        return kb_service.export_lines(self.node)

    def import_lines(self, lines: Iterable[bytes], replace: bool) -> int:
        self._changed = True
        return kb_service.import_lines(
            self.node,
            lines,
            "replace" if replace else "merge",
            self._genes.persistence,
            self._settings.limits.max_symbol_length,
        )

    def pattern_count(self) -> int:
        return self.node.pattern_count

    def close(self) -> None:
        if self._changed and self._index:
            # A SQLite store keeps the node's index snapshot, so the next `kato serve`
            # answers its first predictions without decoding every pattern.
            self.node.keep_index_snapshot()
        self.node.knowledge_base.close()


class NodeNotFoundError(LookupError):
    """An export or evaluation of a node that was never learned into."""


def node_exists(settings: Settings, node_id: str) -> bool:
    """Whether ``node_id`` has a knowledge base in the configured store; creates nothing."""
    mongo = settings.database.mongodb
    if mongo.url:
        from kato.storage.mongo_kb import mongo_has_node, open_mongo_client

        client = open_mongo_client(mongo)
        try:
            kb_id = knowledge_base_id(node_id, settings.service.base_node_id)
            return mongo_has_node(client, kb_id, node_id)
        finally:
            client.close()
    path = Path(settings.service.data_dir) / FILE_NAME
    if not path.exists():
        return False
    database = SQLiteDatabase(path, settings.database.sqlite.busy_timeout_seconds)
    try:
        return sqlite_has_node(database, node_id)
    finally:
        database.close()


def batch_sequence(item: dict[str, Any]) -> kb_service.BatchSequence:
    """A ``learn-batch`` item, already checked by ``kato.sequence_files``, as the service's
    sequence: its events as the lists of strings they are (the file's check pass validated
    every value), its emotive objects as observations, as the ``learn-batch`` route observes
    them after the events."""
    entries = item.get("emotives")
    emotives = tuple([Observation(emotives=entry) for entry in entries]) if entries else ()
    return kb_service.BatchSequence(emotives, item.get("metadata") or {}, item["events"])


class RemoteTarget:
    """A node of a KATO server, through the SDK's node routes (``--url``)."""

    remote = True

    def __init__(self, url: str, api_key: str | None, node_id: str) -> None:
        from kato.client import KatoClient

        self._client: KatoClient = KatoClient(url, api_key=api_key)
        self._node_id = node_id

    def learn(self, sequences: Sequence[dict[str, Any]]) -> list[str]:
        answer = self._client.learn_batch(self._node_id, sequences)
        names: list[str] = answer["patterns"]
        return names

    def predict(self, contexts: Sequence[list[list[str]]], genes: Genes) -> list[Predictions]:
        # Only the genes the user changed are sent: the server's own values apply otherwise.
        changed = genes.model_dump(exclude_defaults=True, mode="json")
        return self._client.predict_batch(self._node_id, contexts, changed or None)

    def export_lines(self) -> Iterator[str]:
        return (line + "\n" for line in self._client.export(self._node_id))

    def import_lines(self, lines: Iterable[bytes], replace: bool) -> int:
        answer = self._client.import_lines(self._node_id, lines, "replace" if replace else "merge")
        imported: int = answer["imported"]
        return imported

    def pattern_count(self) -> int:
        from kato.client.errors import NotFound

        try:
            count: int = self._client.node(self._node_id)["pattern_count"]
        except NotFound:  # a node nothing was learned into yet
            return 0
        return count

    def close(self) -> None:
        self._client.close()
