"""Configurable request limits (``LimitsSettings``), checked before any state is touched.

``check_observation`` raises ``LimitExceededError`` (422 ``KATO_LIMIT_EXCEEDED``) naming the
limit; ``BodySizeLimitMiddleware`` answers 413 before a large body is even read in full.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kato.api.errors import error_response
from kato.api.schemas import ObservationIn
from kato.config import LimitsSettings
from kato.core.errors import LimitExceededError
from kato.core.observation import Observation


def _within(limits: LimitsSettings, limit_name: str, what: str, actual: int) -> None:
    """Raise ``LimitExceededError`` naming the limit when ``actual`` is above it."""
    limit: int = getattr(limits, limit_name)
    if actual > limit:
        raise LimitExceededError(
            f"{what}: {actual} exceeds {limit_name} = {limit}",
            limit=limit_name,
            maximum=limit,
            actual=actual,
        )


def check_observation(observation: ObservationIn, limits: LimitsSettings) -> Observation:
    """Check the configured bounds, then validate into an engine ``Observation``."""
    strings = observation.strings or []
    vectors = observation.vectors or []
    emotives = observation.emotives or {}
    longest = max((len(symbol) for symbol in strings), default=0)
    widest = max((len(vector) for vector in vectors), default=0)
    _within(limits, "max_symbols_per_observation", "symbols in one observation", len(strings))
    _within(limits, "max_symbol_length", "symbol length", longest)
    _within(limits, "max_vectors_per_observation", "vectors in one observation", len(vectors))
    _within(limits, "max_vector_dimension", "vector dimension", widest)
    _within(limits, "max_emotives_per_observation", "emotives in one observation", len(emotives))
    return Observation.parse(strings, vectors, emotives)


def check_sequence(
    observations: Iterable[ObservationIn], limits: LimitsSettings
) -> list[Observation]:
    batch = list(observations)
    _within(limits, "max_observations_per_sequence", "observations in one sequence", len(batch))
    return [check_observation(observation, limits) for observation in batch]


def check_metadata(metadata: dict[str, Any] | None, limits: LimitsSettings) -> None:
    if metadata:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
        _within(limits, "max_metadata_bytes", "session metadata bytes", size)


class BodySizeLimitMiddleware:
    """413 ``KATO_PAYLOAD_TOO_LARGE`` for a body over ``max_body_bytes``.

    A declared ``Content-Length`` is refused up front; a chunked body is counted as it
    streams, so a lying or absent length cannot get past the limit either. The streaming
    case raises ``HTTPException`` because FastAPI turns any other error raised while reading
    the body into a generic 400.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    def _message(self) -> str:
        return f"Request body exceeds max_body_bytes = {self.max_body_bytes}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                response = error_response(
                    413,
                    "KATO_PAYLOAD_TOO_LARGE",
                    self._message(),
                    {"limit": "max_body_bytes", "maximum": self.max_body_bytes},
                )
                await response(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)
