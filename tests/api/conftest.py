"""API test fixtures: the real app with its lifespan, driven through the ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from kato.api.app import create_app
from kato.config import Settings


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings on a temporary data directory; vectors in the SQLite file (fast start)."""
    data: dict[str, Any] = {
        "service": {"data_dir": str(data_dir)},
        "database": {"qdrant": {"local_store": "sqlite"}},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Settings.model_validate(data)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # raise_app_exceptions=False: a 500 is answered like a real server would.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://kato") as client:
            yield client


ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def start(tmp_path: Path) -> ClientFactory:
    """``async with start(session={...}, limits={...}) as client`` — custom settings."""

    def factory(**sections: dict[str, Any]) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running(make_settings(tmp_path, **sections))

    return factory


@pytest.fixture
async def client(start: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with start() as started:
        yield started


async def new_session(client: httpx.AsyncClient, node_id: str = "alice", **extra: Any) -> str:
    response = await client.post("/v2/sessions", json={"node_id": node_id, **extra})
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def observe(client: httpx.AsyncClient, session_id: str, *strings: str, **extra: Any) -> Any:
    response = await client.post(
        f"/v2/sessions/{session_id}/observe", json={"strings": list(strings), **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The D10 envelope with the given status and code; returns the ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "status"}
    assert body["status"] == status
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details", "timestamp"}
    assert error["code"] == code
    assert error["details"]["trace_id"] == response.headers["X-Trace-ID"]
    return error
