"""A loopback TCP proxy for failure tests: forward, drop everything, or add latency.

It runs its own asyncio loop in a background thread, so synchronous tests switch its mode
while clients use it:

* ``forward()``: bytes pass both ways unchanged.
* ``blackhole()``: a network partition where traffic is *dropped*, not refused — connections
  are still accepted and read, but nothing reaches the other side and no error comes back,
  so clients only notice through their own timeouts. A connection that lost bytes stays
  blackholed for good (its stream is corrupt); new connections forward again after
  ``forward()``.
* ``add_latency(seconds)``: every chunk is delayed before it is forwarded (order kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass


@dataclass
class _Connection:
    dropped: bool = False


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._blackhole = False
        self._latency = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- control (any thread) ---------------------------------------------------------------

    def forward(self) -> None:
        self._blackhole, self._latency = False, 0.0

    def blackhole(self) -> None:
        self._blackhole = True

    def add_latency(self, seconds: float) -> None:
        self._blackhole, self._latency = False, seconds

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- proxying (the proxy's loop) ---------------------------------------------------------

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(dropped=self._blackhole)
        self._writers.add(writer)
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            if connection.dropped:  # partitioned from the start: swallow until the client quits
                await self._pipe(reader, None, connection)
                return
            upstream = await asyncio.open_connection(*self.target)
            self._writers.add(upstream[1])
            # return_exceptions: a reset on one side must not orphan the other pipe's error.
            await asyncio.gather(
                self._pipe(reader, upstream[1], connection),
                self._pipe(upstream[0], writer, connection),
                return_exceptions=True,
            )
        except OSError:
            pass  # the target refused, or a side reset: end both sides
        finally:
            for side in (writer, upstream[1] if upstream else None):
                if side is not None:
                    self._writers.discard(side)
                    side.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter | None,
        connection: _Connection,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if self._blackhole or connection.dropped or writer is None:
                    connection.dropped = True
                    continue
                if self._latency:
                    await asyncio.sleep(self._latency)
                writer.write(data)
                await writer.drain()
        finally:
            # One side ended: end the other, so the peer of a closed client is closed too.
            if writer is not None:
                with contextlib.suppress(OSError):
                    writer.close()
