"""Predictions of sessions that use a later prediction feature (semantics §12.6–§12.16).

The baseline path (``Node._compute`` → ``kato.core.prediction``) is untouched; this module
starts from the same survivors and the same §4.14 objects and then applies each setting of
``Genes`` that is switched on. Every metric ``rank_sort_algo`` can name is computed for every
member of the ensemble, so ranking never depends on which fields are emitted; the object
then carries only the fields its settings ask for (docs/DECISIONS.md, "KATO 3.x
compatibility").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from kato.core import v3_metrics
from kato.core.genes import Genes
from kato.core.prediction import PatternView, Scored, prediction_objects
from kato.engine import v3_matching
from kato.engine.index import PatternIndex

_ENTROPY_FIELDS = ("entropy", "normalized_entropy", "global_normalized_entropy")
_BAYESIAN_FIELDS = ("bayesian_prior", "bayesian_likelihood", "bayesian_posterior")
_WEIGHTED_FIELDS = (
    "weighted_similarity",
    "weighted_evidence",
    "weighted_confidence",
    "weighted_snr",
)


class Figures(Protocol):
    """Entropy figures precomputed over a whole pattern by finalize-training (§12.7)."""

    @property
    def entropy(self) -> float: ...
    @property
    def normalized_entropy(self) -> float: ...
    @property
    def global_normalized_entropy(self) -> float: ...


class Sources(NamedTuple):
    """What the pipeline reads beyond the index: precomputed figures per pattern name."""

    figures: Callable[[str], Figures | None]


class Result(NamedTuple):
    predictions: list[dict[str, Any]]
    future_potentials: list[dict[str, Any]] | None  # None unless predictive_information


def compute(
    index: PatternIndex, stm: Sequence[Sequence[str]], genes: Genes, sources: Sources
) -> Result:
    """The ranked predictions (and §12.8 future potentials) for ``stm`` under ``genes``."""
    state = [symbol for event in stm for symbol in event]
    futures: list[dict[str, Any]] | None = [] if genes.predictive_information else None
    if not state or (len(state) == 1 and not genes.single_symbol_predictions):
        return Result([], futures)
    if len(state) == 1:
        return Result(_single_symbol(index, state[0], genes, sources), futures)

    # Every survivor is kept: the ensemble metrics of §12.8/§12.15 and any ranking metric
    # need the whole ensemble, not the core's top potentials.
    everything = max(index.pattern_count, 1)
    matched = v3_matching.match(index, state, genes, everything)
    limit = 3 * genes.max_predictions
    if genes.ensemble_prepruning and matched.survivors > limit:
        kept = _prepruned(index, state, matched.scored, limit)
        matched = v3_matching.match(index, state, genes, everything, candidates=kept)

    objects = [
        _object(index, index.view(item.slot), item, state, matched, stm, genes)
        for item in matched.scored
    ]
    # Member metrics that only their own ranking needs are computed for the returned ones.
    ranks_by_member_metric = genes.rank_sort_algo in (*_ENTROPY_FIELDS, "tfidf_score")
    if ranks_by_member_metric:
        for obj in objects:
            _member_metrics(obj, index, genes, sources)

    # The ensemble metrics, when emitted or ranking the predictions.
    future_list: list[dict[str, Any]] = []
    if genes.predictive_information or genes.rank_sort_algo == "predictive_information":
        information, future_list = v3_metrics.future_potentials(
            [(obj["frequency"], obj["similarity"], obj["future"]) for obj in objects]
        )
        for obj, value in zip(objects, information, strict=True):
            obj["predictive_information"] = value
    if genes.extended_metrics or genes.rank_sort_algo in _BAYESIAN_FIELDS:
        posterior = v3_metrics.bayesian(
            [obj["frequency"] for obj in objects], [obj["similarity"] for obj in objects]
        )
        for obj, bayes in zip(objects, posterior, strict=True):
            obj.update(zip(_BAYESIAN_FIELDS, bayes, strict=True))
    if genes.predictive_information:
        for obj in objects:
            # §12.8: the potential is the classic formula without the rounding of §4.12.
            obj["potential"] = _potential(obj, obj["itfdf_similarity"], _weighs(genes))

    ranked = _ranked(objects, genes.rank_sort_algo)[: genes.max_predictions]
    if not ranks_by_member_metric:
        for obj in ranked:
            _member_metrics(obj, index, genes, sources)
    return Result(
        [_emitted(obj, genes) for obj in ranked], future_list if futures is not None else None
    )


def _prepruned(
    index: PatternIndex, state: Sequence[str], scored: Sequence[Scored], limit: int
) -> np.ndarray:
    """The ``limit`` survivors with the best pre-potential (§12.9), ties by name."""

    def order(item: Scored) -> tuple[float, str]:
        return (-_pre_potential(index.view(item.slot), item, len(state)), index.name(item.slot))

    best = sorted(scored, key=order)[:limit]
    return np.array(sorted(item.slot for item in best), dtype=np.int64)


def _pre_potential(pattern: PatternView, item: Scored, state_length: int) -> float:
    """``(evidence + confidence) · snr + φ`` of §4.12 without ``itfdf_similarity``, exactly
    from the blocks: the matched symbols are distinct state positions, the rest are extras."""
    matched = sum(size for _, _, size in item.blocks)
    extras = state_length - matched
    present = pattern.bounds[item.present_end] - pattern.bounds[item.present_start]
    evidence = matched / len(pattern.flat) if pattern.flat else 0.0
    confidence = matched / present if present else 0.0
    denominator = 2 * matched + extras
    snr = (2 * matched - extras) / denominator if denominator else 0.0
    phi = 1.0 / len(item.blocks) if item.blocks else 0.0
    return (evidence + confidence) * snr + phi


def _object(
    index: PatternIndex,
    pattern: PatternView,
    item: Scored,
    observed: list[str],
    matched: v3_matching.Matched,
    stm: Sequence[Sequence[str]],
    genes: Genes,
) -> dict[str, Any]:
    """The §4.14 object of one member with the later metrics its ranking and the ensemble
    need (the others: ``_member_metrics``).

    ``matches`` and ``missing`` are of the state as matched to this pattern (§12.14's fuzzy
    tokens), ``extras`` name the observed symbols; a character-level match reports its
    character similarity."""
    state = matched.states.get(item.slot, observed)
    obj: dict[str, Any] = prediction_objects(state, [(pattern, item)])[0]
    if state is not observed:
        obj["extras"] = _unmatched(observed, item)
    if item.slot in matched.similarities:
        obj["similarity"] = matched.similarities[item.slot]
    obj["anomalies"] = list(matched.anomalies.get(item.slot, []))
    present_flat = _flat(obj["present"])
    obj["pattern_data"] = obj["sequence"]
    obj["length"] = len(pattern.flat)
    if genes.missing_extras_by_event:
        events = _events_of(state, stm)
        seen = events if state is observed else _events_of(observed, stm)
        _by_event(obj, present_flat, events, seen)
    _weighted(obj, index, pattern, state, genes)
    if genes.missing_extras_by_event or _weighs(genes):
        # The core's potential no longer holds: it follows the recomputed snr or the weights.
        obj["potential"] = round(_potential(obj, obj["itfdf_similarity"], _weighs(genes)), 12)
    return obj


def _member_metrics(
    obj: dict[str, Any], index: PatternIndex, genes: Genes, sources: Sources
) -> None:
    """The metrics of one member that neither the potential nor the ensemble needs (§12.7
    entropies, §12.15 tf-idf), each when it is emitted or ranks the predictions."""
    present_flat = _flat(obj["present"])
    if genes.entropy_metrics == "intrinsic" or genes.rank_sort_algo in _ENTROPY_FIELDS:
        _intrinsic_entropies(obj, index, obj["name"], present_flat, genes, sources)
    if genes.extended_metrics or genes.rank_sort_algo == "tfidf_score":
        obj["tfidf_score"] = v3_metrics.tfidf_score(
            present_flat, index.patterns_with_symbol, index.unique_patterns
        )


def _unmatched(observed: list[str], item: Scored) -> list[str]:
    """The observed symbols at the state positions no block covers (§4.14's extras)."""
    covered = {j for _, start, size in item.blocks for j in range(start, start + size)}
    return [symbol for j, symbol in enumerate(observed) if j not in covered]


def _events_of(state: list[str], stm: Sequence[Sequence[str]]) -> list[list[str]]:
    """``state`` cut into the STM's events (a per-pattern state keeps the STM's shape)."""
    events, position = [], 0
    for event in stm:
        events.append(state[position : position + len(event)])
        position += len(event)
    return events


def _by_event(
    obj: dict[str, Any],
    present_flat: list[str],
    stm: list[list[str]],
    observed: list[list[str]],
) -> None:
    """§12.6: ``missing`` per present event, ``extras`` per STM event (the observed symbols
    whose symbol as matched is not in the present); ``snr`` counts every extra of the
    sublists (the caller recomputes the potential from it)."""
    matches = set(obj["matches"])
    in_present = set(present_flat)
    obj["missing"] = [[s for s in event if s not in matches] for event in obj["present"]]
    obj["extras"] = [
        [seen for s, seen in zip(event, seen_event, strict=True) if s not in in_present]
        for event, seen_event in zip(stm, observed, strict=True)
    ]
    matched, extra = len(obj["matches"]), sum(map(len, obj["extras"]))
    denominator = 2 * matched + extra
    obj["snr"] = (2 * matched - extra) / denominator if denominator else 0.0


def _potential(obj: Mapping[str, Any], itfdf: float, weighted: bool = False) -> float:
    """§4.12's potential from the object's own fields, unrounded; with ``weighted`` from
    the affinity-weighted evidence, confidence and snr (§12.16)."""
    fragmentation = obj["fragmentation"]
    phi = 0.0 if fragmentation == -1.0 else 1.0 / (fragmentation + 1.0)
    prefix = "weighted_" if weighted else ""
    evidence, confidence = obj[prefix + "evidence"], obj[prefix + "confidence"]
    return float((evidence + confidence) * obj[prefix + "snr"] + itfdf + phi)


def _weighs(genes: Genes) -> bool:
    """Whether the potential uses the affinity-weighted metrics (§12.16)."""
    return genes.affinity_emotive is not None


def _intrinsic_entropies(
    obj: dict[str, Any],
    index: PatternIndex,
    name: str,
    present_flat: list[str],
    genes: Genes,
    sources: Sources,
) -> None:
    """§12.7 pattern-intrinsic entropies: finalize-training's figures when stored,
    otherwise computed from the present events. Kept apart from the baseline fields."""
    figures = sources.figures(name) if genes.entropy_metrics == "intrinsic" else None
    if figures is not None:
        values = (figures.entropy, figures.normalized_entropy, figures.global_normalized_entropy)
    else:
        values = v3_metrics.intrinsic_entropies(
            present_flat,
            lambda symbol: _probability(index, symbol, genes.statistics_rules),
            index.symbol_count,
        )
    obj["intrinsic"] = dict(zip(_ENTROPY_FIELDS, values, strict=True))


def _probability(index: PatternIndex, symbol: str, statistics: str) -> float:
    """``prob(s)`` of §4.11, or of §12.12 under the distinct-pattern statistics."""
    if statistics == "distinct_patterns":
        patterns = index.unique_patterns
        return index.patterns_with_symbol(symbol) / patterns if patterns else 0.0
    total = index.symbols_in_patterns
    return index.member_frequency(symbol) / total if total else 0.0


def _weighted(
    obj: dict[str, Any],
    index: PatternIndex,
    pattern: PatternView,
    state: Sequence[str],
    genes: Genes,
) -> None:
    """§12.16's ``weighted_*``: the base metrics with each symbol counted by its weight
    ``|affinity(t)| / frequency(t) + 0.01`` for the session's ``affinity_emotive``, which
    then replace the unweighted ones in the potential. Without one they equal the base
    metrics (the caller computes the potential)."""
    emotive = genes.affinity_emotive
    if emotive is None:
        for field in _WEIGHTED_FIELDS:
            obj[field] = obj[field.removeprefix("weighted_")]
        return

    def total(symbols: Sequence[str]) -> float:
        return math.fsum(_token_weight(index, symbol, emotive) for symbol in symbols)

    matched, extra = total(obj["matches"]), total(_flat(obj["extras"]))
    pattern_weight, present_weight = total(pattern.flat), total(_flat(obj["present"]))
    obj["weighted_similarity"] = 2.0 * matched / (pattern_weight + total(state))
    obj["weighted_evidence"] = matched / pattern_weight if pattern_weight else 0.0
    obj["weighted_confidence"] = matched / present_weight if present_weight else 0.0
    denominator = 2.0 * matched + extra
    obj["weighted_snr"] = (2.0 * matched - extra) / denominator if denominator else 0.0


def _token_weight(index: PatternIndex, symbol: str, emotive: str) -> float:
    """``w(t) = |affinity(t)| / frequency(t) + 0.01``; a symbol without statistics weighs
    0.01 (docs/DECISIONS.md)."""
    frequency = index.symbol_frequency(symbol)
    affinity = abs(index.affinity(symbol, emotive)) / frequency if frequency else 0.0
    return affinity + 0.01


def _flat(items: Sequence[Any]) -> list[str]:
    """A flat symbol list from a flat or event-structured (§12.6) list."""
    return [s for item in items for s in (item if isinstance(item, list) else [item])]


def _rank_value(obj: Mapping[str, Any], metric: str) -> float:
    if metric in ("normalized_entropy", "global_normalized_entropy"):
        return float(obj["intrinsic"][metric])
    return float(obj[metric])


def _ranked(objects: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """§12.9: descending by ``metric``, ties by ascending name (deterministic, D4)."""
    return sorted(objects, key=lambda obj: (-_rank_value(obj, metric), obj["name"]))


def _emitted(obj: dict[str, Any], genes: Genes) -> dict[str, Any]:
    """The object with the fields its settings emit (§4.14 plus the §12 additions)."""
    out = dict(obj)
    intrinsic = out.pop("intrinsic", {})
    if genes.entropy_metrics == "intrinsic":
        for baseline in ("hamiltonian", "grand_hamiltonian"):
            del out[baseline]
        out.update(intrinsic)
    if not genes.predictive_information:
        out.pop("predictive_information", None)
    if not genes.extended_metrics:
        dropped = ["tfidf_score", *_BAYESIAN_FIELDS, "pattern_data", "length"]
        if genes.affinity_emotive is None:
            dropped += _WEIGHTED_FIELDS
        if genes.fuzzy_token_threshold == 0:
            dropped.append("anomalies")
        for field in dropped:
            out.pop(field, None)
    return out


def _single_symbol(
    index: PatternIndex, symbol: str, genes: Genes, sources: Sources
) -> list[dict[str, Any]]:
    """§12.11: the patterns whose first symbol is ``symbol``, threshold 0, base fields only,
    flat ``past``/``present``/``future``, ``snr = m/(m+x)``, no ensemble metrics."""
    candidates = index.first_symbol_slots(symbol)
    scored, _ = index.score(
        index.state_ids([symbol]),
        candidates,
        0.0,
        max(len(candidates), 1),
        statistics=genes.statistics_rules,
    )
    objects = []
    for item in scored:
        pattern = index.view(item.slot)
        full: dict[str, Any] = prediction_objects([symbol], [(pattern, item)])[0]
        matched, extra = len(full["matches"]), len(full["extras"])
        present_flat = _flat(full["present"])
        obj: dict[str, Any] = {
            "name": full["name"],
            "frequency": full["frequency"],
            "emotives": full["emotives"],
            "matches": full["matches"],
            "past": _flat(full["past"]),
            "present": present_flat,
            "future": _flat(full["future"]),
            "missing": full["missing"],
            "extras": full["extras"],
            "similarity": full["similarity"],
            "evidence": full["evidence"],
            "confidence": full["confidence"],
            "snr": matched / (matched + extra) if matched + extra else 0.0,
            "fragmentation": full["fragmentation"],
            "anomalies": [],
            "pattern_data": full["sequence"],
            "length": len(pattern.flat),
        }
        _weighted(obj, index, pattern, [symbol], genes)
        obj["potential"] = _potential(obj, 0.0, _weighs(genes))
        objects.append(obj)
    # A ranking metric the fast path does not compute (an ensemble metric) ranks by potential.
    metric = genes.rank_sort_algo
    key = metric if objects and metric in objects[0] else "potential"
    ranked = sorted(objects, key=lambda obj: (-float(obj[key]), obj["name"]))
    return ranked[: genes.max_predictions]
