"""The request path's cheap replacements of ``uuid.uuid4().hex`` and the log timestamps
write exactly what the standard library writes."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from kato.core import utc_text
from kato.core.random_ids import uuid4_hex

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_uuid4_hex_is_a_version_4_uuid_in_hex() -> None:
    seen = {uuid4_hex() for _ in range(2000)}
    assert len(seen) == 2000
    for text in seen:
        assert re.fullmatch(r"[0-9a-f]{32}", text)
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert parsed.hex == text


@pytest.mark.parametrize(
    "nanoseconds",
    [
        0,
        1_796_317_840_000_000_000,  # a whole second: no fraction, as isoformat
        1_796_317_840_000_000_999,  # under a microsecond past it: still none (floored)
        1_796_317_840_000_001_000,
        1_796_317_840_123_456_789,
        1_796_317_840_999_999_999,
        1_796_317_841_000_000_000,  # the next second, right after: the cache moves on
    ],
)
def test_microseconds_text_is_datetime_isoformat(
    monkeypatch: pytest.MonkeyPatch, nanoseconds: int
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: nanoseconds)
    expected = EPOCH + timedelta(microseconds=nanoseconds // 1000)
    assert utc_text.now_microseconds_text() == expected.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("seconds", [0.0, 1_796_317_840.0, 1_796_317_840.75, 1_796_317_841.2])
def test_seconds_text_is_strftime(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    monkeypatch.setattr(time, "time", lambda: seconds)
    assert utc_text.now_seconds_text() == (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + "Z"
    )
