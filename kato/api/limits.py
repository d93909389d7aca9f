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


def _exceeded(what: str, limit_name: str, limit: int, actual: int) -> LimitExceededError:
    return LimitExceededError(
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
    if len(strings) > limits.max_symbols_per_observation:
        raise _exceeded(
            "symbols in one observation",
            "max_symbols_per_observation",
            limits.max_symbols_per_observation,
            len(strings),
        )
    longest = max((len(symbol) for symbol in strings), default=0)
    if longest > limits.max_symbol_length:
        raise _exceeded("symbol length", "max_symbol_length", limits.max_symbol_length, longest)
    if len(vectors) > limits.max_vectors_per_observation:
        raise _exceeded(
            "vectors in one observation",
            "max_vectors_per_observation",
            limits.max_vectors_per_observation,
            len(vectors),
        )
    widest = max((len(vector) for vector in vectors), default=0)
    if widest > limits.max_vector_dimension:
        raise _exceeded(
            "vector dimension", "max_vector_dimension", limits.max_vector_dimension, widest
        )
    if len(emotives) > limits.max_emotives_per_observation:
        raise _exceeded(
            "emotives in one observation",
            "max_emotives_per_observation",
            limits.max_emotives_per_observation,
            len(emotives),
        )
    return Observation.parse(strings, vectors, emotives)


def check_sequence(
    observations: Iterable[ObservationIn], limits: LimitsSettings
) -> list[Observation]:
    batch = list(observations)
    if len(batch) > limits.max_observations_per_sequence:
        raise _exceeded(
            "observations in one sequence",
            "max_observations_per_sequence",
            limits.max_observations_per_sequence,
            len(batch),
        )
    return [check_observation(observation, limits) for observation in batch]


def check_metadata(metadata: dict[str, Any] | None, limits: LimitsSettings) -> None:
    if not metadata:
        return
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > limits.max_metadata_bytes:
        raise _exceeded(
            "session metadata bytes", "max_metadata_bytes", limits.max_metadata_bytes, size
        )


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
