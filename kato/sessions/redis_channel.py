"""One pipelined Redis connection for the one-step observe's script (issue 10 req 3).

Why not redis-py for this one call: through ``redis.asyncio`` an ``EVALSHA`` costs some
75–110 µs of CPU (the pool and its condition, the stream reader, the parser's layers, the
retry and event hooks) — a fifth of a Redis observe — where a protocol of our own,
pipelining every call of the process on one connection, costs under 20 µs (both measured in
isolation; the whole observe either way: benchmarks/redis_observe_cpu.py). Every other
command the store sends stays on redis-py, and so does this one on a Cluster, over TLS, on a
Unix socket, or while tracing is on (the instrumentation traces redis-py's commands):
:meth:`ScriptChannel.for_settings` then gives None.

It behaves as the redis-py client beside it does: the URL's username, password and
database (redis-py's ``parse_url``); the connect timeout; a reply not complete within the
socket timeout closes the connection with ``TimeoutError``; one resend on a new connection
after a ``ConnectionError`` or ``TimeoutError`` (the same ``Retry``; the script recognises a
resend by its call token); error replies raised as redis-py's exception classes
(``BaseParser.parse_error``); ``NOSCRIPT`` (a restarted or flushed server) answered by sending
the script itself, which caches it again. Replies arrive in the order the calls were
written, so a call whose caller stopped waiting (a timeout) keeps its place and its reply
is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis._parsers import BaseParser
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry

from kato.config import RedisSettings

Argument = str | int | bytes


def _encoded(value: Argument) -> bytes:
    """An argument as redis-py's encoder writes it (UTF-8, strict; integers as digits)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    raise redis_errors.DataError(f"invalid input of type {type(value).__name__!r}")


def pack(*parts: bytes) -> bytes:
    """One command in the protocol's request form (an array of bulk strings)."""
    return b"".join([b"*%d\r\n" % len(parts), *[b"$%d\r\n%b\r\n" % (len(p), p) for p in parts]])


def parse(buffer: bytearray, start: int) -> tuple[Any, int] | None:
    """The reply at ``start`` and where the next begins, or None while it is incomplete.

    RESP2: integers, simple and bulk strings (bytes), arrays, nulls (None) and errors (an
    exception instance, the class redis-py would raise)."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        return None
    kind, line, after = buffer[start], bytes(buffer[start + 1 : end]), end + 2
    if kind == 0x3A:  # ':'
        return int(line), after
    if kind == 0x2A:  # '*'
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item = parse(buffer, after)
            if item is None:
                return None
            items.append(item[0])
            after = item[1]
        return items, after
    if kind == 0x24:  # '$'
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            return None
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2B:  # '+'
        return line, after
    if kind == 0x2D:  # '-'
        return BaseParser.parse_error(line.decode("utf-8", "replace")), after
    raise redis_errors.InvalidResponse(f"Protocol Error: {bytes(buffer[start:end])!r}")


class _Connection(asyncio.Protocol):
    """One connection: calls written in order, their futures answered in that order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, address: str, read_timeout: float):
        self.loop = loop
        self._address = address
        self._read_timeout = read_timeout
        self._pending: deque[tuple[asyncio.Future[Any], float]] = deque()  # with its send time
        self._buffer = bytearray()
        self._outgoing: list[bytes] = []  # commands not yet written
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        position = 0
        pending = self._pending
        while pending:
            try:
                reply = parse(buffer, position)
            except (ValueError, redis_errors.InvalidResponse) as exc:
                self._fail(redis_errors.ConnectionError(f"{self._address}: {exc}"))
                return
            if reply is None:
                break
            position = reply[1]
            future = pending.popleft()[0]
            if not future.done():  # its caller may have stopped waiting
                future.set_result(reply[0])
        if position:
            del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis_errors.ConnectionError("Connection closed by server."))

    def usable(self) -> bool:
        """Open, and on the running loop (a store may outlive the loop it first ran on)."""
        return not self.closed and self.loop is asyncio.get_running_loop()

    def send(self, command: bytes) -> asyncio.Future[Any]:
        if self.closed or self._transport is None:
            raise redis_errors.ConnectionError("Connection closed by server.")
        future = self.loop.create_future()
        self._pending.append((future, self.loop.time()))
        # Written once the loop has run the callbacks at hand: the calls of the requests it
        # is serving share one write (a system call each was a tenth of a worker's CPU).
        if not self._outgoing:
            self.loop.call_soon(self._write_outgoing)
        self._outgoing.append(command)
        if self._timer is None:
            self._timer = self.loop.call_at(
                self.loop.time() + self._read_timeout, self._check_stalled
            )
        return future

    def _write_outgoing(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if not self.closed and self._transport is not None:
            self._transport.write(b"".join(outgoing))

    def _check_stalled(self) -> None:
        """One timer per connection, re-armed for the oldest call still waiting: a reply
        late by the socket timeout closes the connection, as redis-py's read timeout does."""
        self._timer = None
        if self.closed or not self._pending:
            return
        due = self._pending[0][1] + self._read_timeout
        if self.loop.time() < due:
            self._timer = self.loop.call_at(due, self._check_stalled)
            return
        self._fail(redis_errors.TimeoutError(f"Timeout reading from {self._address}"))

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            future = self._pending.popleft()[0]
            if not future.done():
                future.set_exception(error)
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self._fail(redis_errors.ConnectionError("Connection closed by client."))


class ScriptChannel:
    """Calls of one Lua script on one Redis primary, pipelined on one connection."""

    def __init__(
        self,
        url: str,
        script: str,
        *,
        socket_timeout: float,
        socket_connect_timeout: float,
        retry: Retry,
    ) -> None:
        options = parse_url(url)
        self._host = str(options.get("host", "localhost"))
        self._port = int(options.get("port", 6379))
        self._address = f"{self._host}:{self._port}"
        self._handshake: list[bytes] = []  # what redis-py sends on connect, but CLIENT SETINFO
        if options.get("password"):
            credentials = [options[name] for name in ("username", "password") if options.get(name)]
            self._handshake.append(pack(b"AUTH", *map(_encoded, credentials)))
        if int(options.get("db", 0)):
            self._handshake.append(pack(b"SELECT", _encoded(int(options["db"]))))
        self._script = script.encode("utf-8")
        self._sha = hashlib.sha1(self._script).hexdigest().encode()
        self._socket_timeout = socket_timeout
        self._connect_timeout = socket_connect_timeout
        self._retry = retry
        self._connection: _Connection | None = None
        # One connect at a time, the others wait and use its connection; a lock per loop,
        # as an asyncio lock may not be shared between loops.
        self._connecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @classmethod
    def for_settings(
        cls, settings: RedisSettings, script: str, retry: Retry, traced: bool
    ) -> ScriptChannel | None:
        """The channel for ``settings``, or None where redis-py keeps the call (above)."""
        url = settings.url
        if traced or settings.cluster or url is None or not url.startswith("redis://"):
            return None
        return cls(
            url,
            script,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.socket_connect_timeout,
            retry=retry,
        )

    async def call(self, keys: Sequence[str], args: Sequence[Argument]) -> Any:
        """``EVALSHA`` of the script: its reply, or the exception redis-py would raise."""
        encoded = [_encoded(part) for part in (*keys, *args)]
        count = b"%d" % len(keys)
        return await self._retry.call_with_retry(
            lambda: self._call(count, encoded), self._before_resend
        )

    async def _call(self, count: bytes, encoded: list[bytes]) -> Any:
        connection = self._connection
        if connection is None or not connection.usable():
            connection = await self._connect()
        reply = await connection.send(pack(b"EVALSHA", self._sha, count, *encoded))
        if isinstance(reply, redis_errors.NoScriptError):
            reply = await connection.send(pack(b"EVAL", self._script, count, *encoded))
        if isinstance(reply, Exception):
            raise reply
        return reply

    @staticmethod
    async def _before_resend(error: Exception) -> None:
        """Nothing to undo: a failed connection is closed, so the resend connects anew
        (``usable``); an error reply (a server still loading) leaves a sound connection."""

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting[0] is not loop:
            self._connecting = (loop, asyncio.Lock())
        async with self._connecting[1]:
            connection = self._connection
            if connection is not None and connection.usable():
                return connection
            try:
                async with asyncio.timeout(self._connect_timeout):
                    _, connection = await loop.create_connection(
                        lambda: _Connection(loop, self._address, self._socket_timeout),
                        self._host,
                        self._port,
                    )
            except TimeoutError:
                raise redis_errors.TimeoutError("Timeout connecting to server") from None
            except OSError as exc:
                raise redis_errors.ConnectionError(
                    f"Error {exc.errno} connecting to {self._address}. {exc.strerror}."
                ) from exc
            try:
                for command in self._handshake:  # its reply bounded by the read timeout too
                    reply = await connection.send(command)
                    if isinstance(reply, Exception):
                        raise reply
            except BaseException:
                connection.close()
                raise
            self._connection = connection
            return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
