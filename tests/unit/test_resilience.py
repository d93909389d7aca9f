"""Circuit breaker, retry policy, overload limits and health checks (kato.resilience)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pymongo
import pytest
import redis
import redis.asyncio
import uvloop
from fastapi import FastAPI

from kato.config import ResilienceSettings, RetrySettings
from kato.core.errors import KatoError, ValidationError
from kato.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    ConcurrencyLimiter,
    DependencyError,
    HealthChecker,
    OverloadedError,
    Resilience,
    async_redis_driver_retry,
    async_retrying,
    is_transient,
    redis_driver_retry,
    retrying,
)
from tests.pipeline_support import add_pipeline


class FakeClock:
    """Injected monotonic clock: the breaker's timing is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_breaker(clock: FakeClock, changes: list[tuple[str, BreakerState]] | None = None):
    return CircuitBreaker(
        "redis",
        failure_threshold=3,
        recovery_timeout=30.0,
        is_failure=is_transient,
        clock=clock,
        on_state_change=(lambda s, st: changes.append((s, st))) if changes is not None else None,
    )


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError), breaker:
            raise ConnectionError("refused")


# -- circuit breaker ----------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused, breaker:
        pytest.fail("an open breaker must not run the call")
    assert refused.value.service == "redis"
    assert refused.value.code == "KATO_CIRCUIT_OPEN"
    assert refused.value.retry_after == pytest.approx(30.0)
    assert isinstance(refused.value, KatoError)


def test_success_resets_the_failure_count() -> None:
    breaker = make_breaker(FakeClock())
    fail(breaker, 2)
    with breaker:
        pass
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_non_transient_errors_do_not_count_as_failures() -> None:
    breaker = make_breaker(FakeClock())
    for _ in range(5):
        with pytest.raises(ValidationError), breaker:
            raise ValidationError("bad input")
    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 0


def test_half_open_admits_one_trial_and_closes_on_success() -> None:
    clock = FakeClock()
    changes: list[tuple[str, BreakerState]] = []
    breaker = make_breaker(clock, changes)
    fail(breaker, 3)
    clock.now += 29.0
    assert breaker.retry_after() == pytest.approx(1.0)
    with pytest.raises(CircuitOpenError), breaker:
        pass
    clock.now += 1.0
    assert breaker.state is BreakerState.HALF_OPEN
    trial = breaker.__enter__()
    # While the trial runs, other calls are still refused.
    with pytest.raises(CircuitOpenError), breaker:
        pass
    trial.__exit__(None, None, None)
    assert breaker.state is BreakerState.CLOSED
    assert [state for _, state in changes] == [
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_half_open_trial_failure_reopens_for_a_full_period() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 30.0
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == pytest.approx(30.0)


def test_cancelled_trial_frees_the_half_open_slot() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 30.0
    with pytest.raises(asyncio.CancelledError), breaker:
        raise asyncio.CancelledError
    assert breaker.state is BreakerState.HALF_OPEN
    with breaker:
        pass
    assert breaker.state is BreakerState.CLOSED


async def test_breaker_guards_async_calls_with_tiny_timeout() -> None:
    breaker = CircuitBreaker("qdrant", failure_threshold=1, recovery_timeout=0.05)
    with pytest.raises(TimeoutError):
        async with breaker:
            await asyncio.wait_for(asyncio.sleep(1), 0.01)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        async with breaker:
            pass
    await asyncio.sleep(0.06)
    async with breaker:
        pass
    assert breaker.state is BreakerState.CLOSED


def test_breaker_rejects_invalid_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("redis", failure_threshold=0, recovery_timeout=1)


# -- transient classification and retries ---------------------------------------------------


def test_real_driver_connection_errors_are_transient() -> None:
    port = closed_port()
    client = redis.Redis(port=port, socket_connect_timeout=0.5, retry=redis_driver_retry())
    with pytest.raises(redis.exceptions.ConnectionError) as redis_error:
        client.ping()
    assert is_transient(redis_error.value)

    mongo: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=50
    )
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError) as mongo_error:
        mongo.admin.command("ping")
    mongo.close()
    assert is_transient(mongo_error.value)

    with pytest.raises(httpx.ConnectError) as http_error:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
    assert is_transient(http_error.value)


def test_a_write_to_a_lost_connection_under_uvloop_is_transient() -> None:
    """The server's loop is uvloop: a driver writing to a connection its peer closed gets
    uvloop's RuntimeError (a Redis primary killed mid-failover), which must mean 503."""

    async def write_after_close() -> BaseException:
        server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.close()
        await asyncio.sleep(0)
        try:
            writer.writelines([b"PING\r\n"])
        except RuntimeError as error:
            return error
        finally:
            server.close()
        raise AssertionError("uvloop accepted a write to a closed transport")

    error = uvloop.run(write_after_close())
    assert is_transient(error)
    assert not is_transient(RuntimeError("some other bug"))


def test_a_write_to_a_writer_the_driver_dropped_is_transient() -> None:
    """redis-py's handshake racing a disconnect writes to ``None`` inside the driver: a lost
    connection. The same AttributeError raised by our own code stays a bug (a 500)."""

    def raised_in(module: str) -> AttributeError:
        namespace: dict[str, object] = {"__name__": module}
        exec("def send(writer):\n    writer.writelines([b'PING'])\n", namespace)
        with pytest.raises(AttributeError) as raised:
            namespace["send"](None)  # type: ignore[operator]
        return raised.value

    assert is_transient(raised_in("redis.asyncio.connection"))
    assert not is_transient(raised_in("kato.sessions.redis_store"))


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("bad"),
        ValueError("bad"),
        KeyError("x"),
        pymongo.errors.DuplicateKeyError("dup"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        CircuitOpenError("redis", 5.0),
    ],
)
def test_non_transient_errors(error: Exception) -> None:
    assert not is_transient(error)


def test_qdrant_wrapped_transport_error_is_transient() -> None:
    from qdrant_client.http.exceptions import ResponseHandlingException

    assert is_transient(ResponseHandlingException(httpx.ConnectError("refused")))
    assert not is_transient(ResponseHandlingException(ValueError("bad json")))


def test_retry_stops_after_max_attempts_with_capped_exponential_backoff() -> None:
    settings = RetrySettings(max_attempts=6, backoff_factor=3.0, max_delay=1.0, initial_delay=0.1)
    sleeps: list[float] = []
    calls = 0

    def always_down() -> None:
        nonlocal calls
        calls += 1
        raise redis.exceptions.ConnectionError("down")

    with pytest.raises(redis.exceptions.ConnectionError):
        retrying(settings, sleep=sleeps.append)(always_down)
    assert calls == 6
    assert len(sleeps) == 5
    for attempt, slept in enumerate(sleeps, start=1):
        floor = min(settings.max_delay, settings.initial_delay * 3.0 ** (attempt - 1))
        assert floor <= slept <= min(settings.max_delay, floor + settings.initial_delay)
    assert sleeps[-1] == settings.max_delay  # 0.1 * 3**4 = 8.1, capped


def test_retry_recovers_when_the_dependency_comes_back() -> None:
    failures = iter([TimeoutError("slow"), ConnectionError("reset")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    assert retrying(RetrySettings(max_attempts=3), sleep=lambda _: None)(flaky) == "ok"


def test_retry_never_retries_non_transient_errors() -> None:
    calls = 0

    def invalid() -> None:
        nonlocal calls
        calls += 1
        raise ValidationError("bad")

    with pytest.raises(ValidationError):
        retrying(RetrySettings(max_attempts=5), sleep=lambda _: None)(invalid)
    assert calls == 1


async def test_async_retry_counts_attempts() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    async def no_sleep(_: float) -> None:
        return None

    with pytest.raises(ConnectionError):
        await async_retrying(RetrySettings(max_attempts=4), sleep=no_sleep)(down)
    assert calls == 4


# -- Resilience: breaker + timeout + translation + retry --------------------------------------


def fast_settings(**overrides: object) -> ResilienceSettings:
    base: dict[str, object] = {
        "circuit_breaker": {"failure_threshold": 2, "recovery_timeout": 60},
        "retry": {"max_attempts": 3, "initial_delay": 0.001, "max_delay": 0.002},
        "dependency_timeout": 0.05,
    }
    base.update(overrides)
    return ResilienceSettings.model_validate(base)


async def test_breaker_thresholds_are_per_dependency() -> None:
    """Defaults of the architecture spec: MongoDB 5 failures / 30 s, Qdrant 3 / 20 s; Redis 5 /
    30 s. A dependency's own section wins over the shared keys, which win over the defaults."""

    async def refused() -> None:
        raise ConnectionError("refused")

    async def failures_to_open(resilience: Resilience, service: str) -> int:
        for failures in range(1, 20):
            with pytest.raises(DependencyError):
                await resilience.acall(service, refused)
            if resilience.breakers[service].state is BreakerState.OPEN:
                return failures
        raise AssertionError(f"{service} breaker never opened")

    defaults = Resilience(ResilienceSettings())
    opened = {name: await failures_to_open(defaults, name) for name in defaults.breakers}
    assert opened == {"redis": 5, "mongodb": 5, "qdrant": 3}
    recovery = {name: breaker.recovery_timeout for name, breaker in defaults.breakers.items()}
    assert recovery == {"redis": 30, "mongodb": 30, "qdrant": 20}
    mixed = ResilienceSettings.model_validate(
        {
            "circuit_breaker": {
                "failure_threshold": 2,
                "recovery_timeout": 9,
                "qdrant": {"failure_threshold": 4},
            }
        }
    )
    assert mixed.circuit_breaker.thresholds("redis") == (2, 9)
    assert mixed.circuit_breaker.thresholds("qdrant") == (4, 9)


async def test_acall_translates_timeouts_and_opens_the_breaker() -> None:
    changes: list[tuple[str, BreakerState]] = []
    resilience = Resilience(
        fast_settings(), on_breaker_change=lambda service, st: changes.append((service, st))
    )

    async def hangs() -> None:
        await asyncio.sleep(5)

    for _ in range(2):
        with pytest.raises(DependencyError) as failed:
            await resilience.acall("redis", hangs)
        assert failed.value.code == "KATO_DATABASE_ERROR"
    assert resilience.breakers["redis"].state is BreakerState.OPEN
    assert ("redis", BreakerState.OPEN) in changes
    with pytest.raises(CircuitOpenError):
        await resilience.acall("redis", hangs)
    # Other dependencies are unaffected.
    assert resilience.breakers["mongodb"].state is BreakerState.CLOSED


async def test_acall_retries_idempotent_operations_until_the_breaker_opens() -> None:
    resilience = Resilience(fast_settings())
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    with pytest.raises(CircuitOpenError):
        await resilience.acall("qdrant", refused, idempotent=True)
    # Attempt 1 and 2 fail and open the breaker (threshold 2); attempt 3 is refused.
    assert calls == 2


async def test_acall_does_not_retry_non_idempotent_operations() -> None:
    resilience = Resilience(fast_settings())
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    with pytest.raises(DependencyError):
        await resilience.acall("redis", refused)
    assert calls == 1


def test_call_passes_through_non_transient_errors_unchanged() -> None:
    resilience = Resilience(fast_settings())

    def invalid() -> None:
        raise ValidationError("bad")

    with pytest.raises(ValidationError):
        resilience.call("mongodb", invalid, idempotent=True)
    assert resilience.call("mongodb", lambda: 42) == 42
    assert resilience.breakers["mongodb"].consecutive_failures == 0


def test_call_against_a_real_unreachable_redis() -> None:
    resilience = Resilience(fast_settings())
    client = redis.Redis(port=closed_port(), socket_connect_timeout=0.5, retry=redis_driver_retry())
    for _ in range(2):
        with pytest.raises(DependencyError) as failed:
            resilience.call("redis", client.ping)
        assert isinstance(failed.value.__cause__, redis.exceptions.ConnectionError)
    assert resilience.breakers["redis"].state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError):
        resilience.call("redis", client.ping, idempotent=True)


def test_service_unavailable_errors_carry_retry_after_header() -> None:
    assert CircuitOpenError("redis", 0.2).retry_after_header == "1"
    assert CircuitOpenError("redis", 12.1).retry_after_header == "13"
    assert DependencyError("mongodb", "down").status_code == 503


# -- overload --------------------------------------------------------------------------------


def test_concurrency_limiter_refuses_without_waiting() -> None:
    limiter = ConcurrencyLimiter(2, "prediction computations")
    with limiter.slot(), limiter.slot():
        with pytest.raises(OverloadedError) as refused, limiter.slot():
            pass
        assert refused.value.code == "KATO_OVERLOADED"
    assert limiter.in_use == 0
    with limiter.slot():
        assert limiter.in_use == 1


def test_limiter_release_without_acquire_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        ConcurrencyLimiter(1, "x").release()


async def test_in_flight_middleware_refuses_beyond_the_bound_and_exempts_probes() -> None:
    app = FastAPI()
    release = asyncio.Event()
    entered = 0

    @app.get("/work")
    async def work() -> dict[str, bool]:
        nonlocal entered
        entered += 1
        await release.wait()
        return {"done": True}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    add_pipeline(app, max_in_flight=2, retry_after=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
        busy = [asyncio.create_task(client.get("/work")) for _ in range(2)]
        while entered < 2:
            await asyncio.sleep(0.001)
        refused = await client.get("/work")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.json()["error"]["code"] == "KATO_OVERLOADED"
        assert refused.json()["status"] == 503
        assert (await client.get("/health/live")).status_code == 200
        release.set()
        assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]
        assert (await client.get("/work")).status_code == 200
    assert entered == 3


# -- health ----------------------------------------------------------------------------------


async def test_readiness_requires_startup_and_every_dependency() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    checker = HealthChecker(timeout=0.05, breakers={"redis": breaker})

    async def ok() -> None:
        return None

    async def hangs() -> None:
        await asyncio.sleep(5)

    checker.register("redis", ok)
    checker.register("mongodb", ok)
    not_started = await checker.readiness()
    assert not not_started.ready and not_started.reason == "starting"

    checker.mark_started()
    report = await checker.readiness()
    assert report.ready
    assert report.dependencies["redis"].breaker == "closed"
    assert report.as_dict()["status"] == "ready"

    fail(breaker, 3)
    report = await checker.readiness()
    assert not report.ready
    assert report.dependencies["redis"].status == "circuit_open"
    assert report.dependencies["mongodb"].status == "ok"

    clock.now += 30.0  # recovery timeout elapsed: half-open counts as ready to try
    assert (await checker.readiness()).ready

    checker.register("qdrant", hangs)
    report = await checker.readiness()
    assert not report.ready
    assert report.dependencies["qdrant"].status == "down"
    assert "no answer" in (report.dependencies["qdrant"].error or "")
    assert report.reason == "unavailable: qdrant"

    checker.mark_shutting_down()
    assert (await checker.readiness()).reason == "shutting_down"


async def test_probe_exception_reports_down_with_the_error() -> None:
    checker = HealthChecker(timeout=1.0)
    client = redis.asyncio.Redis(
        port=closed_port(), socket_connect_timeout=0.5, retry=async_redis_driver_retry()
    )
    checker.register("redis", client.ping)
    checker.mark_started()
    report = await checker.readiness()
    await client.aclose()  # type: ignore[attr-defined]  # types-redis predates aclose()
    assert not report.ready
    body = report.as_dict()["dependencies"]["redis"]  # type: ignore[index]
    assert body["status"] == "down"
    assert "ConnectionError" in body["error"]
    assert body["latency_ms"] >= 0
