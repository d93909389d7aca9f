"""The data directory's SQLite file: schema, per-thread connections, transactions.

One file holds every node's knowledge base (rows keyed by knowledge-base id) and, when
configured, its vectors. One file rather than one per node keeps the number of open handles
at one per thread however many nodes are cached, and one WAL to checkpoint. Several worker
processes may open the same file: WAL lets readers proceed while one writer holds the lock,
and every write is a ``BEGIN IMMEDIATE`` transaction so read-modify-write steps are atomic
across processes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

FILE_NAME = "kato.sqlite3"
SCHEMA_VERSION = 4

_TRAINING_TABLE = """
CREATE TABLE IF NOT EXISTS kb_training (
    kb TEXT NOT NULL,
    name TEXT NOT NULL,
    entropy REAL NOT NULL,
    normalized_entropy REAL NOT NULL,
    global_normalized_entropy REAL NOT NULL,
    tf TEXT NOT NULL,
    PRIMARY KEY (kb, name)
) WITHOUT ROWID;
"""

# A rowid table, its names in a unique index: the rows of a batch learn are appended in rowid
# order and only the small (kb, name) and (kb, rev) index entries land at random places. As a
# WITHOUT ROWID table keyed by (kb, name) every row landed at a random page and the rev index
# repeated the whole key: batch learns of 100,000 patterns took 1.7x the CPU (29,600 against
# 49,600 patterns per CPU-second in batches of 10,000, learn_many alone).
_PATTERNS_TABLE = """
CREATE TABLE IF NOT EXISTS kb_patterns (
    kb TEXT NOT NULL,
    name TEXT NOT NULL,
    events TEXT NOT NULL,
    frequency INTEGER NOT NULL,
    emotives TEXT NOT NULL,
    rev INTEGER NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    UNIQUE (kb, name)
);
"""

# Steps that bring an older file up to SCHEMA_VERSION (user_version -> statements). Version 2:
# pattern metadata (semantics §12.5); rows of version 1 read as ``{}``. Version 3: the
# finalize-training figures of §12.7 (a new table; a file without it has none stored). Version
# 4: kb_patterns as a rowid table (above), its rows copied in revision order; dropping the old
# table drops its rev index, which the schema creates again.
_MIGRATIONS = {
    1: "ALTER TABLE kb_patterns ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';",
    2: _TRAINING_TABLE,
    3: _PATTERNS_TABLE.replace("kb_patterns", "kb_patterns_v4")
    + """;
INSERT INTO kb_patterns_v4 (kb, name, events, frequency, emotives, rev, metadata)
    SELECT kb, name, events, frequency, emotives, rev, metadata FROM kb_patterns ORDER BY kb, rev;
DROP TABLE kb_patterns;
ALTER TABLE kb_patterns_v4 RENAME TO kb_patterns;
""",
}

_SCHEMA = (
    _PATTERNS_TABLE
    + """
CREATE TABLE IF NOT EXISTS kb_nodes (
    kb TEXT PRIMARY KEY,
    revision INTEGER NOT NULL DEFAULT 0,
    reset_revision INTEGER NOT NULL DEFAULT 0,
    pattern_count INTEGER NOT NULL DEFAULT 0,
    pattern_frequencies INTEGER NOT NULL DEFAULT 0,
    symbol_frequencies INTEGER NOT NULL DEFAULT 0,
    symbols_in_patterns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS kb_patterns_rev ON kb_patterns (kb, rev);
CREATE TABLE IF NOT EXISTS kb_symbols (
    kb TEXT NOT NULL,
    name TEXT NOT NULL,
    frequency INTEGER NOT NULL,
    pattern_member_frequency INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (kb, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kb_symbols_rev ON kb_symbols (kb, rev);
CREATE TABLE IF NOT EXISTS kb_deleted (
    kb TEXT NOT NULL,
    name TEXT NOT NULL,
    rev INTEGER NOT NULL,
    PRIMARY KEY (kb, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kb_deleted_rev ON kb_deleted (kb, rev);
CREATE TABLE IF NOT EXISTS kb_archive (
    kb TEXT NOT NULL,
    unique_id TEXT NOT NULL,
    predictions TEXT NOT NULL,
    PRIMARY KEY (kb, unique_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kb_owners (
    kb TEXT PRIMARY KEY,
    node_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kb_index_snapshots (
    kb TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS vectors (
    kb TEXT NOT NULL,
    name TEXT NOT NULL,
    vector TEXT NOT NULL,
    PRIMARY KEY (kb, name)
) WITHOUT ROWID;
"""
)
_SCHEMA += _TRAINING_TABLE
# kb_index_snapshots is a cache, not data: a node's in-memory index as bytes, valid at its
# revision (sqlite_kb.py). A rowid table, as its rows are megabytes. Created by every open, so
# it needs no schema version; older versions ignore it.


def _locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


class SQLiteDatabase:
    """One SQLite file shared by every node of a process (and by sibling processes).

    Each thread gets its own connection (sqlite3 connections must not be used by two
    threads at once); a connection inherited through ``fork`` is never reused.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        busy_timeout: float = 30.0,
        cache_mib: int | None = None,
    ) -> None:
        """``cache_mib``: each connection's page cache, when not SQLite's default (2 MiB)."""
        self.path = Path(path)
        self._cache_kib = cache_mib * 1024 if cache_mib else None
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Owner-only: SQLite gives the -wal and -shm files the database file's permissions.
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[tuple[int, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        self._closed = False
        # Idempotent, and under the write lock, so sibling processes may start together.
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            self._migrate(connection)
            # Statement by statement: executescript would commit the transaction first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @staticmethod
    def _migrate(connection: sqlite3.Connection) -> None:
        """Upgrade a file written by an older version (a new file has user_version 0 and no
        tables: the schema creates them at the current version)."""
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        while 0 < version < SCHEMA_VERSION:
            for statement in _MIGRATIONS[version].split(";"):
                if statement.strip():
                    connection.execute(statement)
            version += 1

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"SQLite database {self.path} is closed")
        if getattr(self._local, "pid", None) == os.getpid():
            connection: sqlite3.Connection = self._local.connection
            return connection
        # isolation_level=None: transactions are begun explicitly, never implicitly.
        connection = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        # Two processes opening a new file together: the switch to WAL can be refused at once,
        # without the busy handler (SQLite's deadlock avoidance while the other one converts
        # the file), so it is retried for as long as any other lock would be waited for.
        for attempt in Retrying(
            retry=retry_if_exception(_locked),
            stop=stop_after_delay(self._busy_timeout),
            wait=wait_fixed(0.01),
            reraise=True,
        ):
            with attempt:
                connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")  # durable at each WAL checkpoint
        # A checkpoint every 10,000 pages (~40 MiB of WAL) instead of SQLite's 1,000: a batch
        # learn of 10,000 patterns writes more than 1,000 pages, so with the default every
        # such commit also copied the WAL back and synced the file twice — half of
        # `kato learn`'s wall time in the store (benchmarks/README.md, learning figures).
        connection.execute("PRAGMA wal_autocheckpoint = 10000")
        if self._cache_kib:
            connection.execute(f"PRAGMA cache_size = -{self._cache_kib}")
        self._local.connection = connection
        self._local.pid = os.getpid()
        with self._all_lock:
            self._all.append((os.getpid(), connection))
        return connection

    def open_connections(self) -> int:
        """Connections this process holds open on the file (one per thread that used it)."""
        with self._all_lock:
            return sum(1 for pid, _ in self._all if pid == os.getpid())

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: the file's write lock is taken before the first read."""
        connection = self.connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one snapshot of the file."""
        connection = self.connection()
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            connections, self._all = self._all, []
        for pid, connection in connections:
            # A connection inherited through fork is left alone: closing it here could
            # checkpoint and remove the WAL the parent process is still using.
            if pid == os.getpid():
                connection.close()
