"""The client SDK against the real app: in-process through httpx transports (with the
lifespan running) for both clients, and over loopback against a real ``kato serve``."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import pytest
from fastapi import FastAPI

from kato.api.app import create_app
from kato.client import (
    AsyncKatoClient,
    AsyncSession,
    BadRequest,
    EmptySTM,
    Forbidden,
    KatoAPIError,
    KatoClient,
    KatoClientError,
    KatoConnectionError,
    LimitExceeded,
    PatternNotFound,
    RateLimited,
    RetryPolicy,
    ServiceUnavailable,
    Session,
    SessionInfo,
    SessionNotFound,
    Unauthorized,
    ValidationFailed,
    observation,
)
from kato.client._shared import Call, Repeat, exchange
from kato.client._shared import health as health_call
from kato.client.errors import error_from_response
from kato.config import Settings
from kato.core.hashing import pattern_hash
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import api_keys_path
from tests.api.conftest import make_settings
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token
from tests.servers import free_port, kato_serving

AB = pattern_hash([["a"], ["b"]])
FAST_RETRY = RetryPolicy(max_retries=1, backoff=0.01, max_delay=2.0)


class InProcessTransport(httpx.BaseTransport):
    """A blocking transport onto the app's ``httpx.ASGITransport``.

    ``ASGITransport`` is async-only, so an event loop in a helper thread (anyio's blocking
    portal) runs the app and its lifespan; closing the transport ends the lifespan.
    """

    def __init__(self, app: FastAPI) -> None:
        self._stack = contextlib.ExitStack()
        self._portal = self._stack.enter_context(anyio.from_thread.start_blocking_portal())
        self._stack.enter_context(
            self._portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        self._asgi = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._portal.call(self._forward, request)

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        forwarded = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )
        response = await self._asgi.handle_async_request(forwarded)
        content = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def close(self) -> None:
        self._stack.close()


class CountingTransport(httpx.AsyncBaseTransport):
    """Records every request that reaches the real transport underneath."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)


class CountingSyncTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return self.inner.handle_request(request)


@asynccontextmanager
async def async_client(
    settings: Settings, counting: bool = False, **options: Any
) -> AsyncIterator[tuple[AsyncKatoClient, list[tuple[str, str]]]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = CountingTransport(httpx.ASGITransport(app=app, raise_app_exceptions=False))
        async with AsyncKatoClient("http://kato", transport=transport, **options) as client:
            yield client, transport.sent


@contextlib.contextmanager
def sync_client(settings: Settings, **options: Any) -> Iterator[KatoClient]:
    with KatoClient(
        "http://kato", transport=InProcessTransport(create_app(settings)), **options
    ) as client:
        yield client


def _security(tmp_path: Path, **security: Any) -> Settings:
    security.setdefault("audit_log_file", str(tmp_path / "audit.log"))
    return make_settings(tmp_path, security=security)


# -- every method ------------------------------------------------------------------------


def test_sync_client_every_method(tmp_path: Path) -> None:
    with sync_client(make_settings(tmp_path)) as kato:
        assert kato.health()["status"] == "healthy"
        session = kato.create_session(
            "alice", metadata={"team": "x"}, ttl_seconds=120, config={"max_predictions": 7}
        )
        assert isinstance(session, Session) and session.node_id == "alice"
        assert session.snapshot.metadata == {"team": "x"} and session.snapshot.ttl_seconds == 120
        assert session.config()["max_predictions"] == 7
        assert kato.count_sessions() == 1 and kato.session_exists(session.id)

        first = session.observe(["a"], emotives={"joy": 0.5}, unique_id="u-1")
        assert (first["time"], first["stm_length"], first["unique_id"]) == (1, 1, "u-1")
        session.observe(strings=["b"])
        assert session.stm() == [["a"], ["b"]]
        assert session.learn() == f"PTRN|{AB}"
        assert kato.get_pattern(f"PTRN|{AB}", session)["pattern_data"] == [["a"], ["b"]]
        assert session.get_pattern(AB)["frequency"] == 1

        session.observe(["a"])
        session.observe(["b"])  # predictions need two symbols in the STM
        assert [p["name"] for p in session.predictions()] == [AB]
        assert session.percept_data()["strings"] == ["b"]
        assert session.cognition_data()["predictions"][0]["name"] == AB
        assert session.update_config(max_predictions=3)["max_predictions"] == 3
        assert session.config()["max_predictions"] == 3

        session.clear_stm()
        assert session.stm() == []
        summary = session.observe_sequence(
            [observation(["a"]), observation(["b"], vectors=[[0.5, 0.25]])], learn_at_end=True
        )
        assert summary["observations_processed"] == 2
        assert summary["final_learned_pattern"] is not None

        before = session.info().expires_at
        session.extend(7200)
        after = session.info()
        assert isinstance(after, SessionInfo) and after.expires_at > before
        assert after.ttl_seconds == 7200

        session.clear_all()
        with pytest.raises(PatternNotFound):
            session.get_pattern(AB)
        assert kato.status()["base_processor_id"]
        assert kato.get_session(session.id).id == session.id
        session.delete()
        assert not session.exists()
        with pytest.raises(SessionNotFound):
            session.info()


async def test_async_client_every_method(tmp_path: Path) -> None:
    async with async_client(make_settings(tmp_path)) as (kato, _):
        assert (await kato.health())["status"] == "healthy"
        session = await kato.create_session(
            "alice", metadata={"team": "x"}, ttl_seconds=120, config={"max_predictions": 7}
        )
        assert session.node_id == "alice" and session.snapshot.metadata == {"team": "x"}
        assert (await session.config())["max_predictions"] == 7
        assert await kato.count_sessions() == 1 and await kato.session_exists(session.id)

        first = await session.observe(["a"], emotives={"joy": 0.5}, unique_id="u-1")
        assert (first["time"], first["stm_length"], first["unique_id"]) == (1, 1, "u-1")
        await session.observe(strings=["b"])
        assert await session.stm() == [["a"], ["b"]]
        assert await session.learn() == f"PTRN|{AB}"
        assert (await kato.get_pattern(AB, session.id))["pattern_data"] == [["a"], ["b"]]
        assert (await session.get_pattern(f"PTRN|{AB}"))["frequency"] == 1

        await session.observe(["a"])
        await session.observe(["b"])
        assert [p["name"] for p in await session.predictions()] == [AB]
        assert (await session.percept_data())["strings"] == ["b"]
        assert (await session.cognition_data())["predictions"][0]["name"] == AB
        assert (await session.update_config({"max_predictions": 3}))["max_predictions"] == 3

        await session.clear_stm()
        assert await session.stm() == []
        summary = await session.observe_sequence(
            [observation(["a"]), observation(["b"])], learn_after_each=True
        )
        assert summary["observations_processed"] == 2

        before = (await session.info()).expires_at
        await session.extend(7200)
        assert (await session.info()).expires_at > before

        await session.clear_all()
        with pytest.raises(PatternNotFound):
            await session.get_pattern(AB)
        assert "sessions" in await kato.status()
        assert (await kato.get_session(session.id)).id == session.id
        await session.delete()
        assert not await session.exists()
        with pytest.raises(SessionNotFound):
            await session.stm()


# -- typed errors ------------------------------------------------------------------------


def test_sync_errors_are_typed_with_envelope_fields(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, limits={"max_symbols_per_observation": 2})
    with sync_client(settings) as kato:
        with pytest.raises(SessionNotFound) as unknown:
            kato.get_session("no-such-session")
        error = unknown.value
        assert (error.status, error.code) == (404, "KATO_SESSION_NOT_FOUND")
        assert error.details["session_id"] == "no-such-session"
        assert error.trace_id and len(error.trace_id) == 32

        session = kato.create_session("bob")
        with pytest.raises(EmptySTM) as empty:
            session.learn()
        assert isinstance(empty.value, BadRequest)
        assert (empty.value.status, empty.value.code) == (400, "KATO_EMPTY_STM")

        with pytest.raises(ValidationFailed) as schema:
            session.observe(emotives={"joy": "high"})  # type: ignore[dict-item]
        assert schema.value.status == 422
        assert schema.value.details["errors"][0]["loc"][-1] == "joy"

        with pytest.raises(ValidationFailed) as refused:
            session.update_config(recall_threshold=5)
        assert refused.value.status == 400 and refused.value.details["validation_errors"]

        with pytest.raises(LimitExceeded) as limit:
            session.observe(["a", "b", "c"])
        assert limit.value.details["maximum"] == 2

        with pytest.raises(TypeError):
            session.observe("abc")
        assert session.stm() == []  # nothing above was applied


async def test_async_errors_are_typed(tmp_path: Path) -> None:
    async with async_client(make_settings(tmp_path)) as (kato, _):
        with pytest.raises(SessionNotFound) as unknown:
            await kato.get_pattern(AB, "no-such-session")
        assert unknown.value.status == 404 and unknown.value.trace_id
        session = await kato.create_session("bob")
        with pytest.raises(EmptySTM):
            await session.learn()
        with pytest.raises(ValidationFailed) as schema:
            await session.observe(vectors=[["x"]])  # type: ignore[list-item]
        assert schema.value.status == 422
        with pytest.raises(PatternNotFound):
            await kato.get_pattern("0" * 40, session)


def test_error_decoding_without_envelope_and_retry_after_date() -> None:
    proxy = httpx.Response(
        502, text="<html>bad gateway</html>", headers={"X-Trace-ID": "from-header"}
    )
    error = error_from_response(proxy)
    assert type(error) is KatoAPIError
    assert (error.status, error.code, error.trace_id) == (502, "HTTP_502", "from-header")
    draining = httpx.Response(
        503,
        json={"error": {"code": "KATO_SHUTTING_DOWN", "message": "m", "details": {}}},
        headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "X-Kato-Not-Processed": "true"},
    )
    decoded = error_from_response(draining)
    assert isinstance(decoded, ServiceUnavailable) and decoded.not_processed
    assert decoded.retry_after == 0.0  # a date in the past: retry now


def test_a_success_status_without_a_kato_body_is_a_client_error() -> None:
    steps = exchange(health_call(), RetryPolicy())
    assert next(steps) == health_call()
    with pytest.raises(KatoClientError, match="not a KATO API response"):
        steps.send(httpx.Response(200, text="<html>captive portal</html>"))


# -- retries -----------------------------------------------------------------------------


def _error(status: int, code: str = "X", not_processed: bool = False) -> KatoAPIError:
    return KatoAPIError(status, code, "m", retry_after=None, not_processed=not_processed)


@pytest.mark.parametrize(
    ("repeat", "error", "retried"),
    [
        (Repeat.IDEMPOTENT, _error(503, "KATO_DATABASE_ERROR"), True),
        (Repeat.IDEMPOTENT, _error(504), True),
        (Repeat.IDEMPOTENT, _error(404), False),
        (Repeat.IF_NOT_APPLIED, _error(429), True),
        (Repeat.IF_NOT_APPLIED, _error(503, "KATO_OVERLOADED"), True),
        (Repeat.IF_NOT_APPLIED, _error(503, "KATO_SHUTTING_DOWN", not_processed=True), True),
        (Repeat.IF_NOT_APPLIED, _error(503, "KATO_DATABASE_ERROR"), False),  # maybe applied
    ],
)
def test_retry_policy_retries_only_where_safe(
    repeat: Repeat, error: KatoAPIError, retried: bool
) -> None:
    call: Call[None] = Call("POST", "/x", lambda _: None, repeat)
    assert (RetryPolicy().after_error(call, error, attempt=0) is not None) is retried
    assert RetryPolicy(max_retries=0).after_error(call, error, attempt=0) is None


async def test_rate_limit_retries_reads_and_writes(tmp_path: Path) -> None:
    settings = _security(tmp_path, rate_limit_enabled=True, rate_limit_principal="1/second")
    async with async_client(settings, retry=FAST_RETRY) as (kato, sent):
        session = await kato.create_session("carol")
        await session.observe(["a"])  # 429, waits Retry-After, repeated once: succeeds
        await session.clear_stm()  # the same for the other writes
        assert await session.stm() == []  # and for a read
    observe_path = f"/v2/sessions/{session.id}/observe"
    assert sent.count(("POST", observe_path)) == 2
    assert sent.count(("POST", f"/v2/sessions/{session.id}/clear-stm")) == 2
    assert sent.count(("GET", f"/v2/sessions/{session.id}/stm")) == 2


def test_long_retry_after_is_raised_not_waited(tmp_path: Path) -> None:
    settings = _security(tmp_path, rate_limit_enabled=True, rate_limit_principal="2/minute")
    with sync_client(settings, retry=FAST_RETRY) as kato:
        kato.count_sessions()
        kato.count_sessions()
        with pytest.raises(RateLimited) as limited:
            kato.count_sessions()
        assert limited.value.status == 429 and limited.value.retry_after is not None
        assert limited.value.retry_after > FAST_RETRY.max_delay


def test_connection_errors_retry_reads_and_writes() -> None:
    transport = CountingSyncTransport(httpx.HTTPTransport())
    base = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with KatoClient(base, transport=transport, retry=FAST_RETRY) as kato:
        session = Session(kato, SessionInfo("s-1", "n", "", "", "", 60, 0))
        operations = (kato.health, session.learn, lambda: session.observe(["a"]), session.delete)
        for operation in operations:
            with pytest.raises(KatoConnectionError):
                operation()
    assert [path for _, path in transport.sent] == [
        "/health",
        "/health",
        "/v2/sessions/s-1/learn",
        "/v2/sessions/s-1/learn",
        "/v2/sessions/s-1/observe",
        "/v2/sessions/s-1/observe",
        "/v2/sessions/s-1",  # a write without a key: retried only because it was never sent
        "/v2/sessions/s-1",
    ]


# -- authentication ----------------------------------------------------------------------


def test_api_key_headers_sync(tmp_path: Path) -> None:
    settings = _security(tmp_path, auth_mode="api_key")
    store = ApiKeyStore(api_keys_path(settings))
    reader, _ = store.create("dash", ["reader"])
    writer, _ = store.create("etl", ["writer"])
    with sync_client(settings) as anonymous:
        assert anonymous.health()["status"] == "healthy"  # public probe
        with pytest.raises(Unauthorized) as missing:
            anonymous.count_sessions()
        assert missing.value.code == "KATO_UNAUTHORIZED"
    with sync_client(settings, api_key=reader) as read_only:
        with pytest.raises(Forbidden):
            read_only.create_session("n1")
        assert read_only.count_sessions() == 0
    with sync_client(settings, api_key=writer) as kato:
        session = kato.create_session("n1")
        assert session.observe(["a"])["stm_length"] == 1
    with pytest.raises(ValueError):
        KatoClient("http://kato", api_key=writer, token="t")


async def test_api_key_and_jwt_headers_async(tmp_path: Path) -> None:
    settings = _security(
        tmp_path,
        auth_mode="api_key+jwt",
        jwt_secret=HS_SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    )
    writer, _ = ApiKeyStore(api_keys_path(settings)).create("etl", ["writer"])
    async with async_client(settings, api_key=writer) as (kato, _):
        session = await kato.create_session("n1")
        await session.observe(["a"])
        with pytest.raises(Forbidden):
            await session.clear_all()  # admin only
    token = hs256_token(sub="alice", roles=["writer"])
    async with async_client(settings, token=token) as (kato, _):
        assert (await (await kato.create_session("n2")).observe(["b"]))["time"] == 1
    async with async_client(settings, token="not-a-jwt") as (kato, _):
        with pytest.raises(Unauthorized):
            await kato.count_sessions()


# -- a real server over loopback ---------------------------------------------------------


@pytest.mark.slow
async def test_both_clients_against_kato_serve(tmp_path: Path) -> None:
    with kato_serving(tmp_path) as base:
        with KatoClient(base) as kato:
            session = kato.create_session("wire")
            session.observe(["a"])
            session.observe(["b"])
            assert session.learn() == f"PTRN|{AB}"
            with pytest.raises(SessionNotFound) as unknown:
                kato.get_session("missing")
            assert unknown.value.trace_id
        async with AsyncKatoClient(base) as akato:
            again = await akato.get_session(session.id)
            await again.observe(["a"])
            await again.observe(["b"])
            assert [p["name"] for p in await again.predictions()] == [AB]
            with pytest.raises(EmptySTM):
                await (await akato.create_session("wire")).learn()
            assert (await akato.health())["active_sessions"] == 2


def test_sync_and_async_clients_have_the_same_api() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_") and name not in {"close", "aclose"}
        }

    def comparable(signature: inspect.Signature) -> list[tuple[str, Any]]:
        return [(p.name, p.default) for p in signature.parameters.values()]

    for sync_cls, async_cls in ((KatoClient, AsyncKatoClient), (Session, AsyncSession)):
        sync_api, async_api = public(sync_cls), public(async_cls)
        assert sync_api.keys() == async_api.keys()
        for name, signature in sync_api.items():
            assert comparable(signature) == comparable(async_api[name]), name
            method = getattr(async_cls, name)
            # Streams (pages, export lines) are async generators; everything else a coroutine.
            assert inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method), name
