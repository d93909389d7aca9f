"""The ``Idempotency-Key`` request header of the writes a client may retry (docs/API.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

IDEMPOTENCY_HEADER = "Idempotency-Key"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=256,
        pattern=r"^[!-~]+$",  # visible ASCII, e.g. a UUID
        description=(
            "Makes a retry safe: a repeat with the same key (within the session's idempotency "
            "window) returns the first request's answer and is not applied again."
        ),
    ),
]
