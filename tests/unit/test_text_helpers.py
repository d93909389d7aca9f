"""The request path's cheap replacements of ``uuid.uuid4().hex`` and the log timestamps
write exactly what the standard library writes."""

from __future__ import annotations

import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
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


def test_uuid4_hex_threads_never_share_an_id() -> None:
    # Several pools' worth across threads: refills race, an id is still handed out once.
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: [uuid4_hex() for _ in range(1000)], range(8)))
    ids = [text for batch in batches for text in batch]
    assert len(set(ids)) == len(ids) == 8000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_uuid4_hex_forked_child_does_not_repeat_the_parents_ids() -> None:
    uuid4_hex()  # the pool now holds ids the child would inherit
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its ids to the parent, then out without any cleanup
        os.close(read_end)
        os.write(write_end, "".join(uuid4_hex() for _ in range(300)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    child = {text[start : start + 32] for start in range(0, len(text), 32)}
    parent = {uuid4_hex() for _ in range(300)}
    assert len(child) == 300 and not child & parent


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
