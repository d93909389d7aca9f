"""The current UTC time as the log lines write it, its date and time part made once a second.

``datetime.now(UTC).isoformat()`` and ``time.strftime`` cost 2–3 µs each and run once or
twice per request (the request log line, the audit record); within one second only the
fraction changes.
"""

from __future__ import annotations

import time

_cached_second = -1
_cached_text = ""


def _second_text(second: int) -> str:
    global _cached_second, _cached_text
    if second != _cached_second:
        _cached_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _cached_second = second
    return _cached_text


def now_seconds_text() -> str:
    """``time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"``."""
    return _second_text(int(time.time())) + "Z"


def now_microseconds_text() -> str:
    """``datetime.now(UTC).isoformat()`` with ``Z`` for ``+00:00``: microseconds (floored, as
    ``datetime.now``), left out when they are zero, as ``isoformat`` does."""
    second, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    microseconds = nanoseconds // 1000
    fraction = f".{microseconds:06d}" if microseconds else ""
    return f"{_second_text(second)}{fraction}Z"
