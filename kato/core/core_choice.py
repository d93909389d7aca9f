"""The one switch between the optional C extensions and their pure-Python fallbacks.

Each core (``matcher``, ``hashing``, ``tally``) serves its compiled extension when it was
built, unless ``KATO_PURE_PYTHON=1`` asks for the fallback (tests, or ruling out a core).
"""

from __future__ import annotations

import os

PURE_PYTHON_VARIABLE = "KATO_PURE_PYTHON"


def pure_python_requested() -> bool:
    return os.environ.get(PURE_PYTHON_VARIABLE, "").strip().lower() in {"1", "true", "yes"}
