"""``AsyncKatoClient``: the async client over ``httpx.AsyncClient`` (same API as ``_sync``)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from kato.client import _shared as api
from kato.client._shared import DEFAULT_TIMEOUT, Json, RetryPolicy, SessionInfo, Sleep
from kato.client.errors import error_from_response

T = TypeVar("T")


class AsyncKatoClient:
    """A KATO server at ``base_url``.

    ``api_key`` is sent as ``X-API-Key``, ``token`` (a JWT) as ``Authorization: Bearer``.
    ``transport`` is httpx's seam: pass ``httpx.MockTransport``, a custom transport, or one
    bound to an in-process app. ``retry`` bounds automatic retries (see ``RetryPolicy``).
    Use as ``async with``, or call ``await aclose()``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=api.default_headers(api_key, token, headers),
            timeout=timeout,
            transport=transport,
        )
        self._retry = retry or RetryPolicy()

    async def __aenter__(self) -> AsyncKatoClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, call: api.Call[T]) -> T:
        steps = api.exchange(call, self._retry)
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    await anyio.sleep(step.seconds)
                    step = steps.send(None)
                    continue
                request = self._http.build_request(
                    step.method, step.path, params=step.params, json=step.json, headers=step.headers
                )
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as error:
                    step = steps.throw(error)
                else:
                    step = steps.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    # -- sessions ------------------------------------------------------------------------

    async def create_session(
        self,
        node_id: str,
        metadata: Mapping[str, Any] | None = None,
        ttl_seconds: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> AsyncSession:
        """A new session on ``node_id`` (its knowledge base); ``config`` overrides genes."""
        info = await self._run(api.create_session(node_id, metadata, ttl_seconds, config))
        return AsyncSession(self, info)

    async def get_session(self, session_id: str) -> AsyncSession:
        """A handle on an existing session (``SessionNotFound`` if unknown or expired)."""
        return AsyncSession(self, await self._run(api.get_session(session_id)))

    async def session_exists(self, session_id: str) -> bool:
        return await self._run(api.session_exists(session_id))

    async def count_sessions(self) -> int:
        return await self._run(api.count_sessions())

    # -- v1 and system -------------------------------------------------------------------

    async def get_pattern(self, pattern_id: str, session: AsyncSession | str | None = None) -> Json:
        """A learned pattern, looked up in ``session``'s node (v1 ``X-Session-ID`` routing)."""
        session_id = session.id if isinstance(session, AsyncSession) else session
        return await self._run(api.get_pattern(pattern_id, session_id))

    async def health(self) -> Json:
        return await self._run(api.health())

    async def status(self) -> Json:
        return await self._run(api.status())

    # -- nodes: a knowledge base as data -------------------------------------------------

    async def list_nodes(self) -> list[Json]:
        return await self._run(api.list_nodes())

    async def node(self, node_id: str) -> Json:
        return await self._run(api.node_summary(node_id))

    async def patterns(self, node_id: str, **params: Any) -> Json:
        return await self._run(api.patterns_page(node_id, params))

    async def iter_patterns(self, node_id: str, **params: Any) -> AsyncIterator[Json]:
        cursor = params.pop("cursor", None)
        while True:
            page = await self.patterns(node_id, cursor=cursor, **params)
            for record in page["patterns"]:
                yield record
            cursor = page["next_cursor"]
            if cursor is None:
                return

    async def node_pattern(self, node_id: str, name: str) -> Json:
        return await self._run(api.node_pattern(node_id, name))

    async def update_pattern(
        self,
        node_id: str,
        name: str,
        frequency: int | None = None,
        emotives: Sequence[Mapping[str, float]] | None = None,
        metadata: Mapping[str, Sequence[str]] | None = None,
    ) -> Json:
        changes = {"frequency": frequency, "emotives": emotives, "metadata": metadata}
        return await self._run(api.update_pattern(node_id, name, changes))

    async def delete_pattern(self, node_id: str, name: str) -> None:
        await self._run(api.delete_pattern(node_id, name))

    async def symbols(self, node_id: str, **params: Any) -> Json:
        return await self._run(api.symbols_page(node_id, params))

    async def symbol(self, node_id: str, symbol: str) -> Json:
        return await self._run(api.node_symbol(node_id, symbol))

    async def learn_batch(self, node_id: str, sequences: Sequence[Any]) -> Json:
        return await self._run(api.learn_batch(node_id, sequences))

    async def predict_batch(
        self,
        node_id: str,
        contexts: Sequence[Sequence[Sequence[str]]],
        config: Mapping[str, Any] | None = None,
    ) -> list[list[Json]]:
        return await self._run(api.predict_batch(node_id, contexts, config))

    async def export(self, node_id: str) -> AsyncIterator[str]:
        """The knowledge base as JSON Lines, streamed (see ``KatoClient.export``)."""
        async with self._http.stream("GET", api.export_path(node_id)) as response:
            if not response.is_success:
                await response.aread()
                raise error_from_response(response)
            async for line in response.aiter_lines():
                yield line

    async def import_lines(
        self, node_id: str, lines: Iterable[Any] | AsyncIterable[Any], mode: str = "merge"
    ) -> Json:
        """Import JSON Lines streamed from ``lines`` (sync or async iterable)."""

        async def body() -> AsyncIterator[bytes]:
            if isinstance(lines, AsyncIterable):
                async for line in lines:
                    for chunk in api.ndjson_bytes([line]):
                        yield chunk
            else:
                for chunk in api.ndjson_bytes(lines):
                    yield chunk

        response = await self._http.post(
            api.import_path(node_id),
            params=api.import_params(mode),
            content=body(),
            headers={"Content-Type": api.NDJSON},
        )
        return api.imported(response)


class AsyncSession:
    """One KATO session: its own short-term memory on a shared node's knowledge base."""

    def __init__(self, client: AsyncKatoClient, info: SessionInfo) -> None:
        self._client = client
        self.id = info.session_id
        self.node_id = info.node_id
        self.snapshot = info  # as the server described it when this handle was made

    def __repr__(self) -> str:
        return f"AsyncSession(id={self.id!r}, node_id={self.node_id!r})"

    async def observe(
        self,
        strings: Sequence[str] | None = None,
        vectors: Sequence[Sequence[float]] | None = None,
        emotives: Mapping[str, float] | None = None,
        unique_id: str | None = None,
    ) -> Json:
        """One event; returns ``time``, ``stm_length``, ``unique_id``, ``auto_learned_pattern``.

        Without a ``unique_id`` one is generated; a retry sends the same one, so the server
        applies the event once."""
        event = api.observation(strings, vectors, emotives, unique_id)
        return await self._client._run(api.observe(self.id, event))

    async def observe_sequence(
        self,
        observations: Sequence[Json],
        learn_after_each: bool = False,
        learn_at_end: bool = False,
        clear_stm_between: bool = False,
    ) -> Json:
        """Many events in one request (``observations`` as built by ``observation()``)."""
        call = api.observe_sequence(
            self.id, observations, learn_after_each, learn_at_end, clear_stm_between
        )
        return await self._client._run(call)

    async def stm(self) -> list[list[str]]:
        return await self._client._run(api.stm(self.id))

    async def learn(self) -> str:
        """Learn the STM as a pattern; returns its name (``EmptySTM`` if nothing to learn)."""
        return await self._client._run(api.learn(self.id))

    async def clear_stm(self) -> None:
        await self._client._run(api.clear_stm(self.id))

    async def clear_all(self) -> None:
        """Clear the STM and the node's whole long-term memory (admin)."""
        await self._client._run(api.clear_all(self.id))

    async def predictions(self) -> list[Json]:
        return await self._client._run(api.predictions(self.id))

    async def config(self) -> Json:
        """The session's effective genes."""
        return await self._client._run(api.get_config(self.id))

    async def update_config(self, changes: Mapping[str, Any] | None = None, **genes: Any) -> Json:
        """Change genes (all or nothing); returns the new effective genes."""
        return await self._client._run(api.update_config(self.id, {**(changes or {}), **genes}))

    async def percept_data(self) -> Json:
        return await self._client._run(api.percept_data(self.id))

    async def cognition_data(self) -> Json:
        return await self._client._run(api.cognition_data(self.id))

    async def get_pattern(self, pattern_id: str) -> Json:
        return await self._client.get_pattern(pattern_id, self.id)

    async def extend(self, ttl_seconds: int = 3600) -> None:
        """Expire ``ttl_seconds`` from now."""
        await self._client._run(api.extend_session(self.id, ttl_seconds))

    async def info(self) -> SessionInfo:
        return await self._client._run(api.get_session(self.id))

    async def exists(self) -> bool:
        return await self._client.session_exists(self.id)

    async def delete(self) -> None:
        await self._client._run(api.delete_session(self.id))
