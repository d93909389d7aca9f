"""Vectors in the data directory's SQLite file: the multi-process embedded alternative.

Qdrant local mode locks its directory to one process. With several worker processes (or
instances) on one host and no Qdrant server, ``database.qdrant.local_store: sqlite`` keeps
each ``VCTR|`` vector as JSON in the shared SQLite file instead (exact floats; the engine
only stores and reads vectors back by name, it never searches them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kato.storage.sqlite_db import SQLiteDatabase


class SQLiteVectorStore:
    def __init__(self, database: SQLiteDatabase, kb_id: str) -> None:
        self._db = database
        self.kb_id = kb_id

    def put(self, name: str, vector: Sequence[float]) -> None:
        if not vector:
            raise ValueError("a vector needs at least one dimension")
        with self._db.write() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO vectors (kb, name, vector) VALUES (?, ?, ?)",
                (self.kb_id, name, json.dumps([float(value) for value in vector])),
            )

    def get(self, name: str) -> list[float] | None:
        row = (
            self._db.connection()
            .execute("SELECT vector FROM vectors WHERE kb = ? AND name = ?", (self.kb_id, name))
            .fetchone()
        )
        return None if row is None else [float(value) for value in json.loads(row[0])]

    def clear(self) -> None:
        with self._db.write() as connection:
            connection.execute("DELETE FROM vectors WHERE kb = ?", (self.kb_id,))

    def close(self) -> None:
        """The database is shared by every node; its owner closes it."""
