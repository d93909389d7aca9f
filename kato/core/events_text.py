"""The compact JSON text of a pattern's events, as the SQLite store keeps them.

``json.dumps(events, separators=(",", ":"), ensure_ascii=False)``, written by the compiled
``kato.core._hashcore`` when every symbol is an ASCII ``str`` (nearly always: about a tenth of
the pure encoder's time, which was a sixth of a batch learn's store step) and by the stdlib's
C encoder, built once, otherwise. Both are the same text (tests/unit/test_events_text.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from kato.core.core_choice import pure_python_requested

Events = Sequence[Sequence[str]]


def _pure_encoder() -> Callable[[Events], str]:
    """``JSONEncoder.encode`` builds the stdlib's C encoder anew on every call, half of its
    cost on a short list of lists of strings; this builds it once with the same options.
    Where the interpreter lacks the C encoder it is ``JSONEncoder.encode`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
    if make is None:
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    encode = make(None, None, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda events: "".join(encode(events, 0))  # type: ignore[no-any-return]


pure_events_json = _pure_encoder()


def _choose() -> Callable[[Events], str]:
    if pure_python_requested():
        return pure_events_json
    try:
        from kato.core._hashcore import ascii_events_json
    except ImportError:  # installed without a C compiler
        return pure_events_json

    def events_json(events: Events) -> str:
        text = ascii_events_json(events)
        return pure_events_json(events) if text is None else text

    return events_json


events_json = _choose()
