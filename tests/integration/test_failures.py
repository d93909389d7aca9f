"""Failure tests with real processes over loopback (requirement 8 of issue 5).

Each test runs a real ``kato serve`` against a real ``redis-server`` (through
:class:`~tests.integration.tcp_proxy.TcpProxy` where the network must misbehave), drives a
steady load of observes from a few client threads, breaks something, and checks what the
clients saw: only 200s and 503s with the right code (never a 500 or a hanging request), the
breaker open, readiness off, and the service resuming by itself. The figures (recovery time,
worst latency, refusal latency, memory) are printed: run with ``-s`` to see them
(docs/OPERATIONS.md, "Failure modes", records them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cluster import KatoInstance
from tests.integration.tcp_proxy import TcpProxy
from tests.servers import RedisServer

pytestmark = pytest.mark.slow

CLIENTS = 4
SOCKET_TIMEOUT = 0.5  # database.redis.socket_timeout (and connect timeout)
RECOVERY_TIMEOUT = 1.0  # resilience.circuit_breaker.recovery_timeout
LOCK_LEASE = 2.0  # session.lock_timeout_seconds
RETRY_ATTEMPTS = 3  # resilience.retry.max_attempts (the default)
REQUESTS_PER_CLIENT = 30  # per burst
OUTAGE_CODES = {"KATO_DATABASE_ERROR", "KATO_CIRCUIT_OPEN"}
# Worst case of one request in flight when Redis stops answering: redis-py resends a command
# once on a fresh connection (2 socket timeouts per command), the session read is retried
# RETRY_ATTEMPTS times with up to 0.6 s of backoff, plus the lock acquisition and release.
REQUEST_BUDGET = 2 * SOCKET_TIMEOUT * (RETRY_ATTEMPTS + 2) + 0.6


def kato_environment(tmp_path: Path, redis_url: str | None, **extra: str) -> dict[str, str]:
    env = {
        "KATO_DATA_DIR": str(tmp_path / "data"),
        "KATO_DATABASE__QDRANT__LOCAL_STORE": "sqlite",
        "KATO_DATABASE__REDIS__SOCKET_TIMEOUT": str(SOCKET_TIMEOUT),
        "KATO_DATABASE__REDIS__SOCKET_CONNECT_TIMEOUT": str(SOCKET_TIMEOUT),
        "KATO_RESILIENCE__CIRCUIT_BREAKER__FAILURE_THRESHOLD": "3",
        "KATO_RESILIENCE__CIRCUIT_BREAKER__RECOVERY_TIMEOUT": str(RECOVERY_TIMEOUT),
        "KATO_RESILIENCE__DEPENDENCY_TIMEOUT": "1",
        "KATO_SESSION__LOCK_TIMEOUT_SECONDS": str(LOCK_LEASE),
        "KATO_SESSION__MAX_STM_SIZE": "100000",
        "KATO_SERVICE__SHUTDOWN_DRAIN_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return env


@contextmanager
def serving(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[KatoInstance]:
    instance = KatoInstance("kato", env, tmp_path)
    instance.spawn(*args)
    try:
        yield instance.wait_ready()
    finally:
        if instance.running:
            instance.terminate(20)


def new_session(base: str) -> str:
    response = httpx.post(f"{base}/v2/sessions", json={"node_id": "load"}, timeout=10)
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def breaker_state(base: str, service: str) -> float:
    """The highest state any worker reports (0 closed, 1 open, 2 half-open)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return max(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kato_circuit_breaker_state" and sample.labels["service"] == service
    )


def worker_pids(base: str) -> set[str]:
    """Worker processes reporting in /metrics (the ``pid`` label of the breaker gauge)."""
    text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=10).text
    return {
        sample.labels["pid"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "kato_circuit_breaker_state" and "pid" in sample.labels
    }


def stm_symbols(base: str, session_id: str) -> list[str]:
    response = httpx.get(f"{base}/v2/sessions/{session_id}/stm", timeout=10)
    assert response.status_code == 200, response.text
    return [symbol for event in response.json()["stm"] for symbol in event]


def is_subsequence(items: list[str], sequence: list[str]) -> bool:
    remaining = iter(sequence)
    return all(item in remaining for item in items)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@dataclass(frozen=True)
class Outcome:
    client: int
    symbol: str
    started: float  # time.monotonic()
    latency: float
    status: int | None  # None: the connection failed
    code: str | None = None
    retry_after: str | None = None


class ObserveLoad:
    """One thread per session, observing numbered symbols back to back until stopped."""

    def __init__(self, base: str, session_ids: list[str], *, new_connections: bool = False):
        self.base = base
        self.session_ids = session_ids
        # Connection: close spreads requests over the workers of a multi-worker server.
        self.headers = {"Connection": "close"} if new_connections else {}
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(len(session_ids))
        ]

    def start(self) -> ObserveLoad:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        return list(self.outcomes)

    def since(self, moment: float) -> list[Outcome]:
        with self._lock:
            return [outcome for outcome in self.outcomes if outcome.started >= moment]

    def _run(self, client_index: int) -> None:
        url = f"{self.base}/v2/sessions/{self.session_ids[client_index]}/observe"
        with httpx.Client(timeout=30, headers=self.headers) as client:
            number = 0
            while not self._stop.is_set():
                symbol = f"s{number}"
                number += 1
                started = time.monotonic()
                try:
                    response = client.post(url, json={"strings": [symbol]})
                except httpx.TransportError:
                    outcome = Outcome(client_index, symbol, started, 0.0, None)
                else:
                    body = response.json() if response.status_code != 200 else {}
                    outcome = Outcome(
                        client_index,
                        symbol,
                        started,
                        time.monotonic() - started,
                        response.status_code,
                        body.get("error", {}).get("code"),
                        response.headers.get("Retry-After"),
                    )
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.status != 200:
                    time.sleep(0.02)  # not a hot loop of refusals on a shared machine


def assert_only_outage_answers(outcomes: list[Outcome]) -> list[Outcome]:
    """Every request answered 200, or 503 with an outage code and Retry-After; the 503s."""
    failures = [outcome for outcome in outcomes if outcome.status != 200]
    for outcome in failures:
        assert outcome.status == 503, outcome
        assert outcome.code in OUTAGE_CODES, outcome
        assert outcome.retry_after is not None and int(outcome.retry_after) >= 1, outcome
    return failures


def recovery_times(load: ObserveLoad, since: float) -> tuple[float, float]:
    """(first success, every client succeeded) in seconds after ``since``; waits for both."""

    def every_client_succeeded() -> bool:
        return {o.client for o in load.since(since) if o.status == 200} == set(
            range(len(load.session_ids))
        )

    wait_until(every_client_succeeded, 15, "every client to succeed again")
    successes = [o for o in load.since(since) if o.status == 200]
    first = min(o.started + o.latency for o in successes) - since
    every = max(
        min(o.started + o.latency for o in successes if o.client == c)
        for c in range(len(load.session_ids))
    )
    return first, every - since


def assert_reported_down(base: str) -> None:
    """Readiness off with Redis down; liveness on; the breaker open (or its trial running)."""
    ready = httpx.get(f"{base}/health/ready", timeout=10)
    assert ready.status_code == 503, ready.text
    assert ready.json()["dependencies"]["redis"]["status"] in {"down", "circuit_open"}
    assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200
    assert breaker_state(base, "redis") in {1.0, 2.0}


def test_redis_killed_under_load_then_restarted_loses_no_acknowledged_observation(
    tmp_path: Path,
) -> None:
    with (
        RedisServer(appendonly=True, appendfsync="everysec") as redis_server,
        serving(tmp_path, kato_environment(tmp_path, redis_server.url)) as kato,
    ):
        sessions = [new_session(kato.url) for _ in range(CLIENTS)]
        load = ObserveLoad(kato.url, sessions).start()
        time.sleep(1.0)
        killed = time.monotonic()
        redis_server.kill()
        time.sleep(1.5)
        assert_reported_down(kato.url)
        redis_server.start()  # same port and directory: the AOF is replayed
        restarted = time.monotonic()
        first, every = recovery_times(load, restarted)
        time.sleep(0.5)
        outcomes = load.stop()
        assert httpx.get(f"{kato.url}/health/ready", timeout=10).status_code == 200

        outage = [o for o in outcomes if killed <= o.started < restarted]
        failures = assert_only_outage_answers(outcomes)
        # KATO_DATABASE_ERROR while the breaker counts (unless one request's retried session
        # read used up the threshold on its own), then KATO_CIRCUIT_OPEN.
        assert "KATO_CIRCUIT_OPEN" in {o.code for o in failures}
        assert not [o for o in outage if o.status == 200 and o.started > killed + 0.1]
        for index, session_id in enumerate(sessions):
            acknowledged = [o.symbol for o in outcomes if o.client == index and o.status == 200]
            assert is_subsequence(acknowledged, stm_symbols(kato.url, session_id)), index
        acknowledged_total = sum(o.status == 200 for o in outcomes)
        print(
            f"\nredis kill: {len(outcomes)} observes, {acknowledged_total} acknowledged (all "
            f"kept), {len(failures)} answered 503 during the outage, none 500; service resumed "
            f"{first:.3f} s after redis-server restarted, every session {every:.3f} s after "
            f"(recovery_timeout {RECOVERY_TIMEOUT} s, lock lease {LOCK_LEASE} s)"
        )
        # The next half-open trial comes at most one recovery timeout after the restart; a
        # session whose lock was held at the crash may wait out that lease (the AOF replays
        # the lock key with its expiry).
        assert first <= RECOVERY_TIMEOUT + 1.0
        assert every <= RECOVERY_TIMEOUT + LOCK_LEASE + 1.0


def stalled_redis_run(
    tmp_path: Path, redis_url: str, stall: Callable[[], None], unstall: Callable[[], None]
) -> tuple[list[Outcome], float, float]:
    """Load, stall Redis for 3 s, resume; (outcomes, stall start, first recovery)."""
    with serving(tmp_path, kato_environment(tmp_path, redis_url)) as kato:
        sessions = [new_session(kato.url) for _ in range(CLIENTS)]
        load = ObserveLoad(kato.url, sessions).start()
        time.sleep(1.0)
        stalled = time.monotonic()
        stall()
        time.sleep(3.0)
        assert_reported_down(kato.url)
        unstall()
        resumed = time.monotonic()
        first, _ = recovery_times(load, resumed)
        outcomes = load.stop()
        for index, session_id in enumerate(sessions):
            acknowledged = [o.symbol for o in outcomes if o.client == index and o.status == 200]
            assert is_subsequence(acknowledged, stm_symbols(kato.url, session_id)), index
    return outcomes, stalled, first


def report_stall(what: str, outcomes: list[Outcome], stalled: float, first: float) -> None:
    failures = assert_only_outage_answers(outcomes)
    assert "KATO_CIRCUIT_OPEN" in {o.code for o in failures}  # the breaker opened
    worst = max(o.latency for o in outcomes if o.started >= stalled - 1.0)
    refused = [o.latency for o in failures if o.code == "KATO_CIRCUIT_OPEN"]
    print(
        f"\n{what}: {len(outcomes)} observes, {len(failures)} answered 503 (none 500, none "
        f"hanging); worst latency {worst:.3f} s (budget {REQUEST_BUDGET:.1f} s: socket "
        f"timeout {SOCKET_TIMEOUT} s), breaker-open refusals p50 "
        f"{statistics.median(refused) * 1000:.1f} ms; resumed {first:.3f} s after"
    )
    assert worst <= REQUEST_BUDGET


def test_a_paused_redis_fails_requests_within_the_socket_timeout_budget(tmp_path: Path) -> None:
    with RedisServer() as redis_server:
        outcomes, stalled, first = stalled_redis_run(
            tmp_path, redis_server.url, redis_server.pause, redis_server.resume
        )
    report_stall("redis SIGSTOP", outcomes, stalled, first)


def test_a_partition_dropping_redis_traffic_answers_fast_503s(tmp_path: Path) -> None:
    with RedisServer() as redis_server, TcpProxy(redis_server.port) as proxy:
        outcomes, stalled, first = stalled_redis_run(
            tmp_path, f"redis://{proxy.url}/0", proxy.blackhole, proxy.forward
        )
    report_stall("redis partition (blackhole proxy)", outcomes, stalled, first)


STALL_SECONDS = 5.0
STALL_RUNS = 3  # the issue saw the worst case in one run of three
STALL_SESSIONS = 6
# Issue 9 req 3: every session is served again within 1 s of Redis answering (the printed
# figures are exact). The defect this guards against left sessions waiting 5-10 s (a full
# 10 s lock lease); a busy 2-core CI machine adds up to a second of scheduling delay, so the
# assertion allows 3 s, well clear of both.
SESSION_RECOVERY_BOUND = 3.0


@pytest.mark.parametrize("stall_kind", ["pause", "partition"])
def test_every_session_is_served_soon_after_redis_comes_back(
    tmp_path: Path, stall_kind: str
) -> None:
    """Sessions with requests in flight when Redis stalls for 5 s are all served again within
    about a second of Redis answering, in each of three stalls: lock commands that ran after
    their callers gave up leave no lock, no lock outlives its holder by more than the short
    lease, and the breaker's half-open trial never waits on a session lock."""
    with RedisServer() as redis_server, TcpProxy(redis_server.port) as proxy:
        if stall_kind == "pause":  # SIGSTOP: commands wait in Redis's sockets, run on SIGCONT
            redis_url, stall, unstall = redis_server.url, redis_server.pause, redis_server.resume
        else:  # dropped traffic: commands are lost, replies never come
            redis_url, stall, unstall = f"redis://{proxy.url}/0", proxy.blackhole, proxy.forward
        env = kato_environment(
            tmp_path,
            redis_url,
            # The default lock timeout, as in the issue; a recovery timeout well under the
            # 1 s goal, so the breaker's next trial is not what the figures measure.
            KATO_SESSION__LOCK_TIMEOUT_SECONDS="10",
            KATO_RESILIENCE__CIRCUIT_BREAKER__RECOVERY_TIMEOUT="0.5",
        )
        with serving(tmp_path, env) as kato:
            sessions = [new_session(kato.url) for _ in range(STALL_SESSIONS)]
            load = ObserveLoad(kato.url, sessions).start()
            figures = []
            try:
                for _ in range(STALL_RUNS):
                    time.sleep(1.0)
                    stall()
                    time.sleep(STALL_SECONDS)
                    unstall()
                    resumed = time.monotonic()
                    figures.append(recovery_times(load, resumed))
            finally:
                outcomes = load.stop()
            for index, session_id in enumerate(sessions):
                acknowledged = [o.symbol for o in outcomes if o.client == index and o.status == 200]
                assert is_subsequence(acknowledged, stm_symbols(kato.url, session_id)), index
    assert_only_outage_answers(outcomes)
    runs = ", ".join(
        f"first {first:.3f} s / every session {every:.3f} s" for first, every in figures
    )
    print(
        f"\nredis {stall_kind} of {STALL_SECONDS:.0f} s x {STALL_RUNS}, {STALL_SESSIONS} "
        f"sessions under load: served again after {runs}"
    )
    assert max(every for _, every in figures) <= SESSION_RECOVERY_BOUND


def test_one_of_two_workers_killed_under_load(tmp_path: Path, redis_url: str) -> None:
    env = kato_environment(tmp_path, redis_url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    with serving(tmp_path, env, "--workers", "2") as kato:
        wait_until(lambda: len(worker_pids(kato.url)) == 2, 30, "both workers to report")
        victim = sorted(worker_pids(kato.url))[0]
        sessions = [new_session(kato.url) for _ in range(CLIENTS)]
        load = ObserveLoad(kato.url, sessions, new_connections=True).start()
        time.sleep(1.0)
        killed = time.monotonic()
        os.kill(int(victim), signal.SIGKILL)
        wait_until(
            lambda: victim not in worker_pids(kato.url) and len(worker_pids(kato.url)) == 2,
            30,
            "the killed worker to be replaced",
        )
        replaced = time.monotonic() - killed
        time.sleep(1.0)  # both workers serve again
        outcomes = load.stop()
        for index, session_id in enumerate(sessions):
            acknowledged = [o.symbol for o in outcomes if o.client == index and o.status == 200]
            assert is_subsequence(acknowledged, stm_symbols(kato.url, session_id)), index

    failed = [o for o in outcomes if o.status != 200]
    # Only requests in flight on the killed worker fail (at most one per client), and only
    # as a dropped connection: never an error answer.
    assert all(o.status is None for o in failed), failed
    assert len(failed) <= CLIENTS
    after = [o for o in outcomes if o.started > killed + 0.5]
    assert after and all(o.status == 200 for o in after)
    print(
        f"\nworker SIGKILL: {len(outcomes)} observes, {len(failed)} dropped connections (in "
        f"flight on the killed worker), 0 error answers; replaced within {replaced:.2f} s"
    )


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1)) * 1024


async def burst(port: int, sessions: list[str], requests_per_client: int) -> list[Outcome]:
    """Each session's client sends its observes back to back on one keep-alive connection.

    A minimal HTTP/1.1 client on raw asyncio streams: httpx costs the client more CPU per
    request than the server spends, so it could not load the server above its bound.
    """

    async def one_client(index: int) -> list[Outcome]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        outcomes = []
        try:
            for number in range(requests_per_client):
                body = json.dumps({"strings": [f"b{number}", "burst"]}).encode()
                request = (
                    f"POST /v2/sessions/{sessions[index]}/observe HTTP/1.1\r\n"
                    f"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                started = time.monotonic()
                writer.write(request + body)
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                headers = dict(
                    line.lower().split(": ", 1) for line in head.split("\r\n")[1:] if line
                )
                payload = await reader.readexactly(int(headers["content-length"]))
                status = int(head.split(" ", 2)[1])
                code = json.loads(payload)["error"]["code"] if status != 200 else None
                if status == 503:  # refused before any work: safe for anyone to re-send
                    assert headers.get("x-kato-not-processed") == "true", head
                outcomes.append(
                    Outcome(
                        index,
                        f"b{number}",
                        started,
                        time.monotonic() - started,
                        status,
                        code,
                        headers.get("retry-after"),
                    )
                )
        finally:
            writer.close()
        return outcomes

    results = await asyncio.gather(*(one_client(i) for i in range(len(sessions))))
    return [outcome for outcomes in results for outcome in outcomes]


def test_a_burst_above_capacity_is_refused_fast_with_bounded_memory(tmp_path: Path) -> None:
    max_in_flight = 8
    clients = 64
    # Every observe auto-learns (max_pattern_length 1, two symbols): real storage work in a
    # worker thread, so requests overlap. A pure in-memory observe runs to completion on the
    # event loop and could never be in flight together with another one.
    env = kato_environment(
        tmp_path,
        None,
        KATO_RESILIENCE__MAX_IN_FLIGHT=str(max_in_flight),
        MAX_PATTERN_LENGTH="1",
    )
    with serving(tmp_path, env) as kato:
        sessions = [new_session(kato.url) for _ in range(clients)]
        rss_before = rss_bytes(kato.pid)
        first_burst = asyncio.run(burst(kato.port, sessions, REQUESTS_PER_CLIENT))
        rss_after_first = rss_bytes(kato.pid)
        second_burst = asyncio.run(burst(kato.port, sessions, REQUESTS_PER_CLIENT))
        rss_after_second = rss_bytes(kato.pid)

    outcomes = first_burst + second_burst
    accepted = [o.latency for o in outcomes if o.status == 200]
    refused = [o for o in outcomes if o.status != 200]
    assert {(o.status, o.code) for o in refused} == {(503, "KATO_OVERLOADED")}
    assert all(o.retry_after == "1" for o in refused)
    assert accepted and len(refused) > len(accepted)  # well above capacity
    refused_p99 = percentile([o.latency for o in refused], 0.99)
    accepted_p99 = percentile(accepted, 0.99)
    growth = rss_after_second - rss_after_first
    mib = 1024 * 1024
    print(
        f"\nburst: {clients} clients x 2 x {REQUESTS_PER_CLIENT} observes vs max_in_flight "
        f"{max_in_flight}: "
        f"{len(accepted)} accepted (p99 {accepted_p99 * 1000:.1f} ms), {len(refused)} refused "
        f"503 KATO_OVERLOADED (p99 {refused_p99 * 1000:.1f} ms); RSS {rss_before / mib:.1f} -> "
        f"{rss_after_first / mib:.1f} -> {rss_after_second / mib:.1f} MiB"
    )
    # A refusal does no work: it is no slower than an accepted request, and a second burst
    # grows memory no further than noise (nothing queues).
    assert refused_p99 <= accepted_p99
    assert growth < 16 * mib
