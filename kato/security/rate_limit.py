"""Rate limits per principal, per session and global, with the ``limits`` library.

Storage is in-process memory by default and Redis when ``security.rate_limit_storage_url`` or
``database.redis.url`` is set, so every instance sharing that Redis shares the counters.
Strategy is moving window (exact) or fixed window (cheaper) from configuration.

``AdaptiveController`` lowers the *global* limit while this instance observes a p99 latency
or an error rate above the configured thresholds, and raises it back once they recover.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as LimitsStrategy,
)
from limits.storage import storage_from_string

from kato.config import RedisSettings, SecuritySettings

Scope = Literal["principal", "session", "global"]


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """Outcome of one request's check; ``headers()`` go on the response (429 or not)."""

    allowed: bool
    scope: Scope
    limit: int
    remaining: int
    reset_after: float  # seconds until the limiting window frees capacity

    def headers(self) -> dict[str, str]:
        reset = max(0, math.ceil(self.reset_after))
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(reset),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, reset))
        return headers


class AdaptiveController:
    """Scales the global limit by a factor in ``[min_factor, 1]`` from request outcomes.

    Fed with ``record(latency_seconds, is_error)`` after every request. At most once per
    ``window_seconds`` it looks at the outcomes of the last window: p99 latency above
    ``p99_threshold_seconds`` or error rate above ``error_rate_threshold`` halves the factor;
    both below their thresholds doubles it back (capped at 1). Halving/doubling keeps the set
    of effective limits small, which matters because ``limits`` keys counters by amount.
    """

    MIN_SAMPLES = 20  # fewer outcomes than this say nothing reliable about a p99

    def __init__(
        self,
        p99_threshold_seconds: float,
        error_rate_threshold: float,
        window_seconds: float = 10.0,
        min_factor: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.p99_threshold = p99_threshold_seconds
        self.error_rate_threshold = error_rate_threshold
        self.window = window_seconds
        self.min_factor = min_factor
        self._clock = clock
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=100_000)
        self._factor = 1.0
        self._last_decision = clock()

    def record(self, latency_seconds: float, is_error: bool) -> None:
        now = self._clock()
        self._samples.append((now, latency_seconds, is_error))
        if now - self._last_decision >= self.window:
            self._decide(now)

    @property
    def factor(self) -> float:
        return self._factor

    def observed(self) -> tuple[float, float, int]:
        """``(p99 latency seconds, error rate, sample count)`` over the current window."""
        cutoff = self._clock() - self.window
        recent = [(lat, err) for at, lat, err in self._samples if at > cutoff]
        if not recent:
            return 0.0, 0.0, 0
        latencies = sorted(lat for lat, _ in recent)
        p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)]
        error_rate = sum(1 for _, err in recent if err) / len(recent)
        return p99, error_rate, len(recent)

    def _decide(self, now: float) -> None:
        self._last_decision = now
        p99, error_rate, count = self.observed()
        while self._samples and self._samples[0][0] <= now - self.window:
            self._samples.popleft()
        if count < self.MIN_SAMPLES:
            return
        if p99 > self.p99_threshold or error_rate > self.error_rate_threshold:
            self._factor = max(self.min_factor, self._factor / 2)
        else:
            self._factor = min(1.0, self._factor * 2)

    def scale(self, item: RateLimitItem) -> RateLimitItem:
        if self._factor >= 1.0:
            return item
        amount = max(1, int(item.amount * self._factor))
        return type(item)(amount, item.multiples)


def storage_url(security: SecuritySettings, redis: RedisSettings) -> str:
    """The ``limits`` async storage URL: explicit, else the shared Redis, else memory.

    The shared Redis in cluster mode (``database.redis.cluster``) becomes ``limits``' cluster
    storage on the seed node: each counter is one key, so counters shard by their key.
    """
    if security.rate_limit_storage_url:
        url = security.rate_limit_storage_url
    elif redis.url and redis.cluster:
        # A cluster has no database number; TLS (rediss) is an option (_redis_tls_options).
        url = f"redis+cluster://{urlsplit(redis.url).netloc}"
    elif redis.url:
        url = redis.url
    else:
        return "async+memory://"
    return url if url.startswith("async+") else f"async+{url}"


def _redis_tls_options(redis: RedisSettings) -> dict[str, str | bool]:
    options = {
        "ssl_ca_certs": redis.tls_ca_file,
        "ssl_certfile": redis.tls_cert_file,
        "ssl_keyfile": redis.tls_key_file,
    }
    tls: dict[str, str | bool] = {name: value for name, value in options.items() if value}
    if redis.cluster and (redis.url or "").startswith("rediss://"):
        tls["ssl"] = True  # the cluster URL has no scheme to say so
    return tls


class RateLimiter:
    """Checks (and counts) one request against the principal, session and global limits."""

    def __init__(
        self,
        security: SecuritySettings,
        redis: RedisSettings | None = None,
        adaptive: AdaptiveController | None = None,
    ) -> None:
        redis = redis or RedisSettings()
        url = storage_url(security, redis)
        options: dict[str, Any] = {}
        if "redis" in url:
            # redis-py's asyncio client (already a dependency) rather than limits' default coredis.
            options = {"implementation": "redispy", **_redis_tls_options(redis)}
        self.storage: Storage = storage_from_string(url, **options)  # type: ignore[assignment]
        strategy = (
            MovingWindowRateLimiter
            if security.rate_limit_strategy == "moving-window"
            else FixedWindowRateLimiter
        )
        self._strategy: LimitsStrategy = strategy(self.storage)
        self.principal_limit = parse(security.rate_limit_principal)
        self.session_limit = parse(security.rate_limit_session)
        self.global_limit = parse(security.rate_limit_global)
        self.adaptive = adaptive

    async def check(self, principal: str, session_id: str | None = None) -> RateLimitDecision:
        """Count the request against the principal limit, the session limit (when
        ``session_id`` is given) and the global limit; stops at the first exhausted one.

        Scopes are taken narrowest first so a principal over its own limit does not consume
        global capacity that well-behaved callers could use. HTTP requests pass no session:
        their session is counted by ``check_session`` once ownership has passed.
        """
        global_limit = (
            self.adaptive.scale(self.global_limit) if self.adaptive else self.global_limit
        )
        checks = [self._scope("principal", self.principal_limit, principal)]
        if session_id:
            checks.append(self._scope("session", self.session_limit, session_id))
        checks.append(("global", global_limit, ("kato", "global")))
        return await self._count(checks)

    async def check_session(self, session_id: str) -> RateLimitDecision:
        """Count one request on ``session_id`` (the caller is known to be allowed on it, so a
        stranger's requests to the id never use up its owner's quota)."""
        return await self._count([self._scope("session", self.session_limit, session_id)])

    @staticmethod
    def _scope(
        scope: Scope, item: RateLimitItem, name: str
    ) -> tuple[Scope, RateLimitItem, tuple[str, ...]]:
        return scope, item, ("kato", scope, name)

    async def _count(
        self, checks: list[tuple[Scope, RateLimitItem, tuple[str, ...]]]
    ) -> RateLimitDecision:
        """Hit each scope in order: the first denial, else the decision with least left."""
        tightest: RateLimitDecision | None = None
        for scope, item, identifiers in checks:
            allowed = await self._strategy.hit(item, *identifiers)
            stats = await self._strategy.get_window_stats(item, *identifiers)
            decision = RateLimitDecision(
                allowed=allowed,
                scope=scope,
                limit=item.amount,
                remaining=stats.remaining,
                reset_after=max(0.0, stats.reset_time - time.time()),
            )
            if not allowed:
                return decision
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        assert tightest is not None  # every caller passes at least one scope
        return tightest
