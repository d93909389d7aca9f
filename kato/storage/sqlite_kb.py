"""SQLite knowledge base: the embedded default adapter of the ``KnowledgeBase`` port.

Every change bumps the node's revision inside the same transaction and stamps the rows it
touched with it, so ``changes_since`` reads only rows stamped after the caller's revision
(plus tombstones of deleted patterns); ``clear`` records a reset revision instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from kato.engine.ports import ChangeSet, Events, PatternRecord, SymbolStats, Totals, symbol_counts
from kato.engine.records import learned_record
from kato.storage.sqlite_db import SQLiteDatabase

_PATTERN_COLUMNS = "name, events, frequency, emotives"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _pattern(row: tuple[str, str, int, str]) -> PatternRecord:
    name, events, frequency, emotives = row
    return PatternRecord(
        name=name,
        events=tuple(tuple(event) for event in json.loads(events)),
        frequency=frequency,
        emotives=tuple(json.loads(emotives)),
    )


def _totals(row: tuple[int, int, int]) -> Totals:
    return Totals(*row)


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
    ) -> None:
        self._owns_database = not isinstance(database, SQLiteDatabase)
        self._db = (
            database
            if isinstance(database, SQLiteDatabase)
            else SQLiteDatabase(database, busy_timeout)
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

    def _bump(self, connection: sqlite3.Connection, patterns: int = 0) -> int:
        """The next revision of this node (inside the caller's write transaction)."""
        row = connection.execute(
            "UPDATE kb_nodes SET revision = revision + 1, pattern_count = pattern_count + ?"
            " WHERE kb = ? RETURNING revision",
            (patterns, self.kb_id),
        ).fetchone()
        return int(row[0])

    def learn(
        self, name: str, events: Events, emotives: Mapping[str, float] | None, persistence: int
    ) -> PatternRecord:
        counts = symbol_counts(events)
        with self._db.write() as connection:
            row = connection.execute(
                f"SELECT {_PATTERN_COLUMNS} FROM kb_patterns WHERE kb = ? AND name = ?",
                (self.kb_id, name),
            ).fetchone()
            existing = _pattern(row) if row else None
            record = learned_record(existing, name, events, emotives, persistence)
            revision = self._bump(connection, patterns=0 if existing else 1)
            connection.execute(
                "INSERT OR REPLACE INTO kb_patterns (kb, name, events, frequency, emotives, rev)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self.kb_id,
                    name,
                    _dumps(record.events),
                    record.frequency,
                    _dumps(record.emotives),
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
                "INSERT OR REPLACE INTO kb_deleted (kb, name, rev) VALUES (?, ?, ?)",
                (self.kb_id, name, revision),
            )
            return True

    def update_pattern(
        self, name: str, frequency: int, emotives: Sequence[Mapping[str, float]]
    ) -> PatternRecord | None:
        window = tuple(dict(item) for item in emotives)
        with self._db.write() as connection:
            row = connection.execute(
                "SELECT events FROM kb_patterns WHERE kb = ? AND name = ?", (self.kb_id, name)
            ).fetchone()
            if row is None:
                return None
            revision = self._bump(connection)
            connection.execute(
                "UPDATE kb_patterns SET frequency = ?, emotives = ?, rev = ?"
                " WHERE kb = ? AND name = ?",
                (frequency, _dumps(window), revision, self.kb_id, name),
            )
        events = tuple(tuple(event) for event in json.loads(row[0]))
        return PatternRecord(name, events, frequency, window)

    def clear(self) -> None:
        with self._db.write() as connection:
            for table in ("kb_patterns", "kb_symbols", "kb_deleted", "kb_archive"):
                connection.execute(f"DELETE FROM {table} WHERE kb = ?", (self.kb_id,))
            connection.execute(
                "UPDATE kb_nodes SET revision = revision + 1, reset_revision = revision + 1,"
                " pattern_count = 0, pattern_frequencies = 0, symbol_frequencies = 0,"
                " symbols_in_patterns = 0 WHERE kb = ?",
                (self.kb_id,),
            )

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
            patterns=tuple(_pattern(row) for row in patterns),
            deleted=() if reset else tuple(row[0] for row in deleted),
            symbols=tuple(SymbolStats(*row) for row in symbols),
            totals=_totals(tuple(totals)),  # type: ignore[arg-type]
        )

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

    def close(self) -> None:
        """Close the file if this knowledge base opened it; a shared one stays open."""
        if self._owns_database:
            self._db.close()
