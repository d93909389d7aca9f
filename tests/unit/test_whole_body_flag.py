"""``HeaderTimeoutProtocol`` tells the request pipeline when it already holds a request's
whole body (so the pipeline reads it without arming a timer), and only then."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from kato.resilience.slow_clients import WHOLE_BODY_RECEIVED, HeaderTimeoutProtocol


class _Transport(asyncio.Transport):
    """The socket side of the protocol, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.reading = True
        self.written = bytearray()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5555)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def _seen_by_app(*requests: bytes) -> list[tuple[str, bool, bytes]]:
    """Each request's path, whether the flag was set when the app started, and the body of
    its first read."""
    seen: list[tuple[str, bool, bytes]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        flagged = bool(scope.get(WHOLE_BODY_RECEIVED))
        message = await receive()
        seen.append((scope["path"], flagged, message["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = Config(app=app, log_level="warning")
    config.load()
    protocol = HeaderTimeoutProtocol(
        config=config, server_state=ServerState(), app_state={}, header_read_timeout=5.0
    )
    protocol.connection_made(_Transport())
    for data in requests:
        protocol.data_received(data)
        for _ in range(20):  # let the request's task run to its answer
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return seen


async def test_flag_set_when_the_body_arrived_with_the_headers() -> None:
    seen = await _seen_by_app(b"POST /whole HTTP/1.1\r\nHost: k\r\nContent-Length: 4\r\n\r\nabcd")
    assert seen == [("/whole", True, b"abcd")]


async def test_no_flag_while_the_body_is_still_arriving() -> None:
    seen = await _seen_by_app(b"POST /part HTTP/1.1\r\nHost: k\r\nContent-Length: 4\r\n\r\nab")
    assert seen == [("/part", False, b"ab")]


async def test_each_keep_alive_request_gets_its_own_flag() -> None:
    seen = await _seen_by_app(
        b"POST /first HTTP/1.1\r\nHost: k\r\nContent-Length: 2\r\n\r\nab",
        b"POST /second HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\n\r\nx",
    )
    assert seen == [("/first", True, b"ab"), ("/second", False, b"x")]
