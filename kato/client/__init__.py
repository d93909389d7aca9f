"""Python client SDK for the KATO HTTP API, blocking and asyncio, with one shared core.

    from kato.client import KatoClient

    with KatoClient("http://127.0.0.1:8000", api_key="kato_...") as kato:
        session = kato.create_session("alice")
        session.observe(["hello"])
        session.observe(["world"])
        session.learn()

``AsyncKatoClient`` has the same methods as coroutines. See docs/CLIENT.md.
"""

from kato.client._async import AsyncKatoClient, AsyncSession
from kato.client._shared import RetryPolicy, SessionInfo, observation, sequence
from kato.client._sync import KatoClient, Session
from kato.client.errors import (
    BadRequest,
    Conflict,
    EmptySTM,
    Forbidden,
    GatewayTimeout,
    GeneNotFound,
    KatoAPIError,
    KatoClientError,
    KatoConnectionError,
    LimitExceeded,
    NotFound,
    PatternNotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    SessionNotFound,
    Unauthorized,
    ValidationFailed,
)

__all__ = [
    "AsyncKatoClient",
    "AsyncSession",
    "BadRequest",
    "Conflict",
    "EmptySTM",
    "Forbidden",
    "GatewayTimeout",
    "GeneNotFound",
    "KatoAPIError",
    "KatoClient",
    "KatoClientError",
    "KatoConnectionError",
    "LimitExceeded",
    "NotFound",
    "PatternNotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "Session",
    "SessionInfo",
    "SessionNotFound",
    "Unauthorized",
    "ValidationFailed",
    "observation",
    "sequence",
]
