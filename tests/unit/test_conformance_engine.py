"""Replays every golden conformance scenario against the engine (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from kato.core.errors import EmptySTMError
from kato.core.genes import Genes
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState
from tests.conformance_cases import GOLDEN, golden, prediction_mismatches, scenarios

pytestmark = [
    pytest.mark.usefixtures("prediction_core"),  # the compiled core and its fallback
    pytest.mark.skipif(
        not GOLDEN.exists(), reason=f"conformance data not found at {GOLDEN} (../shared absent)"
    ),
]


def replay(scenario: dict[str, Any]) -> list[str]:
    genes = Genes.from_mapping(golden()["genes"])
    node = Node("conformance", InMemoryKnowledgeBase())
    session = SessionState()
    problems: list[str] = []
    for step, op in enumerate(scenario["ops"]):
        kind, expect = op["op"], op.get("expect", {})
        where = f"{scenario['id']} op {step} {kind}"
        if kind == "new_node":
            continue
        if kind == "observe":
            observation = Observation.parse(op["strings"], op["vectors"], op["emotives"])
            outcome = node.observe(session, observation, genes)
            if outcome.time != expect["time"]:
                problems.append(f"{where}: time {outcome.time} != {expect['time']}")
        elif kind == "learn":
            if expect.get("error") == "empty_stm":
                before = session.to_dict()
                revision = node.knowledge_base.revision()
                with pytest.raises(EmptySTMError):
                    node.learn(session, genes)
                if session.to_dict() != before or node.knowledge_base.revision() != revision:
                    problems.append(f"{where}: refused learn changed state")
            else:
                name = node.learn(session, genes)
                if name != expect["pattern_name"]:
                    problems.append(f"{where}: {name!r} != {expect['pattern_name']!r}")
        elif kind == "clear_stm":
            node.clear_stm(session)
        elif kind == "predictions":
            problems += [
                f"{where}: {p}"
                for p in prediction_mismatches(
                    node.predictions(session, genes), expect["predictions"]
                )
            ]
        if "stm" in expect and session.stm != expect["stm"]:
            problems.append(f"{where}: stm {session.stm!r} != {expect['stm']!r}")
        if problems:
            break
    return problems


@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s["id"])
def test_scenario(scenario: dict[str, Any]) -> None:
    assert replay(scenario) == []
