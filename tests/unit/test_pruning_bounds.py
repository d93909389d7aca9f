"""Pruning is exact (decision D2) and the compiled ranking is bit-identical (D3).

The shared-symbol bound never discards a pattern whose Ratcliff–Obershelp ratio reaches the
recall threshold, and the node's predictions equal those of a plain reference that scores
every stored pattern with ``difflib`` and the formulas of semantics §4.6–§4.13 written out
in Python, with no index, no pruning and no compiled code.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher
from itertools import accumulate
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.core.emotives import average_emotives
from kato.core.genes import Genes
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import PatternRecord
from kato.engine.session_state import SessionState

# Each test runs against the compiled core and its pure-Python fallback.
pytestmark = pytest.mark.usefixtures("prediction_core")

ALPHABET = "abcdefgh"
event = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3)
pattern_events = st.lists(event, min_size=1, max_size=6)
# The state may hold a symbol that no pattern has ("zz").
state_events = st.lists(
    st.lists(st.sampled_from([*ALPHABET, "zz"]), min_size=1, max_size=3), min_size=1, max_size=4
)
thresholds = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.floats(0.0, 1.0))


def ratio(pattern: Sequence[str], state: Sequence[str]) -> float:
    blocks = SequenceMatcher(None, pattern, state, autojunk=False).get_matching_blocks()
    return 2.0 * sum(block.size for block in blocks) / (len(pattern) + len(state))


def flat(events: Sequence[Sequence[str]]) -> list[str]:
    return [symbol for item in events for symbol in item]


def node_with(patterns: Sequence[Sequence[Sequence[str]]]) -> tuple[Node, list[str]]:
    node = Node("bounds", InMemoryKnowledgeBase())
    session, names = SessionState(), []
    for events in patterns:
        session.stm = [list(item) for item in events]
        names.append(node.learn(session, Genes()))
    return node, names


# -- the shared-symbol bound -----------------------------------------------------------------


@settings(max_examples=300)
@given(st.lists(pattern_events, min_size=1, max_size=8), state_events)
def test_bound_keeps_every_pattern_whose_ratio_reaches_the_threshold(
    patterns: list[list[list[str]]], stm: list[list[str]]
) -> None:
    node, names = node_with(patterns)
    index = node.refresh()
    state = flat(stm)
    for events, name in zip(patterns, names, strict=True):
        actual = ratio(flat(events), state)
        if not name or actual == 0:
            continue  # not stored (one symbol), or θ = 0 where nothing is pruned
        # θ equal to the pattern's own ratio is the tightest case the bound must pass.
        kept = {index.view(int(slot)).name for slot in index.candidates(state, actual)}
        assert name.removeprefix("PTRN|") in kept, (events, state, actual)


@settings(max_examples=100)
@given(st.lists(pattern_events, min_size=1, max_size=8), state_events, thresholds)
def test_bound_discards_only_patterns_below_the_threshold(
    patterns: list[list[list[str]]], stm: list[list[str]], threshold: float
) -> None:
    node, names = node_with(patterns)
    index = node.refresh()
    state = flat(stm)
    kept = {index.view(int(slot)).name for slot in index.candidates(state, threshold)}
    for events, name in zip(patterns, names, strict=True):
        if name and name.removeprefix("PTRN|") not in kept:
            assert ratio(flat(events), state) < threshold


# -- predictions: pruned and compiled vs plain reference ------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    patterns=st.lists(pattern_events, min_size=1, max_size=14),
    stm=state_events,
    threshold=thresholds,
    max_predictions=st.integers(1, 20),
    deletions=st.lists(st.integers(0, 13), max_size=3),
    zero_frequency=st.lists(st.integers(0, 13), max_size=2),
)
def test_predictions_equal_the_unpruned_python_reference(
    patterns: list[list[list[str]]],
    stm: list[list[str]],
    threshold: float,
    max_predictions: int,
    deletions: list[int],
    zero_frequency: list[int],
) -> None:
    node, names = node_with(patterns)  # repeated patterns are re-learned: frequency > 1
    genes = Genes(recall_threshold=threshold, max_predictions=max_predictions)
    for position in zero_frequency:
        if position < len(names) and node.knowledge_base.get_pattern(
            names[position].removeprefix("PTRN|")
        ):
            node.update_pattern(names[position], 0, [], genes)
    for position in deletions:
        if position < len(names) and node.knowledge_base.get_pattern(
            names[position].removeprefix("PTRN|")
        ):
            node.delete_pattern(names[position])
    state = flat(stm)
    if len(state) < 2:
        return
    session = SessionState(stm=stm)
    assert node.predictions(session, genes) == reference_predictions(node, state, genes)


@settings(max_examples=100, deadline=None)
@given(st.lists(pattern_events, min_size=1, max_size=14), state_events, thresholds)
def test_pruned_candidates_give_the_same_predictions_as_all_patterns(
    patterns: list[list[list[str]]], stm: list[list[str]], threshold: float
) -> None:
    node, _ = node_with(patterns)
    genes = Genes(recall_threshold=threshold, max_predictions=50)
    state = flat(stm)
    if len(state) < 2:
        return
    index = node.refresh()
    pruned = node._compute(index, state, genes)
    index.candidates = lambda state, threshold: index.live_slots()  # type: ignore[method-assign]
    assert node._compute(index, state, genes) == pruned


# -- the reference ---------------------------------------------------------------------------


def _round12(value: float) -> float:
    return round(float(value), 12)


def _h(p: float, base: int) -> float:
    return -p * math.log(p, base) if p > 0 and base > 1 else 0.0


def reference_predictions(node: Node, state: list[str], genes: Genes) -> list[dict[str, Any]]:
    """Semantics §4.6–§4.14 over every stored pattern, straight from the definitions."""
    everything = node.knowledge_base.changes_since(-1)
    member_frequency = {s.name: s.pattern_member_frequency for s in everything.symbols}
    t_sym = len(member_frequency)
    t_pf = everything.totals.pattern_frequencies
    t_sip = everything.totals.symbols_in_patterns

    scored = []
    for record in everything.patterns:
        pattern = flat(record.events)
        blocks = SequenceMatcher(None, pattern, state, autojunk=False).get_matching_blocks()[:-1]
        matched = sum(block.size for block in blocks)
        if 2.0 * matched / (len(pattern) + len(state)) >= genes.recall_threshold:
            scored.append(
                _present_range(record, pattern, [(b.a, b.b, b.size) for b in blocks], state)
            )
    if not scored:
        return []

    in_table = {symbol for item in scored for symbol in item["present_flat"]}

    def prob(symbol: str) -> float:
        if symbol not in in_table or t_sip <= 0:
            return 0.0
        return member_frequency.get(symbol, 0) / t_sip

    ensemble_frequency = sum(item["record"].frequency for item in scored)
    state_weights = {symbol: prob(symbol) * count for symbol, count in Counter(state).items()}
    state_norm = math.sqrt(sum(weight * weight for weight in state_weights.values()))
    for item in scored:
        item["itfdf"] = _itfdf(item, state_weights, state_norm, prob, ensemble_frequency)
        item["potential"] = _potential(item, len(state))
    scored.sort(key=lambda item: (-item["potential"], item["record"].name))
    return [_object(item, state, prob, t_sym, t_pf) for item in scored[: genes.max_predictions]]


def _present_range(
    record: PatternRecord, pattern: list[str], blocks: list[tuple[int, int, int]], state: list[str]
) -> dict[str, Any]:
    bounds = list(accumulate((len(item) for item in record.events), initial=0))
    if blocks:
        start = bisect_left(bounds, blocks[0][0])
        end = bisect_left(bounds, blocks[-1][0] + blocks[-1][2], lo=start)
        if start > 0 and state[blocks[0][1]] in record.events[start - 1]:
            start -= 1
    else:
        start, end = 0, len(record.events)
    return {
        "record": record,
        "pattern": pattern,
        "blocks": blocks,
        "start": start,
        "end": end,
        "present_flat": pattern[bounds[start] : bounds[end]],
        "matched": sum(block[2] for block in blocks),
    }


def _itfdf(
    item: dict[str, Any],
    state_weights: dict[str, float],
    state_norm: float,
    prob: Any,
    ensemble_frequency: int,
) -> float:
    if ensemble_frequency <= 0:
        return 0.0
    present = {s: prob(s) * c for s, c in Counter(item["present_flat"]).items()}
    present_norm = math.sqrt(sum(weight * weight for weight in present.values()))
    if state_norm == 0 or present_norm == 0:
        distance = 1.0
    else:
        dot = sum(weight * present.get(symbol, 0.0) for symbol, weight in state_weights.items())
        distance = 1 - dot / (state_norm * present_norm)
        if math.isnan(distance):
            distance = 1.0
    return _round12(1 - distance * item["record"].frequency / ensemble_frequency)


def _potential(item: dict[str, Any], state_count: int) -> float:
    matched, extras = item["matched"], state_count - item["matched"]
    evidence = matched / len(item["pattern"])
    present_length = len(item["present_flat"])
    confidence = matched / present_length if present_length else 0.0
    snr = (2 * matched - extras) / (2 * matched + extras) if 2 * matched + extras else 0.0
    phi = 1 / len(item["blocks"]) if item["blocks"] else 0.0
    return _round12((evidence + confidence) * snr + item["itfdf"] + phi)


def _object(
    item: dict[str, Any], state: list[str], prob: Any, t_sym: int, t_pf: int
) -> dict[str, Any]:
    record, present_flat, blocks = item["record"], item["present_flat"], item["blocks"]
    covered = {j + offset for _, j, size in blocks for offset in range(size)}
    matches = [state[j + offset] for _, j, size in blocks for offset in range(size)]
    extras = [symbol for position, symbol in enumerate(state) if position not in covered]
    matched = len(matches)
    counts = Counter(present_flat)
    size = len(present_flat)
    if present_flat:
        hamiltonian = sum(_h(counts[symbol] / size, t_sym) for symbol in present_flat)
        grand_hamiltonian = sum(_h(prob(symbol), t_sym) for symbol in counts)
        log_cp = sum(math.log10(prob(symbol) or 1e-10) for symbol in present_flat)
        combined = 10**log_cp
    else:
        hamiltonian = grand_hamiltonian = combined = 0.0
    events = [list(e) for e in record.events]
    snr_denominator = 2 * matched + len(extras)
    return {
        "type": "prototypical",
        "name": record.name,
        "frequency": record.frequency,
        "emotives": average_emotives(record.emotives),
        "matches": matches,
        "past": events[: item["start"]],
        "present": events[item["start"] : item["end"]],
        "missing": [symbol for symbol in present_flat if symbol not in set(matches)],
        "extras": extras,
        "potential": item["potential"],
        "evidence": matched / len(item["pattern"]),
        "similarity": 2.0 * matched / (len(item["pattern"]) + len(state)),
        "fragmentation": float(len(blocks) - 1),
        "snr": (2 * matched - len(extras)) / snr_denominator if snr_denominator else 0.0,
        "entropy": _round12(sum(_h(prob(symbol), 2) for symbol in present_flat)),
        "hamiltonian": _round12(hamiltonian),
        "grand_hamiltonian": _round12(grand_hamiltonian),
        "confluence": _round12((record.frequency / t_pf if t_pf else 0.0) * (1 - combined)),
        "sequence": events,
        "future": events[item["end"] :],
        "confidence": matched / size if size else 0.0,
        "itfdf_similarity": item["itfdf"],
    }
