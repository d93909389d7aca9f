"""MongoDB knowledge base: the production adapter of the ``KnowledgeBase`` port.

One database per node (named by its knowledge-base id, semantics §1.11) with collections
``patterns``, ``symbols``, ``deleted`` (tombstones), ``metadata`` (revision counter, totals)
and ``archive``. Counters change only through ``$inc``, so two processes learning the same
pattern at once count it twice.

Revisions without transactions: a write first marks the documents it touches as pending
(``$inc pending``), then takes the next revision from the counter, then stamps the documents
with it (``$max rev``) and unmarks them. ``changes_since(r)`` returns documents stamped after
``r`` *or still pending*, so a document written by a learn whose revision a reader has
already seen is never skipped (see docs/STORAGE.md for the argument).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from kato.config import MongoSettings
from kato.engine.ports import ChangeSet, Events, PatternRecord, SymbolStats, Totals, symbol_counts

_PATTERN_NAME = re.compile(r"[0-9a-f]{40}")
_REVISION = "revision"
_OWNER = "owner"  # the node id this database belongs to (see kato.core.node_ids)
_TOTALS = "totals"
_TOTAL_FIELDS = ("pattern_frequencies", "symbol_frequencies", "symbols_in_patterns")
_HIDDEN = {"_id": False, "rev": False, "pending": False}
_DUPLICATE_KEY = 11000
T = TypeVar("T")


def open_mongo_client(settings: MongoSettings) -> MongoClient[dict[str, Any]]:
    """A pooled client with the architecture spec's options (nothing connects until used)."""
    write_concern: str | int = settings.write_concern
    if isinstance(write_concern, str) and write_concern.isdigit():
        write_concern = int(write_concern)
    options: dict[str, Any] = {
        "maxPoolSize": settings.pool_size,
        "minPoolSize": settings.min_pool_size,
        "maxIdleTimeMS": settings.max_idle_time_ms,
        "waitQueueTimeoutMS": settings.wait_queue_timeout_ms,
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "socketTimeoutMS": settings.socket_timeout_ms,
        "w": write_concern,
        "retryWrites": True,
        "retryReads": True,
        "readPreference": settings.read_preference,
    }
    if settings.tls:
        options["tls"] = True
        if settings.tls_ca_file:
            options["tlsCAFile"] = settings.tls_ca_file
        if settings.tls_certificate_key_file:
            options["tlsCertificateKeyFile"] = settings.tls_certificate_key_file
    return MongoClient(settings.url, **options)


def _valid_name(name: str) -> bool:
    """Pattern names reach queries only as 40-hex strings (never as operators)."""
    return isinstance(name, str) and _PATTERN_NAME.fullmatch(name) is not None


def _require_text(unique_id: str) -> None:
    """A unique id is used as a filter value: anything but a string could be an operator."""
    if not isinstance(unique_id, str):
        raise TypeError(f"unique_id must be a string, got {type(unique_id).__name__}")


def _pairs(emotives: Mapping[str, float]) -> list[list[Any]]:
    # Emotive names are client data: stored as values, never as document keys, so a name
    # such as "$gt" or "a.b" cannot be read as an operator or a path.
    return [[key, value] for key, value in emotives.items()]


def _pattern(document: Mapping[str, Any]) -> PatternRecord:
    return PatternRecord(
        name=document["name"],
        events=tuple(tuple(event) for event in document["events"]),
        frequency=document["frequency"],
        emotives=tuple(dict(pairs) for pairs in document["emotives"]),
    )


def _symbol(document: Mapping[str, Any]) -> SymbolStats:
    return SymbolStats(
        document["name"], document["frequency"], document["pattern_member_frequency"]
    )


def _retry_duplicate(operation: Callable[[], T]) -> T:
    """Run an upsert again when a concurrent upsert of the same key won the insert."""
    try:
        return operation()
    except DuplicateKeyError:
        return operation()


class MongoKnowledgeBase:
    """One node's knowledge base in its own MongoDB database.

    ``client`` is a shared ``MongoClient`` (or ``mongomock.MongoClient``) or a URL (then this
    knowledge base owns the client and ``close`` closes it).
    """

    def __init__(
        self,
        client: MongoClient[dict[str, Any]] | str,
        kb_id: str,
        settings: MongoSettings | None = None,
    ) -> None:
        self._owns_client = isinstance(client, str)
        if isinstance(client, str):
            client = open_mongo_client(
                (settings or MongoSettings()).model_copy(update={"url": client})
            )
        self._client = client
        self.kb_id = kb_id
        database = client[kb_id]
        self._patterns: Collection[dict[str, Any]] = database["patterns"]
        self._symbols: Collection[dict[str, Any]] = database["symbols"]
        self._deleted: Collection[dict[str, Any]] = database["deleted"]
        self._metadata: Collection[dict[str, Any]] = database["metadata"]
        self._archive: Collection[dict[str, Any]] = database["archive"]
        for collection in (self._patterns, self._symbols, self._deleted):
            collection.create_index([("name", ASCENDING)], unique=True)
            collection.create_index([("rev", ASCENDING)])
            collection.create_index([("pending", ASCENDING)])
        self._archive.create_index([("unique_id", ASCENDING)], unique=True)
        self._metadata.update_one(
            {"_id": _REVISION}, {"$setOnInsert": {"value": 0, "reset": 0}}, upsert=True
        )

    # -- revisions -------------------------------------------------------------------------

    def claim_owner(self, node_id: str) -> str:
        document = self._metadata.find_one_and_update(
            {"_id": _OWNER},
            {"$setOnInsert": {"node_id": node_id}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert document is not None  # upserted
        return str(document["node_id"])

    def revision(self) -> int:
        document = self._metadata.find_one({"_id": _REVISION}, {"value": True})
        return int(document["value"]) if document else 0

    def _next_revision(self) -> int:
        document = self._metadata.find_one_and_update(
            {"_id": _REVISION},
            {"$inc": {"value": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert document is not None  # an upsert returning the document after never misses
        return int(document["value"])

    @staticmethod
    def _stamp(collection: Collection[dict[str, Any]], names: list[str], revision: int) -> None:
        collection.update_many(
            {"name": {"$in": names}}, {"$inc": {"pending": -1}, "$max": {"rev": revision}}
        )

    # -- writes ------------------------------------------------------------------------------

    def learn(
        self, name: str, events: Events, emotives: Mapping[str, float] | None, persistence: int
    ) -> PatternRecord:
        if not _valid_name(name):
            raise ValueError(f"pattern name must be 40 lowercase hex digits, got {name!r}")
        counts = symbol_counts(events)
        on_insert: dict[str, Any] = {"events": [list(event) for event in events], "rev": 0}
        update: dict[str, Any] = {"$inc": {"frequency": 1, "pending": 1}}
        if emotives is None:
            on_insert["emotives"] = []
        else:
            update["$push"] = {"emotives": {"$each": [_pairs(emotives)], "$slice": -persistence}}
        update["$setOnInsert"] = on_insert
        document = _retry_duplicate(
            lambda: self._patterns.find_one_and_update(
                {"name": name},
                update,
                projection=_HIDDEN,
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        )
        self._count_symbols(counts)
        self._metadata.update_one(
            {"_id": _TOTALS},
            {
                "$inc": {
                    "pattern_frequencies": 1,
                    "symbol_frequencies": sum(counts.values()),
                    "symbols_in_patterns": len(counts),
                }
            },
            upsert=True,
        )
        revision = self._next_revision()
        self._stamp(self._patterns, [name], revision)
        self._stamp(self._symbols, list(counts), revision)
        assert document is not None  # an upsert returning the document after never misses
        return _pattern(document)

    def _count_symbols(self, counts: Mapping[str, int]) -> None:
        """``$inc`` every symbol's statistics: one insert for the new ones, then one update
        per distinct count (usually one or two round trips, and no upsert races)."""
        try:
            self._symbols.insert_many(
                [
                    {
                        "name": symbol,
                        "frequency": 0,
                        "pattern_member_frequency": 0,
                        "pending": 0,
                        "rev": 0,
                    }
                    for symbol in counts
                ],
                ordered=False,
            )
        except BulkWriteError as error:
            # Symbols that already exist (or were inserted concurrently) are expected.
            if any(item["code"] != _DUPLICATE_KEY for item in error.details["writeErrors"]):
                raise
        by_count: dict[int, list[str]] = {}
        for symbol, count in counts.items():
            by_count.setdefault(count, []).append(symbol)
        for count, symbols in by_count.items():
            self._symbols.update_many(
                {"name": {"$in": symbols}},
                {"$inc": {"frequency": count, "pattern_member_frequency": 1, "pending": 1}},
            )

    def delete_pattern(self, name: str) -> bool:
        if not _valid_name(name) or not self._patterns.delete_one({"name": name}).deleted_count:
            return False
        _retry_duplicate(
            lambda: self._deleted.update_one(
                {"name": name}, {"$inc": {"pending": 1}, "$setOnInsert": {"rev": 0}}, upsert=True
            )
        )
        self._stamp(self._deleted, [name], self._next_revision())
        return True

    def update_pattern(
        self, name: str, frequency: int, emotives: Sequence[Mapping[str, float]]
    ) -> PatternRecord | None:
        if not _valid_name(name):
            return None
        document = self._patterns.find_one_and_update(
            {"name": name},
            {
                "$set": {"frequency": frequency, "emotives": [_pairs(e) for e in emotives]},
                "$inc": {"pending": 1},
            },
            projection=_HIDDEN,
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            return None
        self._stamp(self._patterns, [name], self._next_revision())
        return _pattern(document)

    def clear(self) -> None:
        # Readers holding any revision up to the first bump reload everything once the
        # second bump is visible; a reader in between reloads (partially cleared) data and
        # reloads again after the second bump.
        first = self._next_revision()
        self._metadata.update_one({"_id": _REVISION}, {"$max": {"reset": first + 1}})
        for collection in (self._patterns, self._symbols, self._deleted, self._archive):
            collection.delete_many({})
        self._metadata.update_one(
            {"_id": _TOTALS}, {"$set": dict.fromkeys(_TOTAL_FIELDS, 0)}, upsert=True
        )
        self._next_revision()

    # -- reads -------------------------------------------------------------------------------

    def get_pattern(self, name: str) -> PatternRecord | None:
        if not _valid_name(name):
            return None
        document = self._patterns.find_one({"name": name}, _HIDDEN)
        return _pattern(document) if document else None

    def totals(self) -> Totals:
        document = self._metadata.find_one({"_id": _TOTALS}) or {}
        return Totals(*(int(document.get(field, 0)) for field in _TOTAL_FIELDS))

    def pattern_count(self) -> int:
        return self._patterns.estimated_document_count()

    def changes_since(self, revision: int) -> ChangeSet:
        counter = self._metadata.find_one({"_id": _REVISION}) or {"value": 0, "reset": 0}
        current, reset = int(counter["value"]), revision < int(counter["reset"])
        changed: dict[str, Any] = (
            {} if reset else {"$or": [{"rev": {"$gt": revision}}, {"pending": {"$gt": 0}}]}
        )
        # Tombstones are read before patterns: a name in both was learned again after it
        # was deleted, whatever the order of the two revisions.
        tombstones = [] if reset else [d["name"] for d in self._deleted.find(changed, {"name": 1})]
        patterns = {d["name"]: _pattern(d) for d in self._patterns.find(changed, _HIDDEN)}
        if tombstones:
            revived = self._patterns.find({"name": {"$in": tombstones}}, _HIDDEN)
            patterns.update((d["name"], _pattern(d)) for d in revived)
        # A symbol row inserted by a learn that failed before counting it stays at zero.
        symbols = tuple(
            _symbol(d)
            for d in self._symbols.find(changed, _HIDDEN)
            if d["pattern_member_frequency"] > 0
        )
        return ChangeSet(
            revision=current,
            reset=reset,
            patterns=tuple(patterns.values()),
            deleted=tuple(name for name in tombstones if name not in patterns),
            symbols=symbols,
            totals=self.totals(),
        )

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None:
        _require_text(unique_id)
        # Stored as JSON text: prediction objects carry client-chosen emotive names as keys.
        self._archive.replace_one(
            {"unique_id": unique_id},
            {"unique_id": unique_id, "predictions": json.dumps(predictions)},
            upsert=True,
        )

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]:
        _require_text(unique_id)
        document = self._archive.find_one({"unique_id": unique_id})
        if document is None:
            return []
        return [{"unique_id": unique_id, "predictions": json.loads(document["predictions"])}]

    def close(self) -> None:
        """Close the client if this knowledge base created it; a shared one stays open."""
        if self._owns_client:
            self._client.close()
