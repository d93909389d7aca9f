"""Circuit breaker per dependency (CLOSED / OPEN / HALF_OPEN).

One breaker object guards both synchronous and asynchronous calls (``with breaker:`` and
``async with breaker:``), because the storage adapters mix both styles. After
``failure_threshold`` consecutive failures the breaker opens and refuses calls at once with
:class:`CircuitOpenError` carrying the remaining wait; after ``recovery_timeout`` it lets a
*single* trial call through (HALF_OPEN) while still refusing the others, so a dependency that
is still down costs one slow call per recovery period rather than a burst of them. The trial's
success closes the breaker; its failure reopens it for another full period.

Only exceptions accepted by ``is_failure`` count (by default: transient connection and
timeout errors, see :mod:`kato.resilience.retry`). Other exceptions mean the dependency
answered, so they count as success for the breaker and propagate unchanged.

Why not a library: see docs/OBSERVABILITY.md ("Circuit breakers").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import IntEnum
from types import TracebackType

from kato.resilience.errors import CircuitOpenError


class BreakerState(IntEnum):
    """Breaker states; the values are those exported by ``kato_circuit_breaker_state``."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


StateListener = Callable[[str, BreakerState], None]


def _every_exception(exc: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Thread-safe breaker usable as a sync or async context manager."""

    def __init__(
        self,
        service: str,
        failure_threshold: int,
        recovery_timeout: float,
        *,
        is_failure: Callable[[BaseException], bool] = _every_exception,
        on_state_change: StateListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or recovery_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and recovery_timeout > 0")
        self.service = service
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._is_failure = is_failure
        self._on_state_change = on_state_change
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        if on_state_change is not None:
            on_state_change(service, self._state)

    @property
    def state(self) -> BreakerState:
        """Current state; an OPEN breaker whose recovery timeout elapsed reads HALF_OPEN."""
        with self._lock:
            self._promote_if_recovery_due()
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float:
        """Seconds until the breaker will admit a trial call (0 when it admits calls now)."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return max(0.0, self._opened_at + self.recovery_timeout - self._clock())
            if self._state is BreakerState.HALF_OPEN and self._trial_in_flight:
                # The trial is running; its outcome is known within one call's timeout.
                return 1.0
            return 0.0

    # -- call protocol -------------------------------------------------------------------

    def before_call(self, *, may_be_trial: bool = True) -> None:
        """Admit the call or raise :class:`CircuitOpenError`.

        ``may_be_trial=False`` admits the call only while the breaker is closed: for calls
        that may wait on something other than the dependency's health (a session lock held
        by another request), which must not hold the half-open trial — while the trial runs,
        every other call is refused.
        """
        with self._lock:
            self._promote_if_recovery_due()
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.HALF_OPEN and not self._trial_in_flight and may_be_trial:
                self._trial_in_flight = True
                return
            if self._state is BreakerState.OPEN:
                wait = self._opened_at + self.recovery_timeout - self._clock()
            else:
                wait = 1.0
        raise CircuitOpenError(self.service, max(wait, 0.0))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state is BreakerState.HALF_OPEN:
                self._transition(BreakerState.CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._opened_at = self._clock()
                self._transition(BreakerState.OPEN)

    def record_outcome(self, exc: BaseException | None) -> None:
        """Classify how an admitted call ended."""
        if exc is None or (isinstance(exc, Exception) and not self._is_failure(exc)):
            self.record_success()
        elif isinstance(exc, Exception):
            self.record_failure()
        else:
            # Cancellation or interpreter exit: no verdict on the dependency; free the trial.
            with self._lock:
                self._trial_in_flight = False

    def reset(self) -> None:
        """Force CLOSED (operator action or tests)."""
        with self._lock:
            self._failures = 0
            self._transition(BreakerState.CLOSED)

    # -- context managers -----------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        self.before_call()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.record_outcome(exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- internals (called with the lock held) --------------------------------------------

    def _promote_if_recovery_due(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock() >= self._opened_at + self.recovery_timeout
        ):
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, new_state: BreakerState) -> None:
        self._trial_in_flight = False
        if new_state is self._state:
            return
        self._state = new_state
        if self._on_state_change is not None:
            self._on_state_change(self.service, new_state)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.service} {self._state.name} failures={self._failures}>"
