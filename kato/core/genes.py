"""Genes: the learning and prediction parameters of semantics §6.2 (plus ``stm_mode``, §12.2).

Values are validated with their types and ranges; an unknown gene or a bad value is a
``GeneError`` listing every problem, and nothing is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from kato.core.errors import GeneError


class STMMode(StrEnum):
    BASELINE = "BASELINE"  # learn the whole STM, keep its last event (semantics §2.6)
    CLEAR = "CLEAR"  # learn the whole STM, then empty it (§12.2)
    ROLLING = "ROLLING"  # learn the whole STM, keep the last max_pattern_length-1 events


StrictInt = Annotated[int, Field(strict=True)]

# The metrics predictions can be ranked by (semantics §12.9), descending, ties by name.
RankMetric = Literal[
    "potential",
    "similarity",
    "evidence",
    "confidence",
    "snr",
    "fragmentation",
    "frequency",
    "normalized_entropy",
    "global_normalized_entropy",
    "itfdf_similarity",
    "confluence",
    "predictive_information",
    "bayesian_posterior",
    "bayesian_prior",
    "bayesian_likelihood",
    "tfidf_score",
    "weighted_similarity",
    "weighted_evidence",
    "weighted_confidence",
    "weighted_snr",
]


def integral_float_to_int(value: Any) -> Any:
    """JSON (and JSON Schema's "integer") does not tell 5.0 from 5: read it as 5. 5.5, strings
    and booleans are left for the strict integer check to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


StrictBool = Annotated[bool, Field(strict=True)]
# Floats accept JSON integers too (strict float mode still takes ints) but never strings,
# NaN or infinities.
UnitFloat = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]


class Genes(BaseModel):
    """Immutable, validated gene values. ``replace`` returns a validated copy."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    max_pattern_length: Annotated[StrictInt, Field(ge=0)] = 0
    persistence: Annotated[StrictInt, Field(ge=1, le=100)] = 5
    recall_threshold: UnitFloat = 0.1
    max_predictions: Annotated[StrictInt, Field(ge=1, le=10000)] = 100
    sort: StrictBool = True
    stm_mode: STMMode = STMMode.BASELINE
    indexer_type: Literal["VI"] = "VI"
    # Inert at the baseline (§6.2): accepted, validated and reported, with no effect.
    smoothness: Annotated[StrictInt, Field(ge=1, le=10)] = 3
    quiescence: Annotated[StrictInt, Field(ge=0, le=100)] = 3
    search_depth: Annotated[StrictInt, Field(ge=1, le=100)] = 10
    auto_act_method: Literal["none", "threshold", "adaptive"] = "none"
    auto_act_threshold: UnitFloat = 0.8
    always_update_frequencies: StrictBool = False
    process_predictions: StrictBool = True
    auto_learn_enabled: StrictBool = False
    auto_learn_threshold: Annotated[StrictInt, Field(ge=1)] = 50
    # Session lifecycle (§12.18): every access slides the expiry (3.x sessions' default).
    session_auto_extend: StrictBool = False
    # The later prediction features of §12, each one named setting (off = the v2 baseline;
    # sessions created on /sessions start with the 3.x values of kato/service/v3_config.py).
    missing_extras_by_event: StrictBool = False  # §12.6: missing / extras as lists of events
    entropy_metrics: Literal["baseline", "intrinsic"] = "baseline"  # §12.7
    predictive_information: StrictBool = False  # §12.8: the field and future_potentials
    rank_sort_algo: RankMetric = "potential"  # §12.9
    ensemble_prepruning: StrictBool = False  # §12.9: 3 x max_predictions by pre-potential
    extended_metrics: StrictBool = False  # §12.15 tfidf/Bayesian, §12.16 weighted_*, anomalies
    single_symbol_predictions: StrictBool = False  # §12.11
    statistics_rules: Literal["baseline", "distinct_patterns"] = "baseline"  # §12.12
    # §12.14: symbol-level matching, or character similarity of the space-joined strings;
    # fuzzy tokens (0 = off) match a state symbol to its most similar pattern symbol.
    use_token_matching: StrictBool = True
    fuzzy_token_threshold: UnitFloat = 0.0
    # §12.16: the emotive whose symbol affinities weight the matching metrics (None = off).
    affinity_emotive: Annotated[str, Field(min_length=1, max_length=256)] | None = None

    @property
    def later_predictions(self) -> bool:
        """Whether any §12 prediction feature is on (else the baseline path computes them)."""
        return (
            self.missing_extras_by_event
            or self.entropy_metrics != "baseline"
            or self.predictive_information
            or self.rank_sort_algo != "potential"
            or self.ensemble_prepruning
            or self.extended_metrics
            or self.single_symbol_predictions
            or self.statistics_rules != "baseline"
            or not self.use_token_matching
            or self.fuzzy_token_threshold > 0
            or self.affinity_emotive is not None
        )

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Genes:
        return cls().replace(values)

    def replace(self, changes: dict[str, Any]) -> Genes:
        """A copy with ``changes`` applied; every bad entry is reported at once."""
        if not isinstance(changes, Mapping):
            raise GeneError("genes must be an object of gene name to value")
        errors: list[str] = []
        if "sort_symbols" in changes and "sort" in changes:
            # Two spellings of one gene: silently keeping either value would hide a mistake.
            errors.append("sort_symbols: alias of sort, give only one of them")
        changes = {
            ("sort" if key == "sort_symbols" else key): value for key, value in changes.items()
        }
        if isinstance(changes.get("use_token_matching"), bool) and "sort" not in changes:
            # §12.3: setting use_token_matching without sort_symbols sets it alike.
            changes["sort"] = changes["use_token_matching"]
        changes = {
            key: integral_float_to_int(value) if key in _INTEGER_GENES else value
            for key, value in changes.items()
        }
        merged = {**self.model_dump(), **changes}
        try:
            genes = Genes.model_validate(merged)
        except pydantic.ValidationError as exc:
            errors += [_describe(error) for error in exc.errors()]
        if errors:
            raise GeneError("; ".join(errors), errors)
        return genes

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.model_fields)


_INTEGER_GENES = frozenset(
    name for name, field in Genes.model_fields.items() if field.annotation is int
)


def _describe(error: Any) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "genes"
    if error["type"] == "extra_forbidden":
        return f"Unknown gene: {location}"
    return f"{location}: {error['msg']}"
