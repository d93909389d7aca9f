"""``JSONEncoder.encode`` for the request log line and the audit record, its C encoder made once.

``encode`` builds a new C encoder per call, with a fresh dict of the containers being
encoded to detect a cycle (about a sixth of a line's encoding, profiled). These records are
built per call from scalars (and, in an audit record, one dict of counts), so they cannot
hold a cycle: one C encoder with the same settings and no such dict writes the same text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from _json import make_encoder


def record_encoder(settings: json.JSONEncoder) -> Callable[[dict[str, Any]], str]:
    """What ``settings.encode(record)`` returns, for a ``record`` without a cycle."""
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

    def encode(record: dict[str, Any]) -> str:
        return "".join(encode_chunks(record, 0))

    return encode
