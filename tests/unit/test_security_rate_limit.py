"""Rate limits: hit and recovered (memory and a real Redis shared by two limiters), headers,
scopes, and the adaptive controller."""

from __future__ import annotations

import asyncio

import pytest

from kato.config import RedisSettings, SecuritySettings
from kato.security.rate_limit import (
    AdaptiveController,
    RateLimitDecision,
    RateLimiter,
    storage_url,
)
from tests.security_helpers import redis_server


def _limiter(redis_url: str | None = None, **fields) -> RateLimiter:
    settings = SecuritySettings(rate_limit_enabled=True, **fields)
    return RateLimiter(settings, RedisSettings(url=redis_url))


async def _wait_until_allowed(limiter: RateLimiter, principal: str) -> RateLimitDecision:
    """Poll (bounded) until the window frees capacity; recovery is asserted, not its timing."""
    for _ in range(100):
        await asyncio.sleep(0.05)
        decision = await limiter.check(principal, None)
        if decision.allowed:
            return decision
    raise AssertionError("rate limit never recovered")


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window"])
async def test_principal_limit_hit_and_recovered(strategy):
    limiter = _limiter(rate_limit_principal="3/second", rate_limit_strategy=strategy)
    decisions = [await limiter.check("alice", None) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    denied = decisions[3]
    assert denied.scope == "principal" and denied.limit == 3
    assert int(denied.headers()["Retry-After"]) >= 1
    # Another principal is unaffected.
    assert (await limiter.check("bob", None)).allowed
    assert (await _wait_until_allowed(limiter, "alice")).allowed


async def test_session_and_global_scopes():
    limiter = _limiter(
        rate_limit_principal="100/minute",
        rate_limit_session="2/minute",
        rate_limit_global="5/minute",
    )
    assert (await limiter.check("alice", "s1")).allowed
    assert (await limiter.check("bob", "s1")).allowed
    session_denied = await limiter.check("carol", "s1")
    assert not session_denied.allowed and session_denied.scope == "session"
    for principal in ("alice", "bob"):
        assert (await limiter.check(principal, "s2")).allowed
    # Five global hits so far (the denied one stopped at the session scope).
    assert (await limiter.check("dave", None)).allowed
    global_denied = await limiter.check("erin", None)
    assert not global_denied.allowed and global_denied.scope == "global"


async def test_headers_report_the_tightest_scope():
    limiter = _limiter(rate_limit_principal="10/minute", rate_limit_session="2/minute")
    decision = await limiter.check("alice", "s1")
    headers = decision.headers()
    assert headers["RateLimit-Limit"] == "2" and headers["RateLimit-Remaining"] == "1"
    assert 0 <= int(headers["RateLimit-Reset"]) <= 60
    assert "Retry-After" not in headers


def test_storage_url_resolution():
    plain = SecuritySettings()
    assert storage_url(plain, RedisSettings()) == "async+memory://"
    assert storage_url(plain, RedisSettings(url="redis://h:1/0")) == "async+redis://h:1/0"
    explicit = SecuritySettings(rate_limit_storage_url="rediss://other:2")
    assert storage_url(explicit, RedisSettings(url="redis://h:1/0")) == "async+rediss://other:2"


@pytest.mark.slow
async def test_two_instances_share_counters_through_redis():
    with redis_server() as url:
        first = _limiter(url, rate_limit_principal="4/second")
        second = _limiter(url, rate_limit_principal="4/second")
        outcomes = []
        for index in range(5):
            limiter = first if index % 2 == 0 else second
            outcomes.append((await limiter.check("alice", None)).allowed)
        assert outcomes == [True, True, True, True, False]
        assert not (await second.check("alice", None)).allowed
        assert (await _wait_until_allowed(first, "alice")).allowed


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _controller(clock: FakeClock) -> AdaptiveController:
    return AdaptiveController(
        p99_threshold_seconds=0.2,
        error_rate_threshold=0.05,
        window_seconds=10,
        min_factor=0.125,
        clock=clock,
    )


def _feed(controller, clock, count, latency, errors=0, seconds=10.0):
    for index in range(count):
        clock.now += seconds / count
        controller.record(latency, index < errors)


def test_adaptive_lowers_on_high_p99_and_recovers():
    clock = FakeClock()
    controller = _controller(clock)
    _feed(controller, clock, 80, latency=0.5)
    assert controller.factor == 0.5
    _feed(controller, clock, 80, latency=0.5)
    assert controller.factor == 0.25
    _feed(controller, clock, 80, latency=0.5)
    _feed(controller, clock, 80, latency=0.5)
    assert controller.factor == 0.125  # floor
    _feed(controller, clock, 80, latency=0.01)
    assert controller.factor == 0.25
    for _ in range(3):
        _feed(controller, clock, 80, latency=0.01)
    assert controller.factor == 1.0


def test_adaptive_lowers_on_error_rate():
    clock = FakeClock()
    controller = _controller(clock)
    _feed(controller, clock, 80, latency=0.01, errors=10)
    assert controller.factor == 0.5
    p99, error_rate, count = controller.observed()
    assert count == 80 and error_rate == 10 / 80 and p99 == 0.01


def test_adaptive_ignores_a_single_slow_request_and_too_few_samples():
    clock = FakeClock()
    controller = _controller(clock)
    _feed(controller, clock, 200, latency=0.01)
    controller.record(5.0, False)  # 1 in 200: below the p99
    clock.now += 10
    controller.record(0.01, False)
    assert controller.factor == 1.0
    sparse = _controller(clock)
    _feed(sparse, clock, 5, latency=5.0)
    assert sparse.factor == 1.0


async def test_adaptive_factor_scales_the_global_limit():
    clock = FakeClock()
    controller = _controller(clock)
    limiter = RateLimiter(
        SecuritySettings(rate_limit_global="8/minute", rate_limit_principal="100/minute"),
        adaptive=controller,
    )
    _feed(controller, clock, 80, latency=1.0)
    _feed(controller, clock, 80, latency=1.0)
    assert controller.factor == 0.25
    allowed = [(await limiter.check(f"p{i}", None)).allowed for i in range(3)]
    assert allowed == [True, True, False]  # 8 * 0.25 = 2
