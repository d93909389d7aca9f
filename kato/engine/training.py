"""finalize-training (semantics §12.7): every pattern's whole-pattern figures, stored.

The three intrinsic entropy metrics and a TF vector are computed over the *whole* pattern
(not the part an observation matched) and kept in the knowledge base, so every process
serving the node reads the same figures at prediction time. Patterns are streamed from the
store and written back in bounded batches: memory holds one batch of figures, never the
node's patterns a second time (the probabilities come from the node's index).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from kato.core.genes import Genes
from kato.core.v3_metrics import intrinsic_entropies
from kato.engine.index import PatternIndex
from kato.engine.ports import KnowledgeBase, PatternRecord, TrainingFigures, symbol_counts

BATCH = 500  # patterns per write of figures

Probability = Callable[[str], float]


def term_frequencies(events: Iterable[Iterable[str]]) -> dict[str, float]:
    """TF vector of a pattern: each distinct symbol -> its count / the pattern's length."""
    counts = symbol_counts(events)
    length = sum(counts.values())
    return {symbol: count / length for symbol, count in counts.items()} if length else {}


def pattern_figures(record: PatternRecord, probability: Probability, t_sym: int) -> TrainingFigures:
    flat: Sequence[str] = [symbol for event in record.events for symbol in event]
    entropy, normalized, global_normalized = intrinsic_entropies(flat, probability, t_sym)
    return TrainingFigures(entropy, normalized, global_normalized, term_frequencies(record.events))


def symbol_probability(index: PatternIndex, genes: Genes) -> Probability:
    """``prob(s)`` under the session's ``statistics_rules``, from the node's index (the same
    figures predictions use): ``baseline`` = ``pattern_member_frequency(s) / T_sip`` (§4.11),
    ``distinct_patterns`` = patterns holding ``s`` / live patterns (§12.12)."""
    if genes.statistics_rules == "distinct_patterns":
        unique = index.unique_patterns

        def distinct(symbol: str) -> float:
            return index.patterns_with_symbol(symbol) / unique if unique else 0.0

        return distinct
    t_sip = index.symbols_in_patterns

    def baseline(symbol: str) -> float:
        return index.member_frequency(symbol) / t_sip if t_sip else 0.0

    return baseline


def finalize_training(
    knowledge_base: KnowledgeBase, index: PatternIndex, genes: Genes, batch: int = BATCH
) -> int:
    """Compute and store the figures of every pattern; the number of patterns processed."""
    probability, t_sym = symbol_probability(index, genes), index.symbol_count
    processed = 0
    pending: dict[str, TrainingFigures] = {}
    for record in knowledge_base.iter_patterns():
        pending[record.name] = pattern_figures(record, probability, t_sym)
        processed += 1
        if len(pending) >= batch:
            knowledge_base.store_training_figures(pending)
            pending = {}
    if pending:
        knowledge_base.store_training_figures(pending)
    return processed
