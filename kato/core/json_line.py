"""One JSON Lines line parsed as ``json.loads`` parses it, at less cost (bulk commands and
imports parse a line per pattern).

The common line, an object first in UTF-8, goes to ``pydantic_core.from_json`` (jiter):
about 1.8x ``json.loads`` on a sequence file's lines, 1.6x the stdlib scanner called
directly. jiter is stricter than ``json.loads``: it refuses lone surrogates (escaped or
encoded), integers of more than 4,300 digits, nesting deeper than 200 and whatever
``json.loads`` refuses; every value it accepts is the one ``json.loads`` gives (NaN and the
infinities, the last of duplicate keys, floats rounded alike, ``-0`` an int). A line it
refuses goes to ``json.loads``, so values and error messages are ``json.loads``'s
(tests/unit/test_import_fast_paths.py compares the two on generated lines).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic_core import from_json

# The longest integer jiter reads (its own limit, whatever Python's is).
_JITER_INT_DIGITS = 4300


def json_line(raw: bytes | bytearray | str) -> Any:
    """``json.loads(raw)``: jiter for a line that opens with "{" (as bytes, followed by a
    non-NUL byte: UTF-8 to ``json.loads``'s encoding detection, no byte-order mark);
    ``json.loads`` for any other line and any line jiter refuses."""
    if isinstance(raw, str):
        plain = raw[:1] == "{"
    else:
        plain = raw[:1] == b"{" and raw[1:2] not in (b"", b"\x00")
    # Under a lower int_max_str_digits, json.loads refuses integers jiter would read.
    if plain and not 0 < sys.get_int_max_str_digits() < _JITER_INT_DIGITS:
        try:
            # Keys cached (a file repeats a few), values not: faster than caching both.
            return from_json(raw, allow_inf_nan=True, cache_strings="keys")
        except (ValueError, TypeError):  # TypeError: a str it cannot encode (a lone surrogate)
            pass  # parsed again below, for json.loads's value or error
    return json.loads(raw)
