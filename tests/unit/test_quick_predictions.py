"""``Node.quick_prediction_result``: the predictions the service may compute on the event loop
(kato/service/kato_service.py) are exactly ``prediction_result``'s, and it declines (None,
nothing changed) whenever the computation could be long or would need a catch-up."""

from __future__ import annotations

import asyncio
import threading

from kato.config import Settings
from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from kato.service.kato_service import KatoService
from kato.sessions.memory_store import MemorySessionStore

_NO_LIMIT = float("inf")


def _node() -> Node:
    node = Node("quick", InMemoryKnowledgeBase())
    learner = SessionState()
    for pattern in (
        [["a"], ["b"], ["c"], ["d"]],
        [["a", "x"], ["b"], ["e"]],
        [["b"], ["c"], ["f"]],
    ):
        learner.stm = [list(event) for event in pattern]
        node.learn(learner, Genes())
    return node


def _session(*events: list[str]) -> SessionState:
    session = SessionState()
    session.stm = [list(event) for event in events]
    return session


def test_declines_before_the_node_has_computed_once() -> None:
    node = _node()  # learned, never predicted: the index is not caught up either
    assert node.quick_prediction_result(_session(["a"], ["b"]), Genes(), _NO_LIMIT) is None


def test_computes_what_prediction_result_computes_once_the_index_is_current() -> None:
    node, other = _node(), _node()
    genes = Genes()
    node.prediction_result(_session(["c"], ["d"]), genes)  # caught up, one computation timed
    quick = node.quick_prediction_result(_session(["a"], ["b"]), genes, _NO_LIMIT)
    assert quick is not None
    assert quick.predictions  # something to compare
    assert quick == other.prediction_result(_session(["a"], ["b"]), genes)


def test_declines_a_computation_while_the_last_one_took_longer_than_the_budget() -> None:
    node = _node()
    genes = Genes()
    node.prediction_result(_session(["c"], ["d"]), genes)
    assert node.quick_prediction_result(_session(["a"], ["b"]), genes, 0.0) is None
    # A cached answer is still given: no computation at all.
    cached = node.quick_prediction_result(_session(["c"], ["d"]), genes, 0.0)
    assert cached is node.prediction_result(_session(["c"], ["d"]), genes)


def test_declines_when_the_store_has_changed_since_the_index() -> None:
    node = _node()
    genes = Genes()
    node.prediction_result(_session(["c"], ["d"]), genes)
    node.learn(_session(["g"], ["h"]), genes)  # a catch-up is due: that is a thread's work
    assert node.quick_prediction_result(_session(["a"], ["b"]), genes, _NO_LIMIT) is None
    assert node.quick_prediction_result(_session(["c"], ["d"]), genes, _NO_LIMIT) is None


def test_declines_while_another_thread_is_inside_the_node() -> None:
    node = _node()
    genes = Genes()
    node.prediction_result(_session(["c"], ["d"]), genes)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with node._lock:
            inside.set()
            leave.wait(timeout=10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(timeout=10)
        assert node.quick_prediction_result(_session(["c"], ["d"]), genes, _NO_LIMIT) is None
    finally:
        leave.set()
        holder.join(timeout=10)


def test_later_prediction_genes_are_answered_from_the_cache_only() -> None:
    node = _node()
    genes = Genes().replace({"predictive_information": True})
    assert genes.later_predictions
    node.prediction_result(_session(["c"], ["d"]), Genes())  # index current, timed
    assert node.quick_prediction_result(_session(["a"], ["b"]), genes, _NO_LIMIT) is None
    computed = node.prediction_result(_session(["a"], ["b"]), genes)
    assert node.quick_prediction_result(_session(["a"], ["b"]), genes, _NO_LIMIT) is computed


def test_nothing_to_predict_is_answered_at_once() -> None:
    node = _node()  # even before any computation: no store read, no lock
    result = node.quick_prediction_result(_session(["a"]), Genes(), 0.0)
    assert result is not None
    assert result.predictions == []


def _service(embedded: bool) -> KatoService:
    knowledge_base = _node().knowledge_base  # three patterns learned

    def open_storage(node_id: str) -> tuple[InMemoryKnowledgeBase, None]:
        return knowledge_base, None

    return KatoService(Settings(), MemorySessionStore(), open_storage, embedded)


async def _predict_twice(service: KatoService) -> None:
    """Two sessions' predictions: the first computation times the node, the second may not
    need a thread."""
    for events in ([["c"], ["d"]], [["a"], ["b"]]):
        session = await service.create_session("quick")
        for event in events:
            await service.observe(session.session_id, Observation.parse(event))
        await service.predictions(session.session_id)
    await service.close()


def _threads_computing(embedded: bool) -> list[str]:
    """The threads that ran ``_predict_twice``'s two computations."""
    computed_in: list[str] = []
    node_compute = Node._compute

    def spy(self: Node, *args: object) -> object:
        computed_in.append(threading.current_thread().name)
        return node_compute(self, *args)  # type: ignore[arg-type]

    Node._compute = spy  # type: ignore[method-assign,assignment]
    try:
        asyncio.run(_predict_twice(_service(embedded)))
    finally:
        Node._compute = node_compute  # type: ignore[method-assign]
    return computed_in


def test_the_service_computes_on_the_loop_only_with_an_embedded_store() -> None:
    loop_thread = threading.current_thread().name  # asyncio.run's loop runs here
    for embedded in (True, False):
        first, second = _threads_computing(embedded)
        assert first.startswith("kato-predict")  # no computation timed yet: a thread
        assert (second == loop_thread) is embedded
