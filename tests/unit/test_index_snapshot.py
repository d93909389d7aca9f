"""The persisted index snapshot (issue 10 req 5): a snapshot loads back into exactly the
index it was taken of, the SQLite store keeps it only while it is valid for the store's
revision, and a node started from it answers byte for byte as one that read every pattern."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.core.observation import Observation
from kato.engine.index import PatternIndex
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import _SETTLE_AFTER, Node
from kato.engine.ports import ChangeSet, LearnItem, PatternRecord, SymbolStats, Totals
from kato.engine.session_state import SessionState
from kato.storage import sqlite_kb
from kato.storage.sqlite_kb import _BLOB_CHUNK, SQLiteKnowledgeBase
from tests.unit.test_index_bulk_load import _changes, _records, _state


def _full_state(index: PatternIndex) -> dict[str, object]:
    views = {name: index.get(name) for name in index._slot_of}  # noqa: SLF001
    return {
        **_state(index),
        "revision": index.revision,
        "names": list(index._names),  # noqa: SLF001
        "symbol_names": list(index._symbol_names),  # noqa: SLF001
        "member_frequency": dict(index._member_frequency),  # noqa: SLF001
        "symbol_frequency": dict(index._symbol_frequency),  # noqa: SLF001
        "distinct": bytes(index._distinct_patterns_by_id),  # noqa: SLF001
        "firsts": {k: bytes(v) for k, v in index._first_symbol_slots.items()},  # noqa: SLF001
        "totals": index._totals,  # noqa: SLF001
        "views": views,
    }


def test_a_snapshot_loads_back_into_the_same_index() -> None:
    records = _records(400, seed=11)
    index = PatternIndex()
    index.apply(_changes(records, 1, reset=True))
    emotive = PatternRecord(records[1].name, records[1].events, 7, ({"joy": 0.25},))
    index.apply(
        ChangeSet(revision=2, reset=False, patterns=(emotive,), deleted=(records[0].name,),
                  symbols=(SymbolStats("s1", 9, 4),), totals=Totals(3, 2, 1))
    )  # fmt: skip
    loaded = PatternIndex.from_snapshot(index.snapshot())
    assert loaded is not None
    assert _full_state(loaded) == _full_state(index)
    symbol = emotive.events[0][0]
    assert loaded.affinities(symbol) == index.affinities(symbol) != {}
    assert loaded.vocabulary() == index.vocabulary()
    # Both keep growing the same way: a re-learn, a new pattern, a new symbol.
    extra = PatternRecord(pattern_hash((("new", "s2"),)), (("new", "s2"),), 1)
    for each in (index, loaded):
        each.apply(_changes([extra, records[5]], 3))
    assert _full_state(loaded) == _full_state(index)
    # Any string survives, a lone surrogate (a JSON escape an observation may carry) too.
    odd = PatternRecord(pattern_hash((("\ud800", "日本"),)), (("\ud800", "日本"),), 2)
    index.apply(_changes([odd], 4))
    again = PatternIndex.from_snapshot(index.snapshot())
    assert again is not None and _full_state(again) == _full_state(index)


def test_bytes_of_another_layout_are_no_snapshot() -> None:
    assert PatternIndex.from_snapshot(b"not a snapshot") is None
    assert PatternIndex.from_snapshot(PatternIndex().snapshot()[:100]) is None
    other = PatternIndex().snapshot().replace(b"format", b"layout")  # no format entry
    assert PatternIndex.from_snapshot(other) is None


def test_an_empty_index_round_trips() -> None:
    loaded = PatternIndex.from_snapshot(PatternIndex().snapshot())
    assert loaded is not None and _full_state(loaded) == _full_state(PatternIndex())


def _learn(kb: SQLiteKnowledgeBase, count: int, start: int = 0) -> None:
    items = []
    for number in range(start, start + count):
        events = ((f"a{number % 50}", f"b{number % 7}"), (f"c{number}",), (f"a{number % 13}",))
        items.append(LearnItem(pattern_hash(events), events))
    kb.learn_many(items, persistence=5)


def _predictions(node: Node) -> str:
    session = SessionState()
    for event in (["a1", "b1"], ["c1"]):
        node.observe(session, Observation.parse(event, None, None), Genes())
    return json.dumps(node.predictions(session, Genes()), sort_keys=True)


def test_the_store_keeps_a_snapshot_while_it_is_valid(tmp_path: Path) -> None:
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb")
    assert kb.index_snapshot() is None
    _learn(kb, 10)
    revision = kb.revision()
    kb.store_index_snapshot(revision, lambda out: out.write(b"data"))
    assert kb.index_snapshot() == (revision, b"data")
    kb.store_index_snapshot(
        revision - 1, lambda out: out.write(b"older")
    )  # an older one never replaces it
    assert kb.index_snapshot() == (revision, b"data")
    kb.store_index_snapshot(
        revision, lambda out: out.write(b"again")
    )  # one of the same revision does
    assert kb.index_snapshot() == (revision, b"again")
    _learn(kb, 1, start=10)  # still valid: the later changes are a catch-up away
    assert kb.index_snapshot() == (revision, b"again")
    kb.clear()
    assert kb.index_snapshot() is None
    kb.store_index_snapshot(
        kb.revision() + 1, lambda out: out.write(b"ahead")
    )  # not a revision the store had
    assert kb.index_snapshot() is None


def test_a_snapshot_larger_than_a_blob_chunk_is_kept_whole(tmp_path: Path) -> None:
    # Written into its row in chunks (incremental blob I/O): every byte, in order, and an
    # empty one too.
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb")
    _learn(kb, 3)
    data = bytes(range(256)) * (_BLOB_CHUNK // 256 * 2 + 3) + b"tail"
    kb.store_index_snapshot(kb.revision(), lambda out: out.write(data))
    assert kb.index_snapshot() == (kb.revision(), data)
    kb.store_index_snapshot(kb.revision(), lambda out: out.write(b""))
    assert kb.index_snapshot() == (kb.revision(), b"")
    kb.store_index_snapshot(kb.revision(), lambda out: out.write(b"x" * _BLOB_CHUNK))
    assert kb.index_snapshot() == (kb.revision(), b"x" * _BLOB_CHUNK)


def test_a_snapshot_that_cannot_be_spooled_is_not_kept(tmp_path: Path) -> None:
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb")
    _learn(kb, 3)
    kb.store_index_snapshot(kb.revision(), lambda out: out.write(b"kept"))

    def full_disk(out: object) -> None:
        raise OSError(28, "No space left on device")

    kb.store_index_snapshot(kb.revision(), full_disk)  # a cache: not kept, no error
    assert kb.index_snapshot() == (kb.revision(), b"kept")  # the transaction rolled back


def test_the_stored_snapshot_is_the_index_s_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spooled through a file (past its in-memory size) and copied in chunks: the stored bytes
    # are exactly `PatternIndex.snapshot()`.
    monkeypatch.setattr(sqlite_kb, "_SNAPSHOT_IN_MEMORY", 1 << 16)
    monkeypatch.setattr(sqlite_kb, "_BLOB_CHUNK", 5000)
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb")
    _learn(kb, 2000)
    node = Node("n", kb)
    node.keep_index_snapshot()
    stored = kb.index_snapshot()
    assert stored is not None and len(stored[1]) > 1 << 16
    assert stored == (kb.revision(), node.refresh().snapshot())


def test_a_node_started_from_the_snapshot_answers_as_a_full_load(tmp_path: Path) -> None:
    path = tmp_path / "kato.sqlite3"
    kb = SQLiteKnowledgeBase(path, "kb")
    _learn(kb, _SETTLE_AFTER + 200)
    first = Node("n", kb)
    expected = _predictions(first)  # a full load, which stores the snapshot
    stored = kb.index_snapshot()
    assert stored is not None and stored[0] == kb.revision()
    again = Node("n", SQLiteKnowledgeBase(path, "kb"))
    assert _predictions(again) == expected
    assert _full_state(again.refresh()) == _full_state(first.refresh())

    _learn(kb, 30, start=5_000)  # changes after the snapshot: caught up incrementally
    kb.delete_pattern(next(iter(kb.iter_patterns())).name)
    restarted = Node("n", SQLiteKnowledgeBase(path, "kb"))
    answer = _predictions(restarted)
    assert kb.index_snapshot() == stored  # a small catch-up does not rewrite it
    full = Node("n", SQLiteKnowledgeBase(path, "kb"))
    full._load_snapshot = lambda: False  # type: ignore[method-assign]  # noqa: SLF001
    assert answer == _predictions(full)
    assert restarted.refresh().pattern_count == full.refresh().pattern_count
    assert json.loads(expected)  # the first node predicted something


def test_a_snapshot_the_node_cannot_read_is_replaced_after_a_full_load(tmp_path: Path) -> None:
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb")
    _learn(kb, _SETTLE_AFTER)
    kb.store_index_snapshot(kb.revision(), lambda out: out.write(b"another layout"))
    full = Node("n", SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "kb"))
    full._load_snapshot = lambda: False  # type: ignore[method-assign]  # noqa: SLF001
    node = Node("n", kb)
    assert _predictions(node) == _predictions(full)
    stored = kb.index_snapshot()
    assert stored is not None and stored[1] != b"another layout"
    assert Node("n", kb)._load_snapshot()  # noqa: SLF001


def test_stores_that_keep_no_snapshot_never_build_one() -> None:
    def build(out: object) -> None:
        raise AssertionError("the snapshot was built")

    kb = InMemoryKnowledgeBase()
    kb.store_index_snapshot(0, build)
    assert kb.index_snapshot() is None
