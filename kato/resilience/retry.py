"""Retry policy (tenacity): exponential backoff with a cap, transient errors only.

Rules (docs/OBSERVABILITY.md, "Retries"):

* Only *transient* errors are retried: lost connections and timeouts of redis-py, pymongo,
  httpx (Qdrant's HTTP transport) and the builtin ``ConnectionError``/``TimeoutError``.
  Validation errors, "not found", duplicate keys and an open breaker are never retried.
* One retry loop per call, never stacked on a driver's own: pymongo already retries reads
  and writes once (``retryReads``/``retryWrites``), so MongoDB calls go through the breaker
  only. redis-py (>= 6) retries by default too; KATO builds its Redis clients with
  :func:`redis_driver_retry` (no driver retries) and applies this policy to idempotent
  commands only — re-sending a non-idempotent command after a timeout could apply it twice.
* The retry loop sits *outside* the breaker: every attempt is one breaker call, and once the
  breaker opens the loop stops at once (``CircuitOpenError`` is not transient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pymongo.errors
import redis.exceptions
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from kato.config import RetrySettings
from kato.resilience.errors import CircuitOpenError, DependencyError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (server still loading)
    redis.exceptions.TimeoutError,
    # A Redis Cluster failing over: slots without a primary, a node mid-migration, a demoted
    # primary refusing writes — gone once a replica is promoted (docs/OPERATIONS.md).
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.ReadOnlyError,
    pymongo.errors.ConnectionFailure,  # AutoReconnect, NetworkTimeout, server selection, pool
    httpx.TransportError,  # connect/read timeouts and network errors
    ConnectionError,
    TimeoutError,  # also asyncio.TimeoutError
)


def is_closed_connection(exc: BaseException) -> bool:
    """A driver writing to a connection that closed under it, reported as neither
    ``ConnectionError`` nor ``TimeoutError`` — seen with a Redis primary killed mid-failover:
    uvloop's ``RuntimeError`` "handler is closed" (MagicStack/uvloop#506), and redis-py's
    ``AttributeError`` when a concurrent disconnect dropped the stream writer of a connection
    still in its handshake (``None.writelines``, raised inside the ``redis`` package)."""
    if isinstance(exc, RuntimeError):
        return "handler is closed" in str(exc)
    if isinstance(exc, AttributeError) and exc.obj is None and exc.name == "writelines":
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        return frame is not None and str(frame.tb_frame.f_globals.get("__name__")).startswith(
            "redis."
        )
    return False


def is_transient(exc: BaseException) -> bool:
    """True for errors worth retrying: the dependency may answer the same call next time."""
    if isinstance(exc, CircuitOpenError):
        return False
    if isinstance(exc, DependencyError):
        return True
    if isinstance(exc, TRANSIENT_ERRORS) or is_closed_connection(exc):
        return True
    # qdrant-client wraps transport failures in ResponseHandlingException(source=...).
    source = getattr(exc, "source", None)
    return isinstance(source, BaseException) and isinstance(source, TRANSIENT_ERRORS)


def _policy(settings: RetrySettings, sleep: Callable[[float], Any] | None) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "stop": stop_after_attempt(settings.max_attempts),
        "wait": wait_exponential_jitter(
            multiplier=settings.initial_delay,
            max=settings.max_delay,
            exp_base=settings.backoff_factor,
            jitter=settings.initial_delay,
        ),
        "retry": retry_if_exception(is_transient),
        "reraise": True,  # callers see the last real error, not tenacity's RetryError
    }
    if sleep is not None:
        policy["sleep"] = sleep
    return policy


def retrying(settings: RetrySettings, *, sleep: Callable[[float], None] | None = None) -> Retrying:
    """A synchronous retry controller: ``retrying(s)(fn, *args)`` or ``for attempt in ...``."""
    return Retrying(**_policy(settings, sleep))


def async_retrying(
    settings: RetrySettings, *, sleep: Callable[[float], Any] | None = None
) -> AsyncRetrying:
    """The asyncio counterpart of :func:`retrying` (sleeps with ``asyncio.sleep``)."""
    return AsyncRetrying(**_policy(settings, sleep))


def redis_driver_retry() -> Retry:
    """redis-py ``retry=`` value that disables the driver's own retries (see module doc)."""
    return Retry(NoBackoff(), 0)


def async_redis_driver_retry() -> AsyncRetry:
    """:func:`redis_driver_retry` for ``redis.asyncio`` clients (they need the async class)."""
    return AsyncRetry(NoBackoff(), 0)
