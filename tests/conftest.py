"""Shared fixtures: one real redis-server for the whole test session, flushed per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.redis_cluster import redis_cluster, redis_cluster_url  # noqa: F401  (fixtures)
from tests.servers import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The shared server, empty at the start of the test. Tests that kill, pause or restart
    a server start their own ``RedisServer`` instead of using this one."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
        yield redis_server.url
    finally:
        client.close()
