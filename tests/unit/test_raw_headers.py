"""The security layer reads a header from the raw ASGI list as Starlette's view finds it."""

from __future__ import annotations

import random

from starlette.requests import HTTPConnection

from kato.security.layer import _header

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
