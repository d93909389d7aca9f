"""§12.5 observation and pattern metadata, from the text (issue 12 req 2)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState

GENES = Genes()


def seen(strings: list[str], metadata: dict[str, Any] | None = None) -> Observation:
    return replace(Observation.parse(strings), metadata=metadata or {})


def learn(node: Node, *observations: Observation) -> str:
    state = SessionState()
    for observation in observations:
        node.observe(state, observation, GENES)
    return node.learn(state, GENES)


def test_accumulated_objects_merge_into_sorted_distinct_strings_per_key() -> None:
    node = Node("n", InMemoryKnowledgeBase())
    name = learn(
        node,
        seen(["a"], {"source": "till-2", "n": 1}),
        seen(["b"], {"source": "till-1"}),
        seen(["c"], {"source": "till-2", "ok": True}),
    )
    assert node.get_pattern(name).to_record()["metadata"] == {
        "n": ["1"],
        "ok": ["true"],
        "source": ["till-1", "till-2"],
    }


def test_a_relearn_unions_the_stored_lists() -> None:
    node = Node("n", InMemoryKnowledgeBase())
    learn(node, seen(["a"], {"source": "s2"}), seen(["b"]))
    name = learn(node, seen(["a"], {"source": "s1", "user": "u"}), seen(["b"]))
    record = node.get_pattern(name)
    assert record.frequency == 2
    assert record.to_record()["metadata"] == {"source": ["s1", "s2"], "user": ["u"]}


def test_metadata_never_changes_the_hash_or_the_predictions() -> None:
    plain, tagged = Node("p", InMemoryKnowledgeBase()), Node("t", InMemoryKnowledgeBase())
    first = learn(plain, seen(["a"]), seen(["b"]), seen(["c"]))
    second = learn(tagged, seen(["a"], {"k": "v"}), seen(["b"], {"k": "w"}), seen(["c"]))
    assert first == second
    asked = SessionState(stm=[["a"], ["b"]])
    assert plain.predictions(asked, GENES) == tagged.predictions(asked, GENES)


def test_clear_stm_and_learn_empty_the_accumulator() -> None:
    node = Node("n", InMemoryKnowledgeBase())
    state = SessionState()
    node.observe(state, seen(["a"], {"k": "dropped"}), GENES)
    node.clear_stm(state)
    assert state.metadata == []
    node.observe(state, seen(["a"]), GENES)
    node.observe(state, seen(["b"], {"k": "kept"}), GENES)
    name = node.learn(state, GENES)
    assert state.metadata == []
    assert node.get_pattern(name).to_record()["metadata"] == {"k": ["kept"]}


def test_a_refused_observe_leaves_the_accumulator_as_it_was() -> None:
    node = Node("n", InMemoryKnowledgeBase())
    state = SessionState()
    node.observe(state, seen(["a"], {"k": "1"}), GENES)

    def refuse(_: SessionState) -> None:
        raise RuntimeError("over the session cap")

    with pytest.raises(RuntimeError):
        node.observe(state, seen(["b"], {"k": "2"}), GENES, check=refuse)
    assert state.metadata == [{"k": "1"}]


def test_auto_learn_carries_the_metadata_too() -> None:
    node = Node("n", InMemoryKnowledgeBase())
    genes = GENES.replace({"max_pattern_length": 2, "stm_mode": "CLEAR"})
    state = SessionState()
    node.observe(state, seen(["a"], {"k": "x"}), genes)
    outcome = node.observe(state, seen(["b"]), genes)
    assert outcome.auto_learned_pattern
    assert node.get_pattern(outcome.auto_learned_pattern).to_record()["metadata"] == {"k": ["x"]}
