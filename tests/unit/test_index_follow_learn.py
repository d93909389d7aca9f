"""A node's index follows its own batch learns (``Node.learn_many``) from what was learned,
without reading the batch back: the index it ends with holds what a catch-up from the store
builds (slots may be in another order, as between any two histories of catch-ups) and
predicts the same, and any other write in between leaves the batch to that catch-up."""

from __future__ import annotations

import random
from pathlib import Path

from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.engine.index import PatternIndex
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import KnowledgeBase, LearnItem
from kato.engine.session_state import SessionState
from kato.storage.sqlite_kb import SQLiteKnowledgeBase


def _batches(seed: int) -> list[list[LearnItem]]:
    """Batches with re-learns inside one batch and across batches, emotives, metadata, a
    multiple learn (``times``) and symbols first met in a later batch."""
    rng = random.Random(seed)
    known: list[LearnItem] = []
    batches = []
    for batch_number in range(4):
        symbols = [f"s{index}" for index in range(30 + 10 * batch_number)]
        batch: list[LearnItem] = []
        for _ in range(60):
            if known and rng.random() < 0.3:
                old = rng.choice(known)
                item = LearnItem(old.name, old.events)
            else:
                events = tuple(
                    tuple(sorted(rng.sample(symbols, rng.randint(1, 3))))
                    for _ in range(rng.randint(2, 5))
                )
                item = LearnItem(pattern_hash(events), events)
            if rng.random() < 0.2:
                item.emotives = ({"joy": round(rng.uniform(-1, 1), 3)},)
            if rng.random() < 0.1:
                item.metadata = {"source": (f"m{rng.randint(0, 3)}",)}
            if rng.random() < 0.05:
                item.times = 3
            batch.append(item)
            known.append(item)
        batches.append(batch)
    return batches


def _meaning(index: PatternIndex) -> dict[str, object]:
    """What an index holds, whatever order its slots are in."""
    symbols = index.vocabulary()
    return {
        "revision": index.revision,
        "totals": (index.pattern_count, index.symbols_in_patterns, index.unique_patterns),
        "patterns": {name: index.get(name) for name in index._slot_of},  # noqa: SLF001
        "symbols": {
            symbol: (
                index.symbol_frequency(symbol),
                index.member_frequency(symbol),
                index.patterns_with_symbol(symbol),
                len(index.first_symbol_slots(symbol)),
                index.affinities(symbol),
            )
            for symbol in symbols
        },
        "symbol_count": index.symbol_count,
    }


def _predictions(node: Node) -> list[object]:
    answers = []
    for stm in (["s1", "s2"], ["s3"], ["s4", "s5", "s6"]):
        session = SessionState()
        session.stm = [[symbol] for symbol in stm]
        answers.append(node.predictions(session, Genes()))
    return answers


def _caught_up(kb: KnowledgeBase) -> dict[str, object]:
    return _meaning(Node("reader", kb).refresh())


def test_the_followed_index_equals_a_catch_up_after_each_batch(tmp_path: Path) -> None:
    path = tmp_path / "kato.sqlite3"
    learner = Node("n", SQLiteKnowledgeBase(path, "kb"))
    reader = Node("n", SQLiteKnowledgeBase(path, "kb"))  # catches up by reading the store
    learner.refresh()  # current before the first batch: every batch is followed
    for batch in _batches(seed=5):
        learner.learn_many(batch, persistence=3)
        assert learner._index.revision == learner.knowledge_base.revision()  # noqa: SLF001
        assert _meaning(learner._index) == _meaning(reader.refresh())  # noqa: SLF001
        assert _predictions(learner) == _predictions(reader)
    # And what the store answers to a process starting from nothing.
    assert _meaning(learner.refresh()) == _caught_up(SQLiteKnowledgeBase(path, "kb"))


class _RacedStore(SQLiteKnowledgeBase):
    """Another process learns right after each of this store's batch learns."""

    other: SQLiteKnowledgeBase
    batches: list[list[LearnItem]]

    def learn_many(self, items, persistence, increments=None):  # type: ignore[no-untyped-def]
        records = super().learn_many(items, persistence, increments)
        if self.batches:
            self.other.learn_many(self.batches.pop(), persistence)
        return records


def test_a_write_from_elsewhere_leaves_the_batch_to_the_catch_up(tmp_path: Path) -> None:
    path = tmp_path / "kato.sqlite3"
    raced = _RacedStore(path, "kb")
    raced.other = SQLiteKnowledgeBase(path, "kb")
    first, second, third, fourth = _batches(seed=9)
    raced.batches = [fourth, second]
    learner = Node("n", raced)
    learner.refresh()
    learner.learn_many(first, persistence=3)  # then `second` lands from elsewhere
    assert learner._index.revision == 0  # noqa: SLF001 - not followed: the catch-up reads both
    learner.refresh()
    learner.learn_many(third, persistence=3)  # then `fourth`
    assert learner._index.revision == 2  # noqa: SLF001
    assert _meaning(learner.refresh()) == _caught_up(SQLiteKnowledgeBase(path, "kb"))
    assert learner._index.revision == 4  # noqa: SLF001


def test_an_index_behind_the_store_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "kato.sqlite3"
    learner = Node("n", SQLiteKnowledgeBase(path, "kb"))
    first, second, *_ = _batches(seed=4)
    SQLiteKnowledgeBase(path, "kb").learn_many(first, persistence=3)  # before the learner looked
    learner.learn_many(second, persistence=3)
    assert learner._index.revision == -1  # noqa: SLF001 - never loaded: left to the catch-up
    assert _meaning(learner.refresh()) == _caught_up(SQLiteKnowledgeBase(path, "kb"))


def test_a_store_counting_a_revision_per_item_is_caught_up_as_before() -> None:
    kb = InMemoryKnowledgeBase()
    learner = Node("n", kb)
    for batch in _batches(seed=3):
        learner.learn_many(batch, persistence=3)
    assert _meaning(learner.refresh()) == _caught_up(kb)
