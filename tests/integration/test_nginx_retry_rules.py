"""The shipped nginx retry rules re-send a request only when that is safe.

A real nginx with ``deploy/nginx-kato-locations.conf`` in front of two scripted upstreams that
count what reaches them. The rule under test: a POST is sent to a second instance only when
the first did not process it (connection refused, or 503 with ``X-Kato-Not-Processed``);
a POST that met any other 503 or a dropped connection is never sent twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kato.api.draining import NOT_PROCESSED_HEADER
from tests.integration.cluster import Nginx
from tests.servers import free_port

pytestmark = pytest.mark.slow


class ScriptedUpstream:
    """Answers every request the same way (``mode``) and counts requests by method."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.hits: dict[str, int] = {}
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.hits[self.command] = upstream.hits.get(self.command, 0) + 1
                if upstream.mode == "reset":  # the request arrived, then the instance died
                    self.close_connection = True
                    self.connection.close()
                    return
                status, headers = {
                    "ok": (200, {}),
                    "busy": (503, {"Retry-After": "2"}),
                    "draining": (503, {NOT_PROCESSED_HEADER: "true", "Retry-After": "1"}),
                }[upstream.mode]
                body = b'{"status": "ok"}' if status == 200 else b'{"error": {}}'
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


Balanced = Callable[[str, str], tuple[Nginx, "ScriptedUpstream", "ScriptedUpstream"]]


@pytest.fixture
def balanced() -> Iterator[Balanced]:
    """Start nginx over two scripted upstreams of the given modes."""
    started: list[object] = []

    def start(first: str, second: str) -> tuple[Nginx, ScriptedUpstream, ScriptedUpstream]:
        upstreams = ScriptedUpstream(first), ScriptedUpstream(second)
        nginx = Nginx([upstream.port for upstream in upstreams]).start()
        started.extend([*upstreams, nginx])
        return nginx, *upstreams

    yield start
    for thing in reversed(started):
        if isinstance(thing, Nginx):
            thing.stop()
        else:
            assert isinstance(thing, ScriptedUpstream)
            thing.close()


def test_a_post_refused_unprocessed_is_sent_to_another_instance_once(balanced: Balanced) -> None:
    nginx, draining, healthy = balanced("draining", "ok")

    statuses = [
        httpx.post(f"{nginx.url}/v2/sessions/s/observe", json={}).status_code for _ in range(4)
    ]

    assert statuses == [200] * 4
    assert draining.hits.get("POST", 0) >= 1
    assert healthy.hits["POST"] == 4  # each observe applied exactly once


def test_a_post_that_met_another_503_is_not_sent_twice(balanced: Balanced) -> None:
    nginx, first, second = balanced("busy", "busy")

    response = httpx.post(f"{nginx.url}/v2/sessions/s/observe", json={})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "KATO_SERVICE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "2"
    assert first.hits.get("POST", 0) + second.hits.get("POST", 0) == 1


def test_a_post_whose_connection_dropped_is_not_sent_twice(balanced: Balanced) -> None:
    nginx, first, second = balanced("reset", "reset")

    response = httpx.post(f"{nginx.url}/v2/sessions/s/observe", json={})

    assert response.status_code == 502
    assert first.hits.get("POST", 0) + second.hits.get("POST", 0) == 1


def test_a_post_to_a_stopped_instance_goes_to_the_other(balanced: Balanced) -> None:
    nginx, stopped, healthy = balanced("ok", "ok")
    stopped.close()  # connection refused: nothing was sent

    statuses = [
        httpx.post(f"{nginx.url}/v2/sessions/s/observe", json={}).status_code for _ in range(4)
    ]

    assert statuses == [200] * 4
    assert healthy.hits["POST"] == 4


@pytest.mark.parametrize("mode", ["busy", "reset"])
def test_an_idempotent_request_is_retried_on_the_other_instance(
    balanced: Balanced, mode: str
) -> None:
    nginx, first, second = balanced(mode, mode)

    httpx.get(f"{nginx.url}/v2/sessions/s/predictions")

    assert first.hits.get("GET", 0) + second.hits.get("GET", 0) == 2
