"""The prediction core is chosen automatically and reported; both cores score alike."""

from __future__ import annotations

import subprocess
import sys
from array import array

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core import matcher, pure_matchcore
from kato.core.genes import Genes
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.session_state import SessionState


def implementation_in_subprocess(code_before: str = "", **env: str) -> str:
    """What a fresh interpreter chooses (the choice is made once, at import)."""
    program = f"{code_before}\nfrom kato.core import matcher\nprint(matcher.implementation())"
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
        check=True,
    )
    return result.stdout.strip()


def test_compiled_core_serves_when_built() -> None:
    assert matcher.compiled is not None, "the test venv builds the C extension"
    assert implementation_in_subprocess() == "compiled"


def test_environment_variable_forces_the_fallback() -> None:
    assert implementation_in_subprocess(KATO_PURE_PYTHON="1") == "python"
    assert implementation_in_subprocess(KATO_PURE_PYTHON="0") == "compiled"


def test_missing_extension_falls_back_to_python() -> None:
    # A None entry in sys.modules makes the import fail as for an extension never built.
    hide_extension = "import sys; sys.modules['kato.core._matchcore'] = None"
    assert implementation_in_subprocess(hide_extension) == "python"


def test_the_fixture_switches_the_core_the_engine_uses(prediction_core: str) -> None:
    assert matcher.implementation() == prediction_core
    node, session, genes = Node("core", InMemoryKnowledgeBase()), SessionState(), Genes()
    session.stm = [["a"], ["b"], ["c"]]
    node.learn(session, genes)
    session.stm = [["a"], ["b"]]
    assert node.predictions(session, genes)[0]["future"] == [["c"]]


codes = st.lists(st.integers(-2, 5), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    patterns=st.lists(st.lists(codes, min_size=1, max_size=4), min_size=1, max_size=6),
    state=st.lists(st.integers(-2, 5), min_size=0, max_size=8),
    frequencies=st.lists(st.integers(1, 4), min_size=6, max_size=6),
    threshold=st.sampled_from([0.0, 0.2, 0.5, 1.0]) | st.floats(0.0, 1.0),
    keep=st.integers(1, 4),
)
def test_both_cores_score_raw_inputs_alike(
    patterns: list[list[list[int]]],
    state: list[int],
    frequencies: list[int],
    threshold: float,
    keep: int,
) -> None:
    """The index's flat arrays built by hand: negative state codes (unknown symbols), empty
    states, ties at the ``keep`` boundary (returned in any order inside a tie)."""
    assert matcher.compiled is not None
    flat, flat_offsets = array("i"), array("q", [0])
    bounds, bounds_offsets = array("i"), array("q", [0])
    for events in patterns:
        bounds.append(0)
        for event in events:
            flat.extend(abs(symbol) for symbol in event)  # stored patterns hold known ids
            bounds.append(len(flat) - flat_offsets[-1])
        flat_offsets.append(len(flat))
        bounds_offsets.append(len(bounds))
    member_frequency = array("q", [max(1, flat.count(symbol)) for symbol in range(6)])
    arguments = (
        array("i", state),
        flat,
        flat_offsets,
        bounds,
        bounds_offsets,
        array("q", frequencies[: len(patterns)]),
        member_frequency,
        len(flat),
        6,
        sum(frequencies[: len(patterns)]),
        np.arange(len(patterns), dtype=np.int64),
        threshold,
        keep,
    )
    compiled_best, compiled_count = matcher.compiled.score(*arguments)
    pure_best, pure_count = pure_matchcore.score(*arguments)
    assert pure_count == compiled_count
    assert sorted(pure_best, key=lambda item: (-item[1], item[0])) == sorted(
        compiled_best, key=lambda item: (-item[1], item[0])
    )
