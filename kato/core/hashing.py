"""Pattern and vector identities (semantics §1.6 and §1.7).

Both are SHA-1 digests of a Python/NumPy text rendering, kept bit-compatible with existing
KATO knowledge bases and clients (decision D12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

PATTERN_PREFIX = "PTRN|"
VECTOR_PREFIX = "VCTR|"


def pattern_hash(events: Sequence[Sequence[str]]) -> str:
    """Bare 40-hex identity of an event sequence: sha1 of ``str(list of lists)``."""
    text = str([list(event) for event in events])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def strip_pattern_prefix(name: str) -> str:
    return name[len(PATTERN_PREFIX) :] if name.startswith(PATTERN_PREFIX) else name


def vector_symbol(vectors: Sequence[Sequence[float]]) -> str:
    """``VCTR|`` symbol of the element-wise (left-fold) sum of an observation's vectors.

    The caller has validated that all vectors share one non-zero length; NumPy's default
    ``str()`` rendering is what the reference hashes, so NumPy renders it here too.
    """
    total = np.asarray(vectors[0], dtype=np.float64)
    for vector in vectors[1:]:
        total = total + np.asarray(vector, dtype=np.float64)
    return VECTOR_PREFIX + hashlib.sha1(_render(total).encode("utf-8")).hexdigest()


def _render(array: np.ndarray) -> str:
    """``str(array)`` under NumPy's *default* print options, whatever the global ones are:
    a library calling ``np.set_printoptions`` must never change a vector's identity."""
    return np.array2string(
        array,
        max_line_width=75,
        precision=8,
        suppress_small=False,
        separator=" ",
        threshold=1000,
        edgeitems=3,
        sign="-",
        floatmode="maxprec",
        formatter={},  # an empty mapping overrides any global formatter; None would not
        legacy=False,
    )
