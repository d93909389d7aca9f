"""Bytes per pattern in each store, for the capacity plan (docs/OPERATIONS.md, issue 14 req 4).

Learns ``--patterns`` patterns (the engine benchmark's generator, seed 7) and prints:

- SQLite: growth of the database file (after a WAL checkpoint) per pattern;
- MongoDB: the BSON bytes of the documents the MongoDB adapter writes (patterns, symbols,
  metadata), per pattern — measured through mongomock, which stores the same documents a
  real server would; WiredTiger's compression and the indexes (``name``, ``rev``) are not
  in this figure (computed in the plan);
(The in-memory index per pattern is ``benchmarks/engine_bench.py``'s ``KiB/pattern``.)

    .venv/bin/python -m benchmarks.capacity_units --patterns 20000 --mongo-patterns 1000

(mongomock scans its collection on every query, so its learns grow quadratically: a few
thousand patterns are the practical limit for that figure.)
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import bson
import mongomock

from benchmarks.engine_bench import generate_patterns
from kato.core.genes import Genes
from kato.engine.node import Node
from kato.engine.ports import KnowledgeBase
from kato.engine.session_state import SessionState
from kato.storage.mongo_kb import MongoKnowledgeBase
from kato.storage.sqlite_kb import SQLiteKnowledgeBase


def learn_all(kb: KnowledgeBase, patterns: list[list[list[str]]]) -> Node:
    node, session, genes = Node("capacity", kb), SessionState(), Genes()
    for pattern in patterns:
        session.stm = [list(event) for event in pattern]
        node.learn(session, genes)
    return node


def sqlite_bytes(patterns: list[list[list[str]]], directory: Path) -> float:
    path = directory / "kato.sqlite3"
    learn_all(SQLiteKnowledgeBase(path, "capacity_kato"), [patterns[0]])
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    empty = path.stat().st_size
    learn_all(SQLiteKnowledgeBase(path, "capacity_kato"), patterns[1:])
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return (path.stat().st_size - empty) / (len(patterns) - 1)


def bson_bytes(patterns: list[list[list[str]]]) -> dict[str, float]:
    client: Any = mongomock.MongoClient()
    learn_all(MongoKnowledgeBase(client, "capacity_kato"), patterns)
    database = client[next(name for name in client.list_database_names() if "capacity" in name)]
    return {
        name: sum(len(bson.encode(doc)) for doc in database[name].find()) / len(patterns)
        for name in database.list_collection_names()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", type=int, default=20_000)
    parser.add_argument("--mongo-patterns", type=int, default=1_000)
    args = parser.parse_args()
    patterns = generate_patterns(args.patterns, seed=7)
    with tempfile.TemporaryDirectory() as directory:
        print(f"SQLite file growth per pattern:  {sqlite_bytes(patterns, Path(directory)):8.0f} B")
    per_collection = bson_bytes(patterns[: args.mongo_patterns])
    for name, size in sorted(per_collection.items()):
        print(f"MongoDB BSON per pattern, {name:<10} {size:8.0f} B")
    print(f"MongoDB BSON per pattern, total     {sum(per_collection.values()):8.0f} B")


if __name__ == "__main__":
    main()
