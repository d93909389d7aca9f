"""MongoDB knowledge base: the production adapter of the ``KnowledgeBase`` port.

One database per node (named by its knowledge-base id, semantics §1.11) with collections
``patterns``, ``symbols``, ``deleted`` (tombstones), ``metadata`` (revision counter, totals),
``archive`` and ``training`` (finalize-training figures, §12.7). Counters change only through
``$inc``, so two processes learning the same pattern at once count it twice.

Revisions without transactions: a write first marks the documents it touches as pending
(``$inc pending``), then takes the next revision from the counter, then stamps the documents
with it (``$max rev``) and unmarks them. ``changes_since(r)`` returns documents stamped after
``r`` *or still pending*, so a document written by a learn whose revision a reader has
already seen is never skipped (see docs/STORAGE.md for the argument).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, Any, TypeVar

from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from kato.config import MongoSettings
from kato.engine.ports import (
    ChangeSet,
    Events,
    LearnItem,
    Metadata,
    PatternOrder,
    PatternRecord,
    SymbolStats,
    Totals,
    TrainingFigures,
)
from kato.engine.records import BatchIncrements, stats_increments

_PATTERN_NAME = re.compile(r"[0-9a-f]{40}")
_REVISION = "revision"
_OWNER = "owner"  # the node id this database belongs to (see kato.core.node_ids)
_TOTALS = "totals"
_TOTAL_FIELDS = ("pattern_frequencies", "symbol_frequencies", "symbols_in_patterns")
_HIDDEN = {"_id": False, "rev": False, "pending": False}
_DUPLICATE_KEY = 11000
_CHUNK = 1000  # documents per query of the iterators and per insert_many of replace
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


def _metadata_pairs(metadata: Metadata) -> list[list[str]]:
    # Flat [key, value] pairs, for the same reason as emotives, and so ``$addToSet`` unions
    # them on re-learn in one atomic update.
    return [[key, value] for key, values in metadata.items() for value in values]


def _metadata(pairs: Iterable[Sequence[str]]) -> Metadata:
    grouped: dict[str, set[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, set()).add(value)
    return {key: tuple(sorted(grouped[key])) for key in sorted(grouped)}


def _pattern(document: Mapping[str, Any]) -> PatternRecord:
    return PatternRecord(
        name=document["name"],
        events=tuple(tuple(event) for event in document["events"]),
        frequency=document["frequency"],
        emotives=tuple(dict(pairs) for pairs in document["emotives"]),
        metadata=_metadata(document.get("metadata", ())),  # absent in older documents
    )


def _pattern_document(record: PatternRecord, revision: int) -> dict[str, Any]:
    return {
        "name": record.name,
        "events": [list(event) for event in record.events],
        "frequency": record.frequency,
        "emotives": [_pairs(entry) for entry in record.emotives],
        "metadata": _metadata_pairs(record.metadata),
        "rev": revision,
        "pending": 0,
    }


def _after_filter(order: PatternOrder, after: tuple[int, str] | None) -> dict[str, Any]:
    if after is None:
        return {}
    if order == "name":
        return {"name": {"$gt": after[1]}}
    frequency, name = after
    return {
        "$or": [
            {"frequency": {"$lt": frequency}},
            {"frequency": frequency, "name": {"$gt": name}},
        ]
    }


_SORT: dict[str, list[tuple[str, int]]] = {
    "name": [("name", ASCENDING)],
    "frequency": [("frequency", -1), ("name", ASCENDING)],
}


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
        self._training: Collection[dict[str, Any]] = database["training"]
        for collection in (self._patterns, self._symbols, self._deleted):
            collection.create_index([("name", ASCENDING)], unique=True)
            collection.create_index([("rev", ASCENDING)])
            collection.create_index([("pending", ASCENDING)])
        self._archive.create_index([("unique_id", ASCENDING)], unique=True)
        self._training.create_index([("name", ASCENDING)], unique=True)
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
        self,
        name: str,
        events: Events,
        emotives: Mapping[str, float] | None,
        persistence: int,
        metadata: Metadata | None = None,
    ) -> PatternRecord:
        window = () if emotives is None else (emotives,)
        return self._learn(LearnItem(name, events, window, metadata or {}), persistence)

    def learn_many(
        self,
        items: Sequence[LearnItem],
        persistence: int,
        increments: BatchIncrements | None = None,
    ) -> list[PatternRecord]:
        """In order, one ``learn`` of ``times`` each: MongoDB has no transaction here (the
        counters are ``$inc`` so concurrent writers still add up); ``increments`` unused."""
        return [self._learn(item, persistence) for item in items]

    def _learn(self, item: LearnItem, persistence: int) -> PatternRecord:
        name = item.name
        if not _valid_name(name):
            raise ValueError(f"pattern name must be 40 lowercase hex digits, got {name!r}")
        increments, totals = stats_increments(item)
        on_insert: dict[str, Any] = {"events": [list(event) for event in item.events], "rev": 0}
        update: dict[str, Any] = {"$inc": {"frequency": item.times, "pending": 1}}
        if not item.emotives:
            on_insert["emotives"] = []
        else:
            entries = [_pairs(entry) for entry in item.emotives]
            update["$push"] = {"emotives": {"$each": entries, "$slice": -persistence}}
        if item.metadata:
            update["$addToSet"] = {"metadata": {"$each": _metadata_pairs(item.metadata)}}
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
        self._count_symbols(increments, item.times)
        self._metadata.update_one(
            {"_id": _TOTALS},
            {
                "$inc": {
                    "pattern_frequencies": totals.pattern_frequencies,
                    "symbol_frequencies": totals.symbol_frequencies,
                    "symbols_in_patterns": totals.symbols_in_patterns,
                }
            },
            upsert=True,
        )
        revision = self._next_revision()
        self._stamp(self._patterns, [name], revision)
        self._stamp(self._symbols, list(increments), revision)
        assert document is not None  # an upsert returning the document after never misses
        return _pattern(document)

    def _count_symbols(self, counts: Mapping[str, int], times: int = 1) -> None:
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
                {"$inc": {"frequency": count, "pattern_member_frequency": times, "pending": 1}},
            )

    def delete_pattern(self, name: str) -> bool:
        if not _valid_name(name) or not self._patterns.delete_one({"name": name}).deleted_count:
            return False
        self._training.delete_one({"name": name})
        _retry_duplicate(
            lambda: self._deleted.update_one(
                {"name": name}, {"$inc": {"pending": 1}, "$setOnInsert": {"rev": 0}}, upsert=True
            )
        )
        self._stamp(self._deleted, [name], self._next_revision())
        return True

    def update_pattern(
        self,
        name: str,
        frequency: int,
        emotives: Sequence[Mapping[str, float]],
        metadata: Metadata | None = None,
    ) -> PatternRecord | None:
        if not _valid_name(name):
            return None
        changes: dict[str, Any] = {
            "frequency": frequency,
            "emotives": [_pairs(e) for e in emotives],
        }
        if metadata is not None:
            changes["metadata"] = _metadata_pairs(metadata)
        document = self._patterns.find_one_and_update(
            {"name": name},
            {"$set": changes, "$inc": {"pending": 1}},
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
        for collection in (
            self._patterns,
            self._symbols,
            self._deleted,
            self._archive,
            self._training,
        ):
            collection.delete_many({})
        self._metadata.update_one(
            {"_id": _TOTALS}, {"$set": dict.fromkeys(_TOTAL_FIELDS, 0)}, upsert=True
        )
        self._next_revision()

    def replace(
        self,
        patterns: Iterable[PatternRecord],
        symbols: Iterable[SymbolStats],
        totals: Totals,
        revision: int = 0,
    ) -> int:
        """Filled into staging collections, then renamed over ``patterns`` and ``symbols``
        (each rename is atomic): an exception from the iterables drops the staging copies
        and changes nothing. Between the two renames a reader may see the new patterns with
        the old statistics; the reset revision then makes every reader reload both."""
        suffix = uuid.uuid4().hex[:12]
        staged_patterns = self._patterns.database[f"patterns_import_{suffix}"]
        staged_symbols = self._symbols.database[f"symbols_import_{suffix}"]
        try:
            stamp = self._next_revision()
            stored = 0
            pending = iter(patterns)
            while chunk := list(islice(pending, _CHUNK)):
                staged_patterns.insert_many([_pattern_document(r, stamp) for r in chunk])
                stored += len(chunk)
            rows = iter(symbols)
            while chunk_symbols := list(islice(rows, _CHUNK)):
                staged_symbols.insert_many(
                    [
                        {
                            "name": s.name,
                            "frequency": s.frequency,
                            "pattern_member_frequency": s.pattern_member_frequency,
                            "rev": stamp,
                            "pending": 0,
                        }
                        for s in chunk_symbols
                    ]
                )
        except BaseException:
            staged_patterns.drop()
            staged_symbols.drop()
            raise
        self._metadata.update_one({"_id": _REVISION}, {"$max": {"reset": stamp + 1}})
        for staged, target in ((staged_patterns, self._patterns), (staged_symbols, self._symbols)):
            if staged.estimated_document_count():
                staged.rename(target.name, dropTarget=True)
            else:  # MongoDB cannot rename a collection that was never created
                target.delete_many({})
            for field in ("name", "rev", "pending"):
                target.create_index([(field, ASCENDING)], unique=field == "name")
        self._deleted.delete_many({})
        self._archive.delete_many({})
        self._training.delete_many({})
        self._metadata.update_one(
            {"_id": _TOTALS},
            {
                "$set": {
                    "pattern_frequencies": totals.pattern_frequencies,
                    "symbol_frequencies": totals.symbol_frequencies,
                    "symbols_in_patterns": totals.symbols_in_patterns,
                }
            },
            upsert=True,
        )
        # Readers reload once the value reaches the reset; a restore keeps a higher revision.
        self._metadata.update_one({"_id": _REVISION}, {"$max": {"value": max(stamp + 1, revision)}})
        return stored

    # -- reads -------------------------------------------------------------------------------

    def iter_patterns(
        self,
        order: PatternOrder = "name",
        after: tuple[int, str] | None = None,
        min_frequency: int = 0,
    ) -> Iterator[PatternRecord]:
        while True:
            query = {"frequency": {"$gte": min_frequency}, **_after_filter(order, after)}
            documents = list(self._patterns.find(query, _HIDDEN).sort(_SORT[order]).limit(_CHUNK))
            for document in documents:
                yield _pattern(document)
            if len(documents) < _CHUNK:
                return
            after = (documents[-1]["frequency"], documents[-1]["name"])

    def iter_symbols(
        self, order: PatternOrder = "name", after: tuple[int, str] | None = None
    ) -> Iterator[SymbolStats]:
        while True:
            # A symbol row left at zero by a learn that failed before counting it is skipped.
            query = {"pattern_member_frequency": {"$gt": 0}, **_after_filter(order, after)}
            documents = list(self._symbols.find(query, _HIDDEN).sort(_SORT[order]).limit(_CHUNK))
            for document in documents:
                yield _symbol(document)
            if len(documents) < _CHUNK:
                return
            after = (documents[-1]["frequency"], documents[-1]["name"])

    def get_symbol(self, name: str) -> SymbolStats | None:
        if not isinstance(name, str):
            return None
        document = self._symbols.find_one(
            {"name": name, "pattern_member_frequency": {"$gt": 0}}, _HIDDEN
        )
        return _symbol(document) if document else None

    def symbol_count(self) -> int:
        return self._symbols.count_documents({"pattern_member_frequency": {"$gt": 0}})

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

    def store_training_figures(self, figures: Mapping[str, TrainingFigures]) -> None:
        names = [name for name in figures if _valid_name(name)]
        # Only names that are stored patterns (one deleted since it was read is skipped).
        stored = {d["name"] for d in self._patterns.find({"name": {"$in": names}}, {"name": 1})}
        documents = [
            {
                "name": name,
                "entropy": values.entropy,
                "normalized_entropy": values.normalized_entropy,
                "global_normalized_entropy": values.global_normalized_entropy,
                # Symbols are client data: [symbol, tf] pairs, never document keys.
                "tf": [[symbol, share] for symbol, share in values.tf.items()],
            }
            for name, values in figures.items()
            if name in stored
        ]
        if documents:
            # Delete then insert: two round trips per batch instead of one per pattern. A
            # concurrent finalize inserting the same name first wins (its figures are equal).
            self._training.delete_many({"name": {"$in": [d["name"] for d in documents]}})
            try:
                self._training.insert_many(documents, ordered=False)
            except BulkWriteError as error:
                if any(item["code"] != _DUPLICATE_KEY for item in error.details["writeErrors"]):
                    raise
        self._next_revision()

    def training_figures(self, name: str) -> TrainingFigures | None:
        if not _valid_name(name):
            return None
        document = self._training.find_one({"name": name})
        if document is None:
            return None
        return TrainingFigures(
            document["entropy"],
            document["normalized_entropy"],
            document["global_normalized_entropy"],
            dict(document["tf"]),
        )

    def index_snapshot(self) -> tuple[int, bytes] | None:
        return None  # not kept in MongoDB (the embedded store's cold start only)

    def store_index_snapshot(self, revision: int, snapshot: Callable[[IO[bytes]], object]) -> None:
        """Keeps none: the snapshot is the embedded (SQLite) store's cold-start cache."""

    def close(self) -> None:
        """Close the client if this knowledge base created it; a shared one stays open."""
        if self._owns_client:
            self._client.close()


def mongo_node_ids(client: MongoClient[dict[str, Any]]) -> list[str]:
    """Every node id that claimed a knowledge base (database) of this server, sorted."""
    found = []
    for name in client.list_database_names():
        if name in ("admin", "config", "local"):
            continue
        document = client[name]["metadata"].find_one({"_id": _OWNER})
        if document is not None:
            found.append(str(document["node_id"]))
    return sorted(found)


def mongo_has_node(client: MongoClient[dict[str, Any]], kb_id: str, node_id: str) -> bool:
    document = client[kb_id]["metadata"].find_one({"_id": _OWNER})
    return document is not None and document.get("node_id") == node_id
