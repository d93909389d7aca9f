"""One JSON Lines line parsed as ``json.loads`` parses it, at less cost (bulk commands and
imports parse a line per pattern).

``json.loads`` detects the encoding of bytes, decodes, checks for a byte-order mark, skips
whitespace twice and wraps the scanner in two calls: half of its cost on a short line.
``json_line`` calls the scanner directly for the common line and hands every other line, and
every error, to ``json.loads``: same values, same error messages
(tests/unit/test_import_fast_paths.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

# The scanner ``json.loads`` runs (the stdlib's C one when built), called directly; typeshed
# does not declare the attribute.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


_JSON_WHITESPACE = " \t\n\r"  # what json.loads skips after the value


def json_line(raw: bytes | str) -> Any:
    """``json.loads(raw)``: the scanner itself for a line that is an object first, UTF-8, at
    most whitespace after it (a file's lines end with their newline); ``json.loads`` for any
    other line (another encoding, whitespace first) and for every error."""
    text = raw if isinstance(raw, str) else _plain_utf8(raw)
    if text is not None and text[:1] == "{":
        # A line the scanner refuses is parsed again below, for json.loads's own error.
        with contextlib.suppress(StopIteration, ValueError):
            value, end = _scan_json(text, 0)
            if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
                return value
    return json.loads(raw)


def _plain_utf8(raw: bytes) -> str | None:
    """``raw`` decoded as ``json.loads`` decodes it, when it opens with "{" and a non-NUL
    byte (no BOM, so UTF-8 to its encoding detection); else None."""
    if raw[:1] != b"{" or raw[1:2] in (b"", b"\x00"):
        return None
    try:
        return raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None
