"""finalize-training (semantics §12.7): whole-pattern figures, stored in the knowledge base."""

from __future__ import annotations

import math

import pytest

from kato.core.genes import Genes
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import TrainingFigures
from kato.engine.session_state import SessionState
from kato.engine.training import term_frequencies


def trained_node() -> tuple[Node, str, str]:
    """Two patterns: [a b][a] and [c][d] (T_sym = 4, T_sip = 4, every member frequency 1)."""
    node = Node("n", InMemoryKnowledgeBase())
    session, genes = SessionState(), Genes()
    session.stm = [["a", "b"], ["a"]]
    first = node.learn(session, genes)
    session.stm = [["c"], ["d"]]
    second = node.learn(session, genes)
    return node, first, second


def test_tf_is_count_over_length() -> None:
    assert term_frequencies((("a", "b"), ("a",))) == {"a": 2 / 3, "b": 1 / 3}
    assert term_frequencies(()) == {}


def test_figures_over_the_whole_pattern_by_hand() -> None:
    node, first, second = trained_node()
    assert node.finalize_training(Genes()) == 2
    figures = node.training_figures(first)
    entropy = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)  # π = 2/3, 1/3
    assert figures is not None
    assert figures.entropy == pytest.approx(entropy)
    assert figures.normalized_entropy == pytest.approx(entropy / math.log2(4))  # log base T_sym
    # prob(s) = pattern_member_frequency / T_sip = 1/4 for a and b: 2 · (−¼ log₄ ¼) = ½.
    assert figures.global_normalized_entropy == pytest.approx(0.5)
    assert figures.tf == {"a": 2 / 3, "b": 1 / 3}
    assert node.training_figures(second.removeprefix("PTRN|")) == TrainingFigures(
        1.0, 0.5, 0.5, {"c": 0.5, "d": 0.5}
    )


def test_distinct_patterns_statistics_use_pattern_counts() -> None:
    node, first, _ = trained_node()
    node.finalize_training(Genes().replace({"statistics_rules": "distinct_patterns"}))
    figures = node.training_figures(first)
    # prob(s) = patterns holding s / live patterns = 1/2 for a and b: 2 · (−½ log₄ ½) = ½.
    assert figures is not None and figures.global_normalized_entropy == pytest.approx(0.5)


def test_figures_are_cleared_by_delete_and_clear_all() -> None:
    node, first, second = trained_node()
    node.finalize_training(Genes())
    node.delete_pattern(first)
    assert node.training_figures(first) is None
    assert node.training_figures(second) is not None
    node.clear_all()
    assert node.training_figures(second) is None


def test_an_empty_node_processes_nothing() -> None:
    assert Node("n", InMemoryKnowledgeBase()).finalize_training(Genes()) == 0


def test_batches_store_every_pattern() -> None:
    from kato.engine import training

    node, first, second = trained_node()
    assert training.finalize_training(node.knowledge_base, node.refresh(), Genes(), batch=1) == 2
    assert node.training_figures(first) is not None and node.training_figures(second) is not None
