"""Pattern and vector identities (semantics §1.6 and §1.7).

Both are SHA-1 digests of a Python/NumPy text rendering, kept bit-compatible with existing
KATO knowledge bases and clients (decision D12).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np

from kato.core.core_choice import pure_python_requested

PATTERN_PREFIX = "PTRN|"
VECTOR_PREFIX = "VCTR|"

Events = tuple[tuple[str, ...], ...]


def pure_pattern_hash(events: Sequence[Sequence[str]]) -> str:
    """Bare 40-hex identity of an event sequence: sha1 of ``str(list of lists)``."""
    text = str([list(event) for event in events])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _choose_pattern_hash() -> Callable[[Sequence[Sequence[str]]], str]:
    """The compiled ``kato.core._hashcore`` (optional extension, same text and digest, about
    3× faster) unless it was not built or ``KATO_PURE_PYTHON=1`` asks for the pure path."""
    if pure_python_requested():
        return pure_pattern_hash
    try:
        from kato.core._hashcore import pattern_hash as compiled
    except ImportError:  # installed without a C compiler
        return pure_pattern_hash
    return compiled


pattern_hash = _choose_pattern_hash()


def pure_string_events(observations: Sequence[Any], sort: bool) -> tuple[Events, str] | None:
    """The events of observations without vectors (their strings, each sorted when ``sort``,
    empty ones skipped) and their pattern hash; None when one has vectors (its vector symbol
    is part of its event). The batch learn path's per-observation loop, compiled when built."""
    if any(observation.vectors for observation in observations):
        return None
    events = tuple(
        [
            tuple(sorted(observation.strings)) if sort else observation.strings
            for observation in observations
            if observation.strings
        ]
    )
    return events, pure_pattern_hash(events)


def _choose_string_events() -> Callable[[Sequence[Any], bool], tuple[Events, str] | None]:
    # Compiled exactly when the pattern hash is: one switch for both.
    if pattern_hash is pure_pattern_hash:
        return pure_string_events
    from kato.core._hashcore import string_events as compiled

    return compiled


string_events = _choose_string_events()


def pure_list_events(events: Sequence[Sequence[str]], sort: bool) -> tuple[Events, str]:
    """``pure_string_events`` of events given as lists of strings (a checked sequence file's
    items: no observations are built for them): each non-empty one as a tuple, sorted when
    ``sort``, and their pattern hash."""
    kept = tuple([tuple(sorted(event)) if sort else tuple(event) for event in events if event])
    return kept, pure_pattern_hash(kept)


def _choose_list_events() -> Callable[[Sequence[Sequence[str]], bool], tuple[Events, str]]:
    if pattern_hash is pure_pattern_hash:
        return pure_list_events
    from kato.core._hashcore import list_events as compiled

    return compiled


list_events = _choose_list_events()


def pure_is_string_events(value: object) -> bool:
    """Whether ``value`` is an exact list of exact lists of exact ``str`` (a sequence file's
    events as JSON decodes them, any lengths): the check of every line of ``kato learn``'s
    files, compiled when built."""
    return (
        type(value) is list
        and set(map(type, value)) <= {list}
        and set(map(type, chain.from_iterable(value))) <= {str}
    )


def _choose_is_string_events() -> Callable[[object], bool]:
    if pattern_hash is pure_pattern_hash:
        return pure_is_string_events
    from kato.core._hashcore import is_string_events as compiled

    return compiled


is_string_events = _choose_is_string_events()


def pure_checked_events(events: object, max_symbol_length: int) -> tuple[Events, str] | None:
    """An import line's events as stored (tuples) and their pattern hash, or None unless a
    non-empty list of non-empty lists of symbols (non-empty strings of at most
    ``max_symbol_length`` characters; exact ``list`` and ``str``, as JSON decodes them). The
    import path's per-pattern check, compiled when built."""
    if type(events) is not list or not events or set(map(type, events)) != {list}:
        return None
    if not all(events):  # an empty event
        return None
    symbols = list(chain.from_iterable(events))
    if set(map(type, symbols)) != {str}:
        return None
    lengths = list(map(len, symbols))
    if min(lengths) == 0 or max(lengths) > max_symbol_length:
        return None
    checked = tuple(map(tuple, events))
    return checked, pure_pattern_hash(checked)


def _choose_checked_events() -> Callable[[object, int], tuple[Events, str] | None]:
    # Compiled exactly when the pattern hash is: one switch for all.
    if pattern_hash is pure_pattern_hash:
        return pure_checked_events
    from kato.core._hashcore import checked_events as compiled

    return compiled


checked_events = _choose_checked_events()


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
