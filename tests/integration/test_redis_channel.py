"""The one-step observe's script channel (kato/sessions/redis_channel.py) against a real
``redis-server``: the replies and errors redis-py gives, NOSCRIPT, credentials and database,
reconnects and resends, the read timeout, and calls pipelined on one connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from kato.config import RedisSettings
from kato.sessions.redis_channel import ScriptChannel, pack, parse
from kato.sessions.redis_store import resend_once
from tests.servers import RedisServer

# A script answering each kind of reply: KEYS[1] is set to ARGV[1]; ARGV[2] picks the reply.
SCRIPT = """
redis.call('SET', KEYS[1], ARGV[1])
local kind = ARGV[2]
if kind == 'error' then return redis.error_reply('READONLY demoted') end
if kind == 'plain-error' then return redis.error_reply('ERR something failed') end
if kind == 'busy' then
  local function now() local t = redis.call('TIME'); return t[1] * 1000000 + t[2] end
  local deadline = now() + 500000
  while now() < deadline do end
end
return {1, tonumber(ARGV[1]), {'text', false}, redis.call('GET', KEYS[1])}
"""


@contextmanager
def channel(url: str, socket_timeout: float = 5.0) -> Iterator[ScriptChannel]:
    found = ScriptChannel.for_settings(
        RedisSettings(url=url, socket_timeout=socket_timeout), SCRIPT, resend_once(), False
    )
    assert found is not None
    try:
        yield found
    finally:
        found.close()


@contextmanager
def raw_client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own: it is reconfigured, killed or restarted."""
    with RedisServer() as server:
        yield server


async def test_replies_are_what_redis_py_gives(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        expected = await client.register_script(SCRIPT)(keys=["k"], args=[42, "ok"])
    finally:
        await client.aclose()  # type: ignore[attr-defined]  # stale types-redis stubs
    with channel(redis_url) as lean:
        assert await lean.call(["k"], [42, "ok"]) == expected == [1, 42, [b"text", None], b"42"]


async def test_error_replies_raise_redis_pys_classes(redis_url: str) -> None:
    with channel(redis_url) as lean:
        with pytest.raises(redis_errors.ReadOnlyError, match="demoted"):
            await lean.call(["k"], [1, "error"])
        with pytest.raises(redis_errors.ResponseError, match="something failed"):
            await lean.call(["k"], [1, "plain-error"])
        assert (await lean.call(["k"], [2, "ok"]))[1] == 2  # the connection stays usable


async def test_a_flushed_script_cache_is_filled_again(redis_url: str) -> None:
    with channel(redis_url) as lean, raw_client(redis_url) as raw:
        await lean.call(["k"], [1, "ok"])
        raw.script_flush()
        assert (await lean.call(["k"], [7, "ok"]))[1] == 7  # NOSCRIPT, then EVAL
        assert raw.script_exists(lean._sha.decode()) == [True]


async def test_credentials_and_database_of_the_url(own_server: RedisServer) -> None:
    with raw_client(own_server.url) as raw:
        raw.acl_setuser("kato", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all"])
        raw.config_set("requirepass", "secret")
    host = f"127.0.0.1:{own_server.port}"
    for url in (f"redis://:secret@{host}/3", f"redis://kato:pw@{host}/2"):
        with channel(url) as lean:
            await lean.call(["where"], [5, "ok"])
        with raw_client(url) as check:
            assert check.get("where") == b"5"
    with (
        channel(f"redis://:nope@{host}/0") as wrong,
        pytest.raises(redis_errors.AuthenticationError),
    ):
        await wrong.call(["k"], [1, "ok"])


async def test_a_dropped_connection_is_replaced(own_server: RedisServer) -> None:
    with channel(own_server.url) as lean, raw_client(own_server.url) as raw:
        await lean.call(["k"], [1, "ok"])
        assert raw.client_kill_filter(_type="normal", skipme=True) == 1
        await asyncio.sleep(0.05)  # the close reaches the channel's connection
        assert (await lean.call(["k"], [2, "ok"]))[1] == 2


async def test_a_stopped_server_is_a_connection_error(own_server: RedisServer) -> None:
    with channel(own_server.url) as lean:
        await lean.call(["k"], [1, "ok"])
        own_server.kill()
        with pytest.raises(redis_errors.ConnectionError):
            await lean.call(["k"], [2, "ok"])
        own_server.restart()
        assert (await lean.call(["k"], [3, "ok"]))[1] == 3


async def test_a_reply_late_by_the_socket_timeout_is_a_timeout(own_server: RedisServer) -> None:
    with channel(own_server.url, socket_timeout=0.3) as lean:
        await lean.call(["k"], [1, "ok"])
        own_server.pause()
        started = time.monotonic()
        try:
            with pytest.raises(redis_errors.TimeoutError):
                await lean.call(["k"], [2, "ok"])  # sent, then resent once: two timeouts
        finally:
            own_server.resume()
        assert 0.5 <= time.monotonic() - started < 5
        assert (await lean.call(["k"], [3, "ok"]))[1] == 3


async def test_a_caller_that_stopped_waiting_keeps_its_place(redis_url: str) -> None:
    """Its reply is dropped when it comes; the next caller gets its own."""
    with channel(redis_url) as lean:
        await lean.call(["k"], [1, "ok"])
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await lean.call(["k"], [2, "busy"])  # Redis runs it for half a second
        assert (await lean.call(["k"], [3, "ok"]))[1] == 3


async def test_concurrent_calls_share_one_connection_in_order(redis_url: str) -> None:
    with channel(redis_url) as lean, raw_client(redis_url) as raw:
        before = {client["id"] for client in raw.client_list()}  # other tests' may linger
        replies = await asyncio.gather(*(lean.call([f"k{n}"], [n, "ok"]) for n in range(300)))
        assert [reply[1] for reply in replies] == list(range(300))
        assert [reply[3] for reply in replies] == [b"%d" % n for n in range(300)]
        opened = [client for client in raw.client_list() if client["id"] not in before]
        assert [client["cmd"] for client in opened] == ["evalsha"]


def test_redis_py_keeps_the_call_where_the_channel_does_not_apply() -> None:
    def settings(**fields: object) -> RedisSettings:
        return RedisSettings.model_validate({"url": "redis://127.0.0.1:6379/0", **fields})

    assert ScriptChannel.for_settings(settings(), SCRIPT, resend_once(), False) is not None
    assert ScriptChannel.for_settings(settings(), SCRIPT, resend_once(), True) is None  # traced
    assert ScriptChannel.for_settings(settings(cluster=True), SCRIPT, resend_once(), False) is None
    for url in ("rediss://127.0.0.1:6379/0", "unix:///tmp/redis.sock"):
        assert ScriptChannel.for_settings(settings(url=url), SCRIPT, resend_once(), False) is None


def test_the_parser_waits_for_a_whole_reply() -> None:
    whole = bytearray(b"*3\r\n:1\r\n$4\r\nab\r\n\r\n*-1\r\n+OK\r\n")
    for cut in range(23):  # the array's 23 bytes, each cut short
        assert parse(whole[:cut], 0) is None
    assert parse(whole, 0) == ([1, b"ab\r\n", None], 23)
    assert parse(whole, 23) == (b"OK", 28)
    assert pack(b"GET", b"k") == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
