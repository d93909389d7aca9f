"""Session configuration as KATO 3.x clients read and write it (semantics §12.1, §12.3).

The session record keeps one configuration for both surfaces: gene overrides
(``Session.config``, validated by ``Genes``). This module only translates at the 3.x edge:

* key names: 3.x calls the ``sort`` gene ``sort_symbols`` (both are accepted, as on v2);
* ``stm_mode``: 3.x normalises an unknown mode *string* to ``CLEAR`` (logged) instead of
  refusing it; a non-string is still an error;
* defaults: a session created on ``/sessions`` starts from the 3.x defaults
  (``V3_SESSION_DEFAULTS``) for every gene the operator left at its built-in default.

Everything else (ranges, unknown keys) is the gene model's validation: every problem is
listed in one ``GeneError`` (400) and nothing is applied.
"""

from __future__ import annotations

import logging
from typing import Any

from kato.core.genes import Genes, STMMode

logger = logging.getLogger("kato.service.v3")

# §12.2: auto-learn empties STM (CLEAR); §12.18: every access slides the expiry.
# §12.6–§12.15: the later prediction features, each a setting (kato/core/genes.py).
V3_SESSION_DEFAULTS: dict[str, Any] = {
    "stm_mode": STMMode.CLEAR.value,
    "session_auto_extend": True,
    "missing_extras_by_event": True,
    "entropy_metrics": "intrinsic",
    "predictive_information": True,
    "ensemble_prepruning": True,
    "extended_metrics": True,
    "single_symbol_predictions": True,
    "statistics_rules": "distinct_patterns",
}

_V3_NAMES = {"sort": "sort_symbols"}  # gene name → the name 3.x uses for it


def v3_defaults(service_genes: Genes) -> dict[str, Any]:
    """The 3.x defaults that apply on top of the service's genes: those the operator did
    not set explicitly (an operator's explicit gene is the default on both surfaces)."""
    return {
        name: value
        for name, value in V3_SESSION_DEFAULTS.items()
        if name not in service_genes.model_fields_set
    }


def from_v3(changes: dict[str, Any]) -> dict[str, Any]:
    """3.x configuration changes as gene changes (validated later by ``Genes.replace``)."""
    translated = dict(changes)
    mode = translated.get("stm_mode")
    if isinstance(mode, str) and mode not in STMMode.__members__:
        logger.info("stm_mode %r is not a mode; normalised to CLEAR as 3.x does", mode)
        translated["stm_mode"] = STMMode.CLEAR.value
    return translated


def to_v3(genes: Genes) -> dict[str, Any]:
    """The effective configuration under 3.x key names (every setting, with its value)."""
    return {
        _V3_NAMES.get(name, name): value for name, value in genes.model_dump(mode="json").items()
    }
