"""The security layer reads and sets a header on a raw ASGI list as Starlette's views do."""

from __future__ import annotations

import random

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection

from kato.security.layer import _header, set_header

NAMES = [b"authorization", b"x-api-key", b"Authorization", b"x-trace-id", b"host", b"X-API-KEY"]
VALUES = [b"", b"Bearer abc", b" spaced ", b"\xe9\xff", b"k-1"]


def test_first_header_of_the_name_as_sent_decoded_latin_1() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        headers = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randrange(5))]
        scope = {"type": "http", "headers": headers}
        view = HTTPConnection(scope).headers
        for name in ("authorization", "x-api-key", "x-trace-id", "x-session-id"):
            assert _header(scope, name.encode()) == view.get(name)


def test_set_header_is_mutable_headers_setitem() -> None:
    rng = random.Random(9)
    for _ in range(3000):
        headers = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randrange(6))]
        ours, theirs = list(headers), list(headers)
        set_header(ours, b"x-api-key", b"new")
        MutableHeaders(raw=theirs)["X-API-Key"] = "new"
        assert ours == theirs
