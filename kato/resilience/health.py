"""Liveness, readiness and startup logic.

* live: the process runs its event loop (answering at all is the proof).
* startup: initialisation finished (stores opened, nodes registry ready).
* ready: startup finished, not shutting down, and every configured dependency answered its
  probe within the timeout while its breaker is not OPEN. A breaker whose recovery timeout
  has elapsed reads HALF_OPEN: the instance is ready to send it its trial call.

Probes are registered per dependency (``"redis" -> async callable``) by whoever opens the
connection, so this module knows no driver. Probes run concurrently, each bounded by the
timeout, so one hanging dependency can't make the readiness probe itself hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from kato.resilience.circuit_breaker import BreakerState, CircuitBreaker

Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class DependencyStatus:
    name: str
    status: str  # "ok" | "down" | "circuit_open"
    latency_ms: float
    breaker: str | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.status, "latency_ms": self.latency_ms}
        if self.breaker is not None:
            body["breaker"] = self.breaker
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass(frozen=True)
class ReadinessReport:
    ready: bool
    reason: str | None
    dependencies: dict[str, DependencyStatus] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "status": "ready" if self.ready else "not_ready",
            "dependencies": {name: dep.as_dict() for name, dep in self.dependencies.items()},
        }
        if self.reason is not None:
            body["reason"] = self.reason
        return body


class HealthChecker:
    """Runs the registered dependency probes and tracks the process lifecycle."""

    def __init__(
        self,
        timeout: float,
        breakers: Mapping[str, CircuitBreaker] | None = None,
    ) -> None:
        self.timeout = timeout
        self.breakers: Mapping[str, CircuitBreaker] = breakers or {}
        self._probes: dict[str, Probe] = {}
        self.started = False
        self.shutting_down = False

    def register(self, name: str, probe: Probe) -> None:
        """Add a configured dependency; its breaker, if any, is the one under the same name."""
        self._probes[name] = probe

    @property
    def dependencies(self) -> tuple[str, ...]:
        return tuple(self._probes)

    def mark_started(self) -> None:
        self.started = True

    def mark_shutting_down(self) -> None:
        self.shutting_down = True

    async def check_dependencies(self) -> dict[str, DependencyStatus]:
        names = list(self._probes)
        results = await asyncio.gather(*(self._check(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def readiness(self) -> ReadinessReport:
        if not self.started:
            return ReadinessReport(False, "starting")
        if self.shutting_down:
            return ReadinessReport(False, "shutting_down")
        dependencies = await self.check_dependencies()
        unhealthy = sorted(name for name, dep in dependencies.items() if not dep.healthy)
        reason = f"unavailable: {', '.join(unhealthy)}" if unhealthy else None
        return ReadinessReport(not unhealthy, reason, dependencies)

    async def _check(self, name: str) -> DependencyStatus:
        breaker = self.breakers.get(name)
        breaker_state = breaker.state if breaker is not None else None
        breaker_name = breaker_state.name.lower() if breaker_state is not None else None
        started = time.perf_counter()
        error: str | None = None
        try:
            await asyncio.wait_for(self._probes[name](), self.timeout)
        except TimeoutError:
            error = f"no answer within {self.timeout:g}s"
        except Exception as exc:  # any failure of a probe means "down", never a crash
            error = f"{type(exc).__name__}: {exc}"[:200]
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        if error is not None:
            status = "down"
        elif breaker_state is BreakerState.OPEN:
            status = "circuit_open"
        else:
            status = "ok"
        return DependencyStatus(name, status, latency_ms, breaker_name, error)
