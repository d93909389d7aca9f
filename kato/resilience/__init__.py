"""Resilience: circuit breakers, retries, overload limits and health checks.

:class:`Resilience` bundles one worker's breakers (one per dependency) and the health
checker, built from :class:`kato.config.ResilienceSettings`. Storage
adapters call their dependency through :meth:`Resilience.acall` / :meth:`Resilience.call`,
which apply breaker, timeout, error translation and — for idempotent operations only — the
retry policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

from kato.config import ResilienceSettings
from kato.resilience.circuit_breaker import BreakerState, CircuitBreaker, StateListener
from kato.resilience.errors import (
    CircuitOpenError,
    DependencyError,
    OverloadedError,
    ServiceUnavailableError,
)
from kato.resilience.health import DependencyStatus, HealthChecker, ReadinessReport
from kato.resilience.overload import ConcurrencyLimiter
from kato.resilience.retry import (
    async_redis_driver_retry,
    async_retrying,
    is_transient,
    redis_driver_retry,
    retrying,
)

__all__ = [
    "DEPENDENCIES",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "ConcurrencyLimiter",
    "DependencyError",
    "DependencyStatus",
    "HealthChecker",
    "OverloadedError",
    "ReadinessReport",
    "Resilience",
    "ServiceUnavailableError",
    "async_redis_driver_retry",
    "async_retrying",
    "is_transient",
    "redis_driver_retry",
    "retrying",
]

DEPENDENCIES: tuple[str, ...] = ("redis", "mongodb", "qdrant")

T = TypeVar("T")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__


class Resilience:
    """One worker's breakers and health checker."""

    def __init__(
        self,
        settings: ResilienceSettings,
        on_breaker_change: StateListener | None = None,
        dependencies: tuple[str, ...] = DEPENDENCIES,
    ) -> None:
        self.settings = settings
        self.breakers: dict[str, CircuitBreaker] = {
            name: CircuitBreaker(
                name,
                *settings.circuit_breaker.thresholds(name),
                is_failure=is_transient,
                on_state_change=on_breaker_change,
            )
            for name in dependencies
        }
        self.health = HealthChecker(settings.dependency_timeout, self.breakers)

    async def acall(
        self,
        service: str,
        operation: Callable[[], Awaitable[T]],
        *,
        idempotent: bool = False,
        bounded: bool = True,
        may_be_trial: bool = True,
    ) -> T:
        """Await ``operation()`` guarded by ``service``'s breaker and the dependency timeout.

        Transient failures surface as :class:`DependencyError`; an open breaker as
        :class:`CircuitOpenError`; anything else unchanged. ``idempotent=True`` adds the
        retry policy — never for operations the driver already retries (MongoDB).
        ``bounded=False`` drops the timeout for operations that may legitimately wait longer
        (a session lock waiting for its holder); the driver's socket timeouts still apply.
        ``may_be_trial=False``: refused unless the breaker is closed, never its half-open
        trial (see :meth:`CircuitBreaker.before_call`).
        """
        breaker = self.breakers[service]
        timeout = self.settings.dependency_timeout if bounded else None

        async def attempt() -> T:
            breaker.before_call(may_be_trial=may_be_trial)
            try:
                # A deadline on this task, not ``wait_for``'s task per call (Redis: every
                # session read and write); both raise TimeoutError at the deadline.
                async with asyncio.timeout(timeout):
                    result = await operation()
            except BaseException as exc:
                breaker.record_outcome(exc)
                if isinstance(exc, Exception):
                    self._raise_translated(service, exc)
                raise
            breaker.record_outcome(None)
            return result

        if not idempotent:
            return await attempt()
        return await async_retrying(self.settings.retry)(attempt)

    def call(self, service: str, operation: Callable[[], T], *, idempotent: bool = False) -> T:
        """Synchronous :meth:`acall`; the driver's socket timeouts bound the call's duration."""
        breaker = self.breakers[service]

        def attempt() -> T:
            with breaker:
                try:
                    return operation()
                except Exception as exc:
                    self._raise_translated(service, exc)

        if not idempotent:
            return attempt()
        return retrying(self.settings.retry)(attempt)

    @staticmethod
    def _raise_translated(service: str, exc: Exception) -> NoReturn:
        if isinstance(exc, ServiceUnavailableError) or not is_transient(exc):
            raise exc
        raise DependencyError(service, _describe(exc)) from exc
