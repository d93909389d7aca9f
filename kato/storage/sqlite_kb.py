"""SQLite knowledge base: the embedded default adapter of the ``KnowledgeBase`` port.

Every change bumps the node's revision inside the same transaction and stamps the rows it
touched with it, so ``changes_since`` reads only rows stamped after the caller's revision
(plus tombstones of deleted patterns); ``clear`` records a reset revision instead.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import IO, Any

from kato.core.events_text import events_json
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
    symbol_counts,
)
from kato.engine.records import BatchIncrements, batch_increments, learned_many, learned_record
from kato.storage.sqlite_db import SQLiteDatabase

logger = logging.getLogger("kato.storage.sqlite")

_PATTERN_COLUMNS = "name, events, frequency, emotives, metadata"
_CHUNK = 1000  # rows per query of the iterators (bounded memory) and per executemany
_BLOB_CHUNK = 1 << 20  # bytes per write of an index snapshot into its row
_SNAPSHOT_IN_MEMORY = 8 << 20  # a larger index snapshot is spooled to a file
_PATTERN_ORDER = {"name": "name", "frequency": "frequency DESC, name"}
_AFTER = {
    "name": "AND name > ?",
    "frequency": "AND (frequency < ? OR (frequency = ? AND name > ?))",
}


# One encoder for every row: ``json.dumps`` with options builds a new encoder per call, which
# was a fifth of a batch learn.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


# ``json.loads`` without its per-call type checks: a start-up load decodes 100,000 rows.
_loads = json.JSONDecoder().decode


def _pattern(row: tuple[str, str, int, str, str]) -> PatternRecord:
    return _record(row, _loads(row[1]))


def _patterns(rows: list[tuple[str, str, int, str, str]]) -> tuple[PatternRecord, ...]:
    """Rows as records, the events of all of them decoded as one JSON text: a start-up load
    decodes 100,000 rows, and one decode of their joined texts takes a quarter less CPU than
    a decode per row."""
    events = _loads("[" + ",".join([row[1] for row in rows]) + "]")
    return tuple(map(_record, rows, events))


def _record(row: tuple[str, str, int, str, str], events: list[list[str]]) -> PatternRecord:
    name, _, frequency, emotives, metadata = row
    # Most patterns carry no emotives or metadata: their constant texts are not decoded.
    return PatternRecord(
        name=name,
        events=tuple(map(tuple, events)),
        frequency=frequency,
        emotives=() if emotives == "[]" else tuple(_loads(emotives)),
        metadata=(
            {}
            if metadata == "{}"
            else {key: tuple(values) for key, values in _loads(metadata).items()}
        ),
    )


def _after_params(order: PatternOrder, after: tuple[int, str] | None) -> tuple[str, list[Any]]:
    if after is None:
        return "", []
    if order == "name":
        return _AFTER["name"], [after[1]]
    return _AFTER["frequency"], [after[0], after[0], after[1]]


def _totals(row: tuple[int, int, int]) -> Totals:
    return Totals(*row)


def _total_values(totals: Totals) -> tuple[int, int, int]:
    return totals.pattern_frequencies, totals.symbol_frequencies, totals.symbols_in_patterns


class SQLiteKnowledgeBase:
    """One node's knowledge base, as rows of the shared SQLite file keyed by ``kb_id``.

    ``database`` is a shared :class:`SQLiteDatabase` or a file path (then this knowledge
    base owns the connection and ``close`` closes it; ``busy_timeout`` applies to it).
    """

    def __init__(
        self,
        database: SQLiteDatabase | str | os.PathLike[str],
        kb_id: str,
        busy_timeout: float = 30.0,
        cache_mib: int | None = None,
    ) -> None:
        """``busy_timeout`` and ``cache_mib`` apply to the database this opens from a path."""
        self._owns_database = not isinstance(database, SQLiteDatabase)
        self._db = (
            database
            if isinstance(database, SQLiteDatabase)
            else SQLiteDatabase(database, busy_timeout, cache_mib)
        )
        self.kb_id = kb_id
        with self._db.write() as connection:
            connection.execute("INSERT OR IGNORE INTO kb_nodes (kb) VALUES (?)", (kb_id,))

    def claim_owner(self, node_id: str) -> str:
        with self._db.write() as connection:
            connection.execute(
                "INSERT OR IGNORE INTO kb_owners (kb, node_id) VALUES (?, ?)", (self.kb_id, node_id)
            )
            row = connection.execute(
                "SELECT node_id FROM kb_owners WHERE kb = ?", (self.kb_id,)
            ).fetchone()
        return str(row[0])

    def revision(self) -> int:
        row = (
            self._db.connection()
            .execute("SELECT revision FROM kb_nodes WHERE kb = ?", (self.kb_id,))
            .fetchone()
        )
        return int(row[0])

    def revision_in(self, connection: sqlite3.Connection) -> int:
        row = connection.execute(
            "SELECT revision FROM kb_nodes WHERE kb = ?", (self.kb_id,)
        ).fetchone()
        return int(row[0])

    def _bump(self, connection: sqlite3.Connection, patterns: int = 0) -> int:
        """The next revision of this node (inside the caller's write transaction)."""
        row = connection.execute(
            "UPDATE kb_nodes SET revision = revision + 1, pattern_count = pattern_count + ?"
            " WHERE kb = ? RETURNING revision",
            (patterns, self.kb_id),
        ).fetchone()
        return int(row[0])

    def learn(
        self,
        name: str,
        events: Events,
        emotives: Mapping[str, float] | None,
        persistence: int,
        metadata: Metadata | None = None,
    ) -> PatternRecord:
        # The session learn path: its own few statements (the batch path's bookkeeping costs
        # a single learn about 15 % more CPU).
        counts = symbol_counts(events)
        with self._db.write() as connection:
            row = connection.execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            ).fetchone()
            existing = _pattern(row) if row else None
            record = learned_record(existing, name, events, emotives, persistence, metadata)
            revision = self._bump(connection, patterns=0 if existing else 1)
            connection.execute(
                "INSERT OR REPLACE INTO kb_patterns"
                " (kb, name, events, frequency, emotives, metadata, rev)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.kb_id,
                    name,
                    events_json(record.events),
                    record.frequency,
                    _dumps(record.emotives),
                    _dumps(record.metadata) if record.metadata else "{}",
                    revision,
                ),
            )
            connection.execute(
                "DELETE FROM kb_deleted WHERE kb = ? AND name = ?", (self.kb_id, name)
            )
            connection.executemany(
                "INSERT INTO kb_symbols (kb, name, frequency, pattern_member_frequency, rev)"
                " VALUES (?, ?, ?, 1, ?) ON CONFLICT (kb, name) DO UPDATE SET"
                " frequency = frequency + excluded.frequency,"
                " pattern_member_frequency = pattern_member_frequency + 1, rev = excluded.rev",
                [(self.kb_id, symbol, count, revision) for symbol, count in counts.items()],
            )
            connection.execute(
                "UPDATE kb_nodes SET pattern_frequencies = pattern_frequencies + 1,"
                " symbol_frequencies = symbol_frequencies + ?,"
                " symbols_in_patterns = symbols_in_patterns + ? WHERE kb = ?",
                (sum(counts.values()), len(counts), self.kb_id),
            )
        return record

    def learn_many(
        self,
        items: Sequence[LearnItem],
        persistence: int,
        increments: BatchIncrements | None = None,
    ) -> list[PatternRecord]:
        """One write transaction and one revision for the batch: the stored records are read
        once, the batch is applied in memory (in order, so a name learned twice counts twice),
        then written with one ``executemany`` per table."""
        if not items:
            return []
        increments = increments or batch_increments(items)
        with self._db.write() as connection:
            stored = self._records(connection, {item.name for item in items})
            records: dict[str, PatternRecord] = {}
            results: list[PatternRecord] = []
            for item in items:
                record = learned_many(
                    records.get(item.name) or stored.get(item.name), item, persistence
                )
                records[item.name] = record
                results.append(record)
            revision = self._bump(connection, patterns=len(records.keys() - stored.keys()))
            kb = self.kb_id
            connection.executemany(
                "INSERT OR REPLACE INTO kb_patterns"
                " (kb, name, events, frequency, emotives, metadata, rev)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        kb,
                        record.name,
                        events_json(record.events),
                        record.frequency,
                        _dumps(record.emotives) if record.emotives else "[]",
                        _dumps(record.metadata) if record.metadata else "{}",
                        revision,
                    )
                    for record in records.values()
                ],
            )
            # Most stores hold no deleted names: one probe instead of a delete per pattern.
            if connection.execute(
                "SELECT 1 FROM kb_deleted WHERE kb = ? LIMIT 1", (kb,)
            ).fetchone():
                connection.executemany(
                    "DELETE FROM kb_deleted WHERE kb = ? AND name = ?",
                    [(kb, name) for name in records],
                )
            connection.executemany(
                "INSERT INTO kb_symbols (kb, name, frequency, pattern_member_frequency, rev)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (kb, name) DO UPDATE SET"
                " frequency = frequency + excluded.frequency,"
                " pattern_member_frequency = pattern_member_frequency"
                " + excluded.pattern_member_frequency, rev = excluded.rev",
                [
                    (kb, symbol, increments.frequencies[symbol], members, revision)
                    for symbol, members in increments.members.items()
                ],
            )
            connection.execute(
                "UPDATE kb_nodes SET pattern_frequencies = pattern_frequencies + ?,"
                " symbol_frequencies = symbol_frequencies + ?,"
                " symbols_in_patterns = symbols_in_patterns + ? WHERE kb = ?",
                (*_total_values(increments.totals), kb),
            )
        return results

    def _records(self, connection: sqlite3.Connection, names: set[str]) -> dict[str, PatternRecord]:
        """The stored records among ``names`` (queried in chunks: SQLite bounds parameters)."""
        found: dict[str, PatternRecord] = {}
        pending = iter(sorted(names))
        while chunk := list(islice(pending, 500)):
            marks = ",".join("?" * len(chunk))
            for row in connection.execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND name IN ({marks})",
                (self.kb_id, *chunk),
            ):
                record = _pattern(row)
                found[record.name] = record
        return found

    def get_pattern(self, name: str) -> PatternRecord | None:
        row = (
            self._db.connection()
            .execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            )
            .fetchone()
        )
        return _pattern(row) if row else None

    def delete_pattern(self, name: str) -> bool:
        with self._db.write() as connection:
            deleted = connection.execute(
                "DELETE FROM kb_patterns WHERE kb = ? AND name = ?", (self.kb_id, name)
            ).rowcount
            if not deleted:
                return False
            revision = self._bump(connection, patterns=-1)
            connection.execute(
                "DELETE FROM kb_training WHERE kb = ? AND name = ?", (self.kb_id, name)
            )
            connection.execute(
                "INSERT OR REPLACE INTO kb_deleted (kb, name, rev) VALUES (?, ?, ?)",
                (self.kb_id, name, revision),
            )
            return True

    def update_pattern(
        self,
        name: str,
        frequency: int,
        emotives: Sequence[Mapping[str, float]],
        metadata: Metadata | None = None,
    ) -> PatternRecord | None:
        window = tuple(dict(item) for item in emotives)
        with self._db.write() as connection:
            row = connection.execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            ).fetchone()
            if row is None:
                return None
            old = _pattern(row)
            record = PatternRecord(
                name, old.events, frequency, window, old.metadata if metadata is None else metadata
            )
            revision = self._bump(connection)
            connection.execute(
                "UPDATE kb_patterns SET frequency = ?, emotives = ?, metadata = ?, rev = ?"
                " WHERE kb = ? AND name = ?",
                (frequency, _dumps(window), _dumps(record.metadata), revision, self.kb_id, name),
            )
        return record

    def clear(self) -> None:
        with self._db.write() as connection:
            self._clear(connection)

    def _clear(self, connection: sqlite3.Connection) -> None:
        for table in (
            "kb_patterns", "kb_symbols", "kb_deleted", "kb_archive", "kb_training",
            "kb_index_snapshots",
        ):  # fmt: skip
            connection.execute(f"DELETE FROM {table} WHERE kb = ?", (self.kb_id,))
        connection.execute(
            "UPDATE kb_nodes SET revision = revision + 1, reset_revision = revision + 1,"
            " pattern_count = 0, pattern_frequencies = 0, symbol_frequencies = 0,"
            " symbols_in_patterns = 0 WHERE kb = ?",
            (self.kb_id,),
        )

    def replace(
        self,
        patterns: Iterable[PatternRecord],
        symbols: Iterable[SymbolStats],
        totals: Totals,
        revision: int = 0,
    ) -> int:
        """One write transaction: cleared, refilled in chunks, committed; an exception from
        the iterables rolls everything back (other writers wait for the file's write lock)."""
        kb = self.kb_id
        stored = 0
        with self._db.write() as connection:
            self._clear(connection)  # one revision bump, the reset readers reload at
            stamp = self.revision_in(connection)
            pending = iter(patterns)
            while chunk := list(islice(pending, _CHUNK)):
                connection.executemany(
                    "INSERT OR REPLACE INTO kb_patterns"
                    " (kb, name, events, frequency, emotives, metadata, rev)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            kb,
                            r.name,
                            events_json(r.events),
                            r.frequency,
                            _dumps(r.emotives) if r.emotives else "[]",
                            _dumps(r.metadata) if r.metadata else "{}",
                            stamp,
                        )
                        for r in chunk
                    ],
                )
            stored = connection.execute(
                "SELECT count(*) FROM kb_patterns WHERE kb = ?", (kb,)
            ).fetchone()[0]
            rows = iter(symbols)
            while chunk_symbols := list(islice(rows, _CHUNK)):
                connection.executemany(
                    "INSERT OR REPLACE INTO kb_symbols"
                    " (kb, name, frequency, pattern_member_frequency, rev) VALUES (?, ?, ?, ?, ?)",
                    [
                        (kb, s.name, s.frequency, s.pattern_member_frequency, stamp)
                        for s in chunk_symbols
                    ],
                )
            connection.execute(
                "UPDATE kb_nodes SET pattern_count = ?, pattern_frequencies = ?,"
                " symbol_frequencies = ?, symbols_in_patterns = ?, revision = max(revision, ?)"
                " WHERE kb = ?",
                (stored, *_total_values(totals), revision, kb),
            )
        return int(stored)

    def iter_patterns(
        self,
        order: PatternOrder = "name",
        after: tuple[int, str] | None = None,
        min_frequency: int = 0,
    ) -> Iterator[PatternRecord]:
        # One short query per chunk (keyset pagination), each on the calling thread's
        # connection: a consumer may resume the iterator on another thread.
        while True:
            clause, params = _after_params(order, after)
            rows = (
                self._db.connection()
                .execute(
                    f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND frequency >= ?"
                    f" {clause} ORDER BY {_PATTERN_ORDER[order]} LIMIT {_CHUNK}",
                    (self.kb_id, min_frequency, *params),
                )
                .fetchall()
            )
            for row in rows:
                yield _pattern(row)
            if len(rows) < _CHUNK:
                return
            last = rows[-1]
            after = (last[2], last[0])

    def iter_symbols(
        self, order: PatternOrder = "name", after: tuple[int, str] | None = None
    ) -> Iterator[SymbolStats]:
        while True:
            clause, params = _after_params(order, after)
            rows = (
                self._db.connection()
                .execute(
                    "SELECT name, frequency, pattern_member_frequency FROM kb_symbols"
                    f" WHERE kb = ? {clause} ORDER BY {_PATTERN_ORDER[order]} LIMIT {_CHUNK}",
                    (self.kb_id, *params),
                )
                .fetchall()
            )
            for row in rows:
                yield SymbolStats(*row)
            if len(rows) < _CHUNK:
                return
            after = (rows[-1][1], rows[-1][0])

    def get_symbol(self, name: str) -> SymbolStats | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT name, frequency, pattern_member_frequency FROM kb_symbols"
                " WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            )
            .fetchone()
        )
        return SymbolStats(*row) if row else None

    def symbol_count(self) -> int:
        row = (
            self._db.connection()
            .execute("SELECT count(*) FROM kb_symbols WHERE kb = ?", (self.kb_id,))
            .fetchone()
        )
        return int(row[0])

    def totals(self) -> Totals:
        row = (
            self._db.connection()
            .execute(
                "SELECT pattern_frequencies, symbol_frequencies, symbols_in_patterns"
                " FROM kb_nodes WHERE kb = ?",
                (self.kb_id,),
            )
            .fetchone()
        )
        return _totals(row)

    def pattern_count(self) -> int:
        row = (
            self._db.connection()
            .execute("SELECT pattern_count FROM kb_nodes WHERE kb = ?", (self.kb_id,))
            .fetchone()
        )
        return int(row[0])

    def changes_since(self, revision: int) -> ChangeSet:
        kb = self.kb_id
        with self._db.read() as connection:
            current, reset_revision, *totals = connection.execute(
                "SELECT revision, reset_revision, pattern_frequencies, symbol_frequencies,"
                " symbols_in_patterns FROM kb_nodes WHERE kb = ?",
                (kb,),
            ).fetchone()
            reset = revision < reset_revision
            since = -1 if reset else revision
            patterns = connection.execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND rev > ?",
                (kb, since),
            ).fetchall()
            symbols = connection.execute(
                "SELECT name, frequency, pattern_member_frequency FROM kb_symbols"
                " WHERE kb = ? AND rev > ?",
                (kb, since),
            ).fetchall()
            deleted = connection.execute(
                "SELECT name FROM kb_deleted WHERE kb = ? AND rev > ?", (kb, since)
            ).fetchall()
        return ChangeSet(
            revision=current,
            reset=reset,
            patterns=_patterns(patterns),
            deleted=() if reset else tuple(row[0] for row in deleted),
            symbols=tuple(SymbolStats(*row) for row in symbols),
            totals=_totals(tuple(totals)),  # type: ignore[arg-type]
        )

    def index_snapshot(self) -> tuple[int, bytes] | None:
        """The stored index snapshot and its revision, if it is still valid: taken at or
        after the last reset (clear, replace) and not after the current revision. The
        changes made after it are then what ``changes_since(its revision)`` returns."""
        row = (
            self._db.connection()
            .execute(
                "SELECT s.revision, s.data FROM kb_index_snapshots s JOIN kb_nodes n USING (kb)"
                " WHERE kb = ? AND s.revision BETWEEN n.reset_revision AND n.revision",
                (self.kb_id,),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def store_index_snapshot(self, revision: int, snapshot: Callable[[IO[bytes]], object]) -> None:
        """Keep what ``snapshot`` writes as the index snapshot at ``revision`` unless a newer
        one is kept (another process's). One of the same revision is replaced: the caller
        stores only when it could not use the one kept (another layout) or found none. It is
        a cache: when the file is busy or read-only, or the disk full, it is not written."""
        try:
            with self._db.write() as connection:
                kept = connection.execute(
                    "SELECT 1 FROM kb_index_snapshots WHERE kb = ? AND revision > ?",
                    (self.kb_id, revision),
                ).fetchone()
                if kept:
                    return
                # Spooled to a file beside the database (small ones stay in memory), then
                # written into the row a chunk at a time (incremental blob I/O), not bound as
                # one parameter: SQLite copies a bound blob and again into the record it
                # builds. At 1,000,000 patterns (a ~290 MB snapshot) the bytes in memory and
                # the two copies nearly doubled `kato learn`'s peak RSS at its close. The
                # bytes stored are the same.
                with tempfile.SpooledTemporaryFile(
                    max_size=_SNAPSHOT_IN_MEMORY, dir=str(self._db.path.parent)
                ) as spooled:
                    snapshot(spooled)
                    size = spooled.seek(0, os.SEEK_END)
                    rowid = connection.execute(
                        "INSERT OR REPLACE INTO kb_index_snapshots (kb, revision, data)"
                        " VALUES (?, ?, zeroblob(?))",
                        (self.kb_id, revision, size),
                    ).lastrowid
                    assert rowid is not None
                    spooled.seek(0)
                    with connection.blobopen("kb_index_snapshots", "data", rowid) as blob:
                        while chunk := spooled.read(_BLOB_CHUNK):
                            blob.write(chunk)
        except (sqlite3.OperationalError, OSError) as exc:
            # A cache: the next load of many patterns tries again (OSError: the spool file,
            # e.g. a full disk, as SQLite's own "database or disk is full" is).
            logger.info("index snapshot of %s not kept: %s", self.kb_id, exc)

    def archive_predictions(self, unique_id: str, predictions: list[dict[str, Any]]) -> None:
        with self._db.write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO kb_archive (kb, unique_id, predictions) VALUES (?, ?, ?)",
                (self.kb_id, unique_id, _dumps(predictions)),
            )

    def archived_predictions(self, unique_id: str) -> list[dict[str, Any]]:
        row = (
            self._db.connection()
            .execute(
                "SELECT predictions FROM kb_archive WHERE kb = ? AND unique_id = ?",
                (self.kb_id, unique_id),
            )
            .fetchone()
        )
        return [] if row is None else [{"unique_id": unique_id, "predictions": json.loads(row[0])}]

    def store_training_figures(self, figures: Mapping[str, TrainingFigures]) -> None:
        kb = self.kb_id
        with self._db.write() as connection:
            # Only names that are stored patterns: one deleted since it was read is skipped.
            connection.executemany(
                "INSERT OR REPLACE INTO kb_training (kb, name, entropy, normalized_entropy,"
                " global_normalized_entropy, tf) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM kb_patterns WHERE kb = ? AND name = ?)",
                [
                    (
                        kb,
                        name,
                        values.entropy,
                        values.normalized_entropy,
                        values.global_normalized_entropy,
                        _dumps(values.tf),
                        kb,
                        name,
                    )
                    for name, values in figures.items()
                ],
            )
            self._bump(connection)

    def training_figures(self, name: str) -> TrainingFigures | None:
        row = (
            self._db.connection()
            .execute(
                "SELECT entropy, normalized_entropy, global_normalized_entropy, tf"
                " FROM kb_training WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            )
            .fetchone()
        )
        if row is None:
            return None
        entropy, normalized, global_normalized, tf = row
        return TrainingFigures(entropy, normalized, global_normalized, _loads(tf))

    def close(self) -> None:
        """Close the file if this knowledge base opened it; a shared one stays open."""
        if self._owns_database:
            self._db.close()


def sqlite_node_ids(database: SQLiteDatabase) -> list[str]:
    """Every node id that claimed a knowledge base in this file, sorted."""
    rows = database.connection().execute("SELECT node_id FROM kb_owners ORDER BY node_id")
    return [row[0] for row in rows]


def sqlite_has_node(database: SQLiteDatabase, node_id: str) -> bool:
    row = (
        database.connection()
        .execute("SELECT 1 FROM kb_owners WHERE node_id = ? LIMIT 1", (node_id,))
        .fetchone()
    )
    return row is not None
