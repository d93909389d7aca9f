"""Garbage collection out of the request path (kato/core/heap.py, issue 10 req 4)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kato.core import heap
from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Each test starts and ends with nothing frozen and the thresholds it found."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _learned(node: Node, count: int) -> None:
    for index in range(count):
        events = ((f"a{index}", f"b{index}"),)
        node.knowledge_base.learn(pattern_hash(events), events, None, 5)


def test_settle_freezes_what_is_alive(unfrozen: None) -> None:
    kept = [[index] for index in range(1000)]
    heap.settle()
    assert gc.get_freeze_count() >= len(kept)


def test_tune_for_serving_freezes_once_and_widens_the_young_generation(unfrozen: None) -> None:
    heap.tune_for_serving()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    gc.set_threshold(700, *gc.get_threshold()[1:])
    heap.tune_for_serving()  # a second app in the same process: nothing again
    assert gc.get_threshold()[0] == 700


def test_a_large_index_load_is_frozen_a_small_catch_up_is_not(unfrozen: None) -> None:
    node = Node("heap", InMemoryKnowledgeBase())
    _learned(node, 10)
    node.refresh()
    assert gc.get_freeze_count() == 0
    _learned(node, 1500)  # 1,500 new patterns: one catch-up of >= 1,000
    node.refresh()
    assert gc.get_freeze_count() > 0
    session = SessionState()
    session.stm = [["a3", "b3"]]
    assert node.predictions(session, Genes())[0]["name"] == pattern_hash((("a3", "b3"),))


def test_paused_stops_collection_and_restores_it(unfrozen: None) -> None:
    assert gc.isenabled()
    with heap.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()
