"""Survivors of §4.5 under the session's matching mode (semantics §12.14).

The one entry point the §12 prediction pipeline (``kato/engine/v3_predictions.py``) uses to
match candidates: exact symbol matching goes through the index and the prediction core, as
the baseline does; the other modes of §12.14 give the state as matched per pattern and the
``anomalies`` of fuzzy matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from kato.core.genes import Genes
from kato.core.prediction import Scored
from kato.engine.index import PatternIndex


class Matched(NamedTuple):
    scored: list[Scored]  # the survivors returned (the ``keep`` best potentials and ties)
    survivors: int  # every survivor of the threshold
    # Per slot, the state as matched when it differs from the observed one (fuzzy tokens),
    # and the non-identical pairs of a fuzzy match.
    states: Mapping[int, list[str]]
    anomalies: Mapping[int, list[dict[str, object]]]


def match(
    index: PatternIndex,
    state: list[str],
    genes: Genes,
    keep: int,
    candidates: np.ndarray | None = None,
) -> Matched:
    """Match ``candidates`` (default: the index's exact selection for ``state``)."""
    threshold = genes.recall_threshold
    if candidates is None:
        candidates = index.candidates(state, threshold)
    scored, survivors = index.score(
        index.state_ids(state), candidates, threshold, keep, statistics=genes.statistics_rules
    )
    return Matched(scored, survivors, {}, {})
