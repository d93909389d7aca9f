"""Node storage behind its breaker: a real pymongo client against a closed loopback port
fails with ``DependencyError`` then ``CircuitOpenError`` at once, and the knowledge base opens
and serves again (mongomock standing in for the MongoDB server that came back) once the
recovery timeout has passed — without re-creating the proxy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mongomock
import pytest
from pymongo import MongoClient

from kato.config import ResilienceSettings
from kato.resilience import CircuitOpenError, DependencyError, Resilience
from kato.resilience.storage import BreakerGuardedKnowledgeBase, BreakerGuardedVectorStore
from kato.storage.mongo_kb import MongoKnowledgeBase
from kato.storage.sqlite_db import SQLiteDatabase
from kato.storage.sqlite_vectors import SQLiteVectorStore
from tests.servers import free_port

RECOVERY_TIMEOUT = 0.2
NAME = "a" * 40


def resilience() -> Resilience:
    return Resilience(
        ResilienceSettings.model_validate(
            {
                "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": RECOVERY_TIMEOUT},
                "retry": {"max_attempts": 3, "initial_delay": 0.01},
            }
        )
    )


def unreachable_mongo() -> MongoClient[dict[str, Any]]:
    return MongoClient(
        f"mongodb://127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=100, connectTimeoutMS=100
    )


def test_mongodb_outage_trips_the_breaker_and_the_knowledge_base_reopens_after_it() -> None:
    guards = resilience()
    server: list[Any] = [unreachable_mongo()]
    opened: list[MongoKnowledgeBase] = []

    def open_knowledge_base() -> MongoKnowledgeBase:
        opened.append(MongoKnowledgeBase(server[0], "kato_guarded"))
        return opened[-1]

    knowledge_base = BreakerGuardedKnowledgeBase(open_knowledge_base, guards)
    assert opened == []  # nothing touches MongoDB until the node needs its knowledge base
    for _ in range(2):
        with pytest.raises(DependencyError) as failure:
            knowledge_base.revision()
        assert failure.value.code == "KATO_DATABASE_ERROR" and failure.value.service == "mongodb"
    started = time.perf_counter()
    with pytest.raises(CircuitOpenError) as refused:
        knowledge_base.learn(NAME, (("a",), ("b",)), None, 5)
    assert time.perf_counter() - started < 0.05  # refused without a server selection
    assert 0 < refused.value.retry_after <= RECOVERY_TIMEOUT

    server[0].close()
    server[0] = mongomock.MongoClient()  # MongoDB is back
    time.sleep(RECOVERY_TIMEOUT)
    assert knowledge_base.learn(NAME, (("a",), ("b",)), None, 5).frequency == 1
    assert knowledge_base.pattern_count() == 1 and len(opened) == 1
    assert guards.breakers["mongodb"].state.name == "CLOSED"


def test_answers_that_are_not_outages_pass_through_and_keep_the_breaker_closed() -> None:
    guards = resilience()
    knowledge_base = BreakerGuardedKnowledgeBase(
        lambda: MongoKnowledgeBase(mongomock.MongoClient(), "kato_answers"), guards
    )
    for _ in range(3):
        with pytest.raises(ValueError):
            knowledge_base.learn("not-a-hash", (("a",),), None, 5)
    assert knowledge_base.get_pattern(NAME) is None
    assert guards.breakers["mongodb"].state.name == "CLOSED"


def test_vector_store_calls_pass_the_qdrant_breaker(tmp_path: Path) -> None:
    database = SQLiteDatabase(tmp_path / "kato.sqlite3", 5.0)
    guards = resilience()
    vectors = BreakerGuardedVectorStore(SQLiteVectorStore(database, "kato_v"), guards)
    vectors.put("VCTR|x", [1.0, 2.0])
    assert vectors.get("VCTR|x") == [1.0, 2.0]
    guards.breakers["qdrant"].record_failure()
    guards.breakers["qdrant"].record_failure()
    with pytest.raises(CircuitOpenError):
        vectors.get("VCTR|x")
    database.close()
