"""Survivors of §4.5 under the session's matching mode (semantics §12.14).

The one entry point the §12 prediction pipeline (``kato/engine/v3_predictions.py``) uses to
match candidates. Exact symbol matching goes through the index and the prediction core, as
the baseline does. ``use_token_matching: false`` selects the survivors by the character
similarity of the space-joined strings (RapidFuzz's ``fuzz.ratio`` / 100) and reports that
similarity; the blocks, and so matches, present and the other metrics, stay symbol-level.
``fuzzy_token_threshold > 0`` matches each state symbol a pattern lacks to that pattern's
most similar symbol (similarity ≥ the threshold, ties by name), so every pattern is matched
against its own state, and reports those pairs as ``anomalies``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from kato.core.genes import Genes
from kato.core.prediction import Scored
from kato.engine.index import PatternIndex

Anomaly = dict[str, object]


class Matched(NamedTuple):
    scored: list[Scored]  # the survivors returned (the ``keep`` best potentials and ties)
    survivors: int  # every survivor of the threshold
    # Per slot: the state as matched when it differs from the observed one (fuzzy tokens),
    # the non-identical pairs of that match, and the character similarity (character mode).
    states: Mapping[int, list[str]]
    anomalies: Mapping[int, list[Anomaly]]
    similarities: Mapping[int, float]


def match(
    index: PatternIndex,
    state: list[str],
    genes: Genes,
    keep: int,
    candidates: np.ndarray | None = None,
) -> Matched:
    """Match ``candidates`` (default: every pattern the mode could let survive)."""
    threshold = genes.recall_threshold
    similarities: dict[int, float] = {}
    if not genes.use_token_matching:
        pool = index.live_slots() if candidates is None else candidates
        similarities = _character_similarities(index, pool, state)
        candidates = np.array(
            [slot for slot in pool.tolist() if similarities[slot] >= threshold], dtype=np.int64
        )
        threshold = 0.0  # the character similarity was the test
    states: dict[int, list[str]] = {}
    anomalies: dict[int, list[Anomaly]] = {}
    if genes.fuzzy_token_threshold > 0:
        similar = _similar_symbols(index, state, genes.fuzzy_token_threshold)
        if candidates is None:
            # A survivor of a positive threshold holds a state symbol or a similar one.
            reachable = [*state, *(symbol for near in similar.values() for symbol, _ in near)]
            candidates = index.live_slots() if threshold <= 0.0 else index.slots_holding(reachable)
        for slot in candidates.tolist():
            fuzzy = _fuzzy_state(set(index.view(slot).flat), state, similar)
            if fuzzy is not None:
                states[slot], anomalies[slot] = fuzzy
    elif candidates is None:
        candidates = index.candidates(state, threshold)
    slot_states = {slot: index.state_ids(own) for slot, own in states.items()}
    scored, survivors = index.score(
        index.state_ids(state),
        candidates,
        threshold,
        keep,
        statistics=genes.statistics_rules,
        slot_states=slot_states,
    )
    return Matched(scored, survivors, states, anomalies, similarities)


def _character_similarities(
    index: PatternIndex, slots: np.ndarray, state: Sequence[str]
) -> dict[int, float]:
    """``fuzz.ratio / 100`` of each slot's joined symbols against the joined state."""
    slot_list = slots.tolist()
    if not slot_list:
        return {}
    ratios = process.cdist(
        [" ".join(state)],
        [index.text(slot) for slot in slot_list],
        scorer=fuzz.ratio,
        dtype=np.float64,
    )[0]
    return {slot: float(ratio) / 100.0 for slot, ratio in zip(slot_list, ratios, strict=True)}


def _similar_symbols(
    index: PatternIndex, state: Sequence[str], threshold: float
) -> dict[str, list[tuple[str, float]]]:
    """For each distinct state symbol, the other known symbols at similarity ≥ ``threshold``,
    most similar first, ties by name."""
    vocabulary = index.vocabulary()
    similar: dict[str, list[tuple[str, float]]] = {}
    for symbol in dict.fromkeys(state):
        found = process.extract(
            symbol, vocabulary, scorer=fuzz.ratio, score_cutoff=threshold * 100.0, limit=None
        )
        near = [(choice, ratio / 100.0) for choice, ratio, _ in found if choice != symbol]
        similar[symbol] = sorted(near, key=lambda pair: (-pair[1], pair[0]))
    return similar


def _fuzzy_state(
    pattern_symbols: set[str],
    state: Sequence[str],
    similar: Mapping[str, list[tuple[str, float]]],
) -> tuple[list[str], list[Anomaly]] | None:
    """The state with each symbol the pattern lacks replaced by the pattern's most similar
    symbol, and the distinct pairs replaced (in state order); None when nothing changes."""
    own: list[str] = []
    anomalies: dict[tuple[str, str], Anomaly] = {}
    for symbol in state:
        if symbol not in pattern_symbols:
            for candidate, similarity in similar[symbol]:
                if candidate in pattern_symbols:
                    anomalies.setdefault(
                        (symbol, candidate),
                        {"observed": symbol, "expected": candidate, "similarity": similarity},
                    )
                    symbol = candidate
                    break
        own.append(symbol)
    return (own, list(anomalies.values())) if anomalies else None
