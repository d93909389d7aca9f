"""``JSONEncoder.encode`` for the request log line, the audit record and the memory store's
size bound, for less.

``encode`` builds a new C encoder per call, with a fresh dict of the containers being
encoded to detect a cycle. These values are built per call from scalars (an audit record
adds one dict of counts, the percept data a few lists), so they cannot hold a cycle:
:func:`record_encoder` makes one C encoder with the same settings and no such dict, which
writes the same text.

The two log records have fixed keys, so they are written as text around their values
(``kato.observability.logging``, ``kato.security.audit``): :func:`value_encoder` writes one
value as the encoder writes it inside an object — a string, ``None``, an int or a finite
float straight from the functions the C encoder calls for them, anything else by the C
encoder itself. Half the cost of the C encoder's walk over a ten-key dict (profiled: ~1.2
of ~2.4 µs a line).
"""

from __future__ import annotations

import json
import math
from _json import make_encoder
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any


def record_encoder(settings: json.JSONEncoder) -> Callable[[Any], str]:
    """What ``settings.encode(value)`` returns, for a ``value`` without a cycle."""
    if settings.indent is not None:
        raise ValueError("JSONEncoder.encode takes its C encoder only without an indent")
    encode_chunks = make_encoder(
        None,  # no cycle check (module docstring)
        settings.default,
        encode_basestring_ascii if settings.ensure_ascii else encode_basestring,
        None,  # the indent
        settings.key_separator,
        settings.item_separator,
        settings.sort_keys,
        settings.skipkeys,
        settings.allow_nan,
    )

    def encode(value: Any) -> str:
        return "".join(encode_chunks(value, 0))

    return encode


def value_encoder(settings: json.JSONEncoder) -> Callable[[Any], str]:
    """What ``settings`` writes for ``value`` as a member of an object (module docstring)."""
    encode = record_encoder(settings)
    escape = encode_basestring_ascii if settings.ensure_ascii else encode_basestring

    def encode_value(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return escape(value)
        if value is None:
            return "null"
        # The C encoder writes an int and a float with these two (bools are not ints here:
        # their type is bool); a NaN or an infinity is its own ``allow_nan`` business.
        if kind is int:
            return int.__repr__(value)
        if kind is float and math.isfinite(value):
            return float.__repr__(value)
        return encode(value)

    return encode_value
