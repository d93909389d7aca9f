"""Two ``kato serve`` instances behind nginx on one Redis and on a Redis Cluster (3 primaries,
3 replicas): concurrency invariants, sessions spread over the primaries, rate-limit counters
sharded, and a primary killed under load (issue 14 req 1/2; issue 10 req 3's invariants).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.crc import key_slot

from kato.config import RedisSettings, SecuritySettings
from kato.security.rate_limit import RateLimiter
from kato.sessions.redis_keys import KeySpace
from kato.sessions.redis_store import redis_client
from tests.integration.cluster import Cluster
from tests.redis_cluster import RedisCluster
from tests.servers import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CONCURRENT_OBSERVES = 500
ENVELOPE_CODES = {"KATO_DATABASE_ERROR", "KATO_CIRCUIT_OPEN", "KATO_SERVICE_UNAVAILABLE"}


@pytest.fixture(scope="module", params=["redis", "redis-cluster"])
def topology(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        url, clustered = server.url, False
    else:
        redis_cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url, clustered = redis_cluster.url, True
    env = {"KATO_SESSION__MAX_STM_SIZE": "100000"}
    with Cluster(url, redis_cluster=clustered, env=env) as running:
        yield running


def create_session(base_url: str, node_id: str) -> str:
    response = httpx.post(f"{base_url}/v2/sessions", json={"node_id": node_id}, timeout=10)
    response.raise_for_status()
    session_id: str = response.json()["session_id"]
    return session_id


def stm_of(base_url: str, session_id: str) -> list[list[str]]:
    response = httpx.get(f"{base_url}/v2/sessions/{session_id}/stm", timeout=10)
    response.raise_for_status()
    stm: list[list[str]] = response.json()["stm"]
    return stm


async def post_all(requests: list[tuple[str, dict[str, Any] | None]]) -> list[httpx.Response]:
    """Every request at once (one connection each)."""
    limits = httpx.Limits(max_connections=len(requests))
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(*(client.post(url, json=body) for url, body in requests))


def test_500_concurrent_observes_to_one_session_are_each_applied_once(
    topology: Cluster,
) -> None:
    first, second = topology.instances
    session_id = create_session(first.url, "concurrent")
    responses = asyncio.run(
        post_all(
            [
                (
                    f"{(first if index % 2 else second).url}/v2/sessions/{session_id}/observe",
                    {"strings": [f"event-{index:03d}"]},
                )
                for index in range(CONCURRENT_OBSERVES)
            ]
        )
    )
    refused = [response.text for response in responses if response.status_code != 200]
    assert refused == [], refused[:3]
    times = sorted(response.json()["time"] for response in responses)
    assert times == list(range(1, CONCURRENT_OBSERVES + 1))
    stm = stm_of(topology.url, session_id)
    assert sorted(event[0] for event in stm) == [
        f"event-{index:03d}" for index in range(CONCURRENT_OBSERVES)
    ]


def interleaved(topology: Cluster, session_id: str, other: str, every: int) -> list[Any]:
    """200 observes of two-symbol events and, every ``every`` of them, an ``other`` write
    (learn or clear-stm), all at once over both instances; (event, response) per request."""
    first, second = topology.instances
    requests: list[tuple[str, dict[str, Any] | None]] = []
    events: list[list[str] | None] = []
    for index in range(200):
        base = f"{(first if index % 2 else second).url}/v2/sessions/{session_id}"
        event = [f"a{index:03d}", f"b{index:03d}"]
        requests.append((f"{base}/observe", {"strings": event}))
        events.append(event)
        if index % every == every - 1:
            requests.append((f"{base}/{other}", None))
            events.append(None)
    return list(zip(events, asyncio.run(post_all(requests)), strict=True))


def test_observes_interleaved_with_learns_are_each_kept_exactly_once(topology: Cluster) -> None:
    """Every observed event ends up in exactly one learned pattern or in the final STM."""
    session_id = create_session(topology.url, "interleaved-learn")
    outcomes = interleaved(topology, session_id, "learn", every=10)
    learned = []
    for event, response in outcomes:
        if event is not None:
            assert response.status_code == 200, response.text
        elif response.status_code == 200:
            learned.append(response.json()["pattern_name"])
        else:  # a learn that found the STM empty
            assert response.status_code == 400 and "empty" in response.text.lower()
    final = httpx.post(f"{topology.url}/v2/sessions/{session_id}/learn", timeout=10)
    if final.status_code == 200:
        learned.append(final.json()["pattern_name"])
    kept: Counter[tuple[str, ...]] = Counter()
    for name in learned:
        pattern = httpx.get(
            f"{topology.url}/v2/nodes/interleaved-learn/patterns/{name}", timeout=10
        ).json()
        for stored in pattern["pattern_data"]:
            kept[tuple(stored)] += pattern["frequency"]
    observed = [tuple(event) for event, _ in outcomes if event is not None]
    assert kept == Counter(observed)
    times = sorted(response.json()["time"] for event, response in outcomes if event is not None)
    assert times == list(range(1, 201))


def test_observes_interleaved_with_clears_lose_and_double_nothing_after_the_last_clear(
    topology: Cluster,
) -> None:
    """The final STM is exactly the observes after the last clear, in the order of their
    ``time``: none lost, none doubled, none reordered."""
    session_id = create_session(topology.url, "interleaved-clear")
    outcomes = interleaved(topology, session_id, "clear-stm", every=15)
    assert {response.status_code for _, response in outcomes} == {200}
    time_of = {
        tuple(event): response.json()["time"] for event, response in outcomes if event is not None
    }
    assert sorted(time_of.values()) == list(range(1, 201))
    stm = [tuple(event) for event in stm_of(topology.url, session_id)]
    times = [time_of[event] for event in stm]
    assert times == list(range(201 - len(stm), 201))


def test_sessions_spread_over_every_primary(redis_cluster: RedisCluster) -> None:
    redis_cluster.flush()  # the count below is of every session on the cluster
    with Cluster(redis_cluster.url, redis_cluster=True) as topology:
        sessions = [create_session(topology.url, f"spread-{index}") for index in range(30)]
        space = KeySpace(cluster=True)
        holders: Counter[int] = Counter()
        for session_id in sessions:
            record = space.session(session_id).record
            node = redis_cluster.primary_of_slot(key_slot(record.encode()))
            assert node.info("EXISTS", record).strip() == "1"  # on the primary of its slot
            holders[node.port] += 1
        count = httpx.get(f"{topology.url}/v2/sessions/count", timeout=10).json()
    assert set(holders) == {node.port for node in redis_cluster.primaries()}
    print(f"\n30 sessions over the primaries: {sorted(holders.values())}")
    assert count["active_session_count"] == 30


async def test_rate_limit_counters_are_shared_and_sharded_on_a_cluster(
    redis_cluster_url: str, redis_cluster: RedisCluster
) -> None:
    security = SecuritySettings(rate_limit_principal="3/minute")
    redis = RedisSettings(url=redis_cluster_url, cluster=True)
    first, second = RateLimiter(security, redis), RateLimiter(security, redis)
    decisions = [await (first if i % 2 else second).check("alice") for i in range(4)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    for index in range(60):
        assert (await first.check(f"principal-{index}")).allowed
    sizes = [int(node.info("DBSIZE")) for node in redis_cluster.primaries()]
    print(f"\nrate-limit keys per primary: {sizes}")
    assert all(size > 0 for size in sizes)


async def test_cluster_callers_queue_for_a_connection_instead_of_failing(
    redis_cluster_url: str, redis_cluster: RedisCluster
) -> None:
    """More concurrent commands than the pool holds wait for a connection (redis-py's own
    cluster pools raise MaxConnectionsError), as the single-node client's callers do."""
    client = redis_client(RedisSettings(url=redis_cluster_url, cluster=True, pool_size=2))
    try:
        replies = await asyncio.gather(*(client.incr("queued") for _ in range(200)))
        assert sorted(replies) == list(range(1, 201))
    finally:
        await client.aclose()


class Load:
    """Sessions each observed in a loop through nginx (one request in flight per session);
    every outcome recorded with when it happened."""

    def __init__(self, base_url: str, sessions: list[str]) -> None:
        self.base_url = base_url
        self.sessions = sessions
        self.outcomes: list[tuple[float, int, str]] = []  # (monotonic, status, body)
        self.acknowledged = dict.fromkeys(sessions, 0)
        self.stop = asyncio.Event()

    async def drive(self, client: httpx.AsyncClient, session_id: str) -> None:
        step = 0
        while not self.stop.is_set():
            url = f"{self.base_url}/v2/sessions/{session_id}/observe"
            try:
                response = await client.post(url, json={"strings": [f"s{step}"]})
                status, body = response.status_code, response.text
            except httpx.HTTPError as error:
                status, body = 0, f"{type(error).__name__}: {error}"
            self.outcomes.append((time.monotonic(), status, body))
            self.acknowledged[session_id] += status == 200
            step += 1
            await asyncio.sleep(0.01)

    async def run(self, during: Any) -> Any:
        async with httpx.AsyncClient(timeout=30) as client:
            drivers = [asyncio.create_task(self.drive(client, s)) for s in self.sessions]
            try:
                return await asyncio.to_thread(during)
            finally:
                self.stop.set()
                await asyncio.gather(*drivers)


def test_a_primary_killed_under_load_fails_over_with_503s_only_in_the_window() -> None:
    with RedisCluster() as redis_cluster:
        env = {
            # Redis errors open the breaker; on a cluster it should retry about as soon as a
            # replica can have been promoted (node timeout 1 s here), not after 30 s.
            "KATO_RESILIENCE__CIRCUIT_BREAKER__REDIS__RECOVERY_TIMEOUT": "1",
        }
        with Cluster(redis_cluster.url, redis_cluster=True, env=env) as topology:
            sessions = [create_session(topology.url, f"failover-{i}") for i in range(24)]
            pids = [instance.pid for instance in topology.instances]
            space = KeySpace(cluster=True)
            slot = key_slot(space.session(sessions[0]).record.encode())
            victim = redis_cluster.primary_of_slot(slot)
            window: dict[str, float] = {}
            load = Load(topology.url, sessions)

            def kill_and_wait() -> None:
                deadline = time.monotonic() + 60
                while len(load.outcomes) < 200 and time.monotonic() < deadline:
                    time.sleep(0.1)  # steady load first (a loaded machine starts slowly)
                window["killed"] = time.monotonic()
                victim.kill()
                redis_cluster.wait_for_failover(victim, slot)
                window["promoted"] = time.monotonic()
                time.sleep(4.0)  # the breaker closes, every session answers again

            asyncio.run(load.run(kill_and_wait))
            stored = {s: len(stm_of(topology.url, s)) for s in sessions}
            assert [instance.pid for instance in topology.instances] == pids
            assert all(instance.running for instance in topology.instances)
            logs = "\n".join(instance.log_tail()[-3000:] for instance in topology.instances)

    failed = [(at, status, body) for at, status, body in load.outcomes if status != 200]
    for _, status, body in failed:
        assert status == 503, body
        assert httpx.Response(503, text=body).json()["error"]["code"] in ENVELOPE_CODES, body
    before = [o for o in load.outcomes if o[0] < window["killed"]]
    after = [o for o in load.outcomes if o[0] > window["promoted"] + 2.0]
    assert before and {status for _, status, _ in before} == {200}
    late = Counter(round(at - window["killed"], 1) for at, status, _ in after if status != 200)
    assert after and not late, (late, window["promoted"] - window["killed"], logs)
    first_failure = min((at for at, _, _ in failed), default=window["killed"])
    last_failure = max((at for at, _, _ in failed), default=window["killed"])
    lost = sum(max(0, load.acknowledged[s] - stored[s]) for s in sessions)
    unacknowledged = sum(max(0, stored[s] - load.acknowledged[s]) for s in sessions)
    print(
        f"\nfailover: replica promoted {window['promoted'] - window['killed']:.2f} s after the"
        f" kill; 503s from {first_failure - window['killed']:+.2f} s to"
        f" {last_failure - window['killed']:+.2f} s ({len(failed)} of {len(load.outcomes)}"
        f" requests); acknowledged observes lost: {lost};"
        f" applied but answered 503: {unacknowledged}"
    )
