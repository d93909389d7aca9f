"""Small shared helpers for the engine unit tests: one node, one session, one set of genes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node, ObserveOutcome
from kato.engine.session_state import SessionState

FLOAT_FIELDS = (
    "potential",
    "evidence",
    "similarity",
    "fragmentation",
    "snr",
    "entropy",
    "hamiltonian",
    "grand_hamiltonian",
    "confluence",
    "confidence",
    "itfdf_similarity",
)
PREDICTION_FIELDS = (
    "type",
    "name",
    "frequency",
    "emotives",
    "matches",
    "past",
    "present",
    "missing",
    "extras",
    *FLOAT_FIELDS[:9],
    "sequence",
    "future",
    *FLOAT_FIELDS[9:],
)


@dataclass
class Engine:
    """A node with an in-memory knowledge base, driven through one session."""

    genes: Genes = field(default_factory=Genes)
    node: Node = field(default_factory=lambda: Node("test-node", InMemoryKnowledgeBase()))
    session: SessionState = field(default_factory=SessionState)

    def observe(
        self,
        strings: Any = None,
        vectors: Any = None,
        emotives: Any = None,
    ) -> ObserveOutcome:
        observation = Observation.parse(strings, vectors, emotives)
        return self.node.observe(self.session, observation, self.genes)

    def observe_events(self, *events: Sequence[str]) -> list[ObserveOutcome]:
        """Observe each event (a list of strings) in turn."""
        return [self.observe(list(event)) for event in events]

    def learn(self) -> str:
        return self.node.learn(self.session, self.genes)

    def learn_events(self, *events: Sequence[str]) -> str:
        """Observe the events, learn them, and leave the STM empty."""
        self.observe_events(*events)
        return self.learn()

    def predictions(self) -> list[dict[str, Any]]:
        return self.node.predictions(self.session, self.genes)

    def clear_stm(self) -> None:
        self.node.clear_stm(self.session)

    def snapshot(self) -> tuple[dict[str, Any], int]:
        """Everything a refused operation must leave untouched."""
        return self.session.to_dict(), self.node.knowledge_base.revision()

    def symbol_stats(self) -> dict[str, tuple[int, int]]:
        """symbol -> (frequency, pattern_member_frequency), read from the knowledge base."""
        changes = self.node.knowledge_base.changes_since(-1)
        return {s.name: (s.frequency, s.pattern_member_frequency) for s in changes.symbols}

    def totals(self) -> tuple[int, int, int]:
        totals = self.node.knowledge_base.totals()
        return (
            totals.pattern_frequencies,
            totals.symbol_frequencies,
            totals.symbols_in_patterns,
        )


def engine(**genes: Any) -> Engine:
    """A fresh engine with the given gene changes applied to the defaults."""
    return Engine(genes=Genes().replace(genes))


def assert_prediction(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Field-by-field comparison: exact for lists and ints, 1e-9 for floats (which must be
    real ``float`` values). ``expected`` must name every field of the prediction object."""
    assert tuple(actual) == PREDICTION_FIELDS
    assert set(expected) == set(PREDICTION_FIELDS)
    for key in PREDICTION_FIELDS:
        got, want = actual[key], expected[key]
        if key in FLOAT_FIELDS:
            assert type(got) is float, f"{key} is {type(got).__name__}"
            assert math.isclose(got, want, rel_tol=0, abs_tol=1e-9), f"{key}: {got!r} != {want!r}"
        else:
            assert type(got) is type(want), f"{key}: {type(got).__name__}"
            assert got == want, f"{key}: {got!r} != {want!r}"
