"""``KatoClient``: the blocking client over ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from kato.client import _shared as api
from kato.client._shared import DEFAULT_TIMEOUT, Json, RetryPolicy, SessionInfo, Sleep
from kato.client.errors import error_from_response

T = TypeVar("T")


class KatoClient:
    """A KATO server at ``base_url``.

    ``api_key`` is sent as ``X-API-Key``, ``token`` (a JWT) as ``Authorization: Bearer``.
    ``transport`` is httpx's seam: pass ``httpx.MockTransport``, a custom transport, or one
    bound to an in-process app. ``retry`` bounds automatic retries (see ``RetryPolicy``).
    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers=api.default_headers(api_key, token, headers),
            timeout=timeout,
            transport=transport,
        )
        self._retry = retry or RetryPolicy()

    def __enter__(self) -> KatoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, call: api.Call[T]) -> T:
        steps = api.exchange(call, self._retry)
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    step = steps.send(None)
                    continue
                request = self._http.build_request(
                    step.method, step.path, params=step.params, json=step.json, headers=step.headers
                )
                try:
                    response = self._http.send(request)
                except httpx.TransportError as error:
                    step = steps.throw(error)
                else:
                    step = steps.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    # -- sessions ------------------------------------------------------------------------

    def create_session(
        self,
        node_id: str,
        metadata: Mapping[str, Any] | None = None,
        ttl_seconds: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Session:
        """A new session on ``node_id`` (its knowledge base); ``config`` overrides genes."""
        info = self._run(api.create_session(node_id, metadata, ttl_seconds, config))
        return Session(self, info)

    def get_session(self, session_id: str) -> Session:
        """A handle on an existing session (``SessionNotFound`` if unknown or expired)."""
        return Session(self, self._run(api.get_session(session_id)))

    def session_exists(self, session_id: str) -> bool:
        return self._run(api.session_exists(session_id))

    def count_sessions(self) -> int:
        return self._run(api.count_sessions())

    # -- v1 and system -------------------------------------------------------------------

    def get_pattern(self, pattern_id: str, session: Session | str | None = None) -> Json:
        """A learned pattern, looked up in ``session``'s node (v1 ``X-Session-ID`` routing)."""
        session_id = session.id if isinstance(session, Session) else session
        return self._run(api.get_pattern(pattern_id, session_id))

    def health(self) -> Json:
        return self._run(api.health())

    def status(self) -> Json:
        return self._run(api.status())

    # -- nodes: a knowledge base as data -------------------------------------------------

    def list_nodes(self) -> list[Json]:
        """Nodes with pattern count and totals (admin; a scoped key sees its nodes)."""
        return self._run(api.list_nodes())

    def node(self, node_id: str) -> Json:
        """Summary: pattern and symbol counts, totals, revision, storage backend."""
        return self._run(api.node_summary(node_id))

    def patterns(self, node_id: str, **params: Any) -> Json:
        """One page ``{"patterns", "next_cursor"}``; params: limit (≤ 1000), cursor, sort
        ("name" | "frequency"), symbol, min_frequency, min_length, max_length."""
        return self._run(api.patterns_page(node_id, params))

    def iter_patterns(self, node_id: str, **params: Any) -> Iterator[Json]:
        """Every pattern matching ``params`` (as ``patterns``), following the cursors."""
        cursor = params.pop("cursor", None)
        while True:
            page = self.patterns(node_id, cursor=cursor, **params)
            yield from page["patterns"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def node_pattern(self, node_id: str, name: str) -> Json:
        return self._run(api.node_pattern(node_id, name))

    def update_pattern(
        self,
        node_id: str,
        name: str,
        frequency: int | None = None,
        emotives: Sequence[Mapping[str, float]] | None = None,
        metadata: Mapping[str, Sequence[str]] | None = None,
    ) -> Json:
        """Change what is given (admin); returns the updated record."""
        changes = {"frequency": frequency, "emotives": emotives, "metadata": metadata}
        return self._run(api.update_pattern(node_id, name, changes))

    def delete_pattern(self, node_id: str, name: str) -> None:
        self._run(api.delete_pattern(node_id, name))

    def symbols(self, node_id: str, **params: Any) -> Json:
        """One page ``{"symbols", "next_cursor"}``; params: limit, cursor, sort."""
        return self._run(api.symbols_page(node_id, params))

    def symbol(self, node_id: str, symbol: str) -> Json:
        return self._run(api.node_symbol(node_id, symbol))

    def learn_batch(self, node_id: str, sequences: Sequence[Any]) -> Json:
        """Learn many sequences (``sequence()`` bodies or lists of events) in one request;
        returns ``{"learned", "patterns"}``."""
        return self._run(api.learn_batch(node_id, sequences))

    def predict_batch(
        self,
        node_id: str,
        contexts: Sequence[Sequence[Sequence[str]]],
        config: Mapping[str, Any] | None = None,
    ) -> list[list[Json]]:
        """Each context's predictions, as a fresh session holding it would give."""
        return self._run(api.predict_batch(node_id, contexts, config))

    def export(self, node_id: str) -> Iterator[str]:
        """The knowledge base as JSON Lines, streamed (each line without its newline).
        Not retried: a failure part-way raises, and the export is started again."""
        with self._http.stream("GET", api.export_path(node_id)) as response:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            yield from response.iter_lines()

    def import_lines(self, node_id: str, lines: Iterable[Any], mode: str = "merge") -> Json:
        """Import JSON Lines (str/bytes lines, or dicts) streamed from ``lines``; ``mode``
        "merge" (writer) or "replace" (admin). Returns ``{"imported", "mode"}``."""
        response = self._http.post(
            api.import_path(node_id),
            params=api.import_params(mode),
            content=api.ndjson_bytes(lines),
            headers={"Content-Type": api.NDJSON},
        )
        return api.imported(response)


class Session:
    """One KATO session: its own short-term memory on a shared node's knowledge base."""

    def __init__(self, client: KatoClient, info: SessionInfo) -> None:
        self._client = client
        self.id = info.session_id
        self.node_id = info.node_id
        self.snapshot = info  # as the server described it when this handle was made

    def __repr__(self) -> str:
        return f"Session(id={self.id!r}, node_id={self.node_id!r})"

    def observe(
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
        return self._client._run(api.observe(self.id, event))

    def observe_sequence(
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
        return self._client._run(call)

    def stm(self) -> list[list[str]]:
        return self._client._run(api.stm(self.id))

    def learn(self) -> str:
        """Learn the STM as a pattern; returns its name (``EmptySTM`` if nothing to learn)."""
        return self._client._run(api.learn(self.id))

    def clear_stm(self) -> None:
        self._client._run(api.clear_stm(self.id))

    def clear_all(self) -> None:
        """Clear the STM and the node's whole long-term memory (admin)."""
        self._client._run(api.clear_all(self.id))

    def predictions(self) -> list[Json]:
        return self._client._run(api.predictions(self.id))

    def config(self) -> Json:
        """The session's effective genes."""
        return self._client._run(api.get_config(self.id))

    def update_config(self, changes: Mapping[str, Any] | None = None, **genes: Any) -> Json:
        """Change genes (all or nothing); returns the new effective genes."""
        return self._client._run(api.update_config(self.id, {**(changes or {}), **genes}))

    def percept_data(self) -> Json:
        return self._client._run(api.percept_data(self.id))

    def cognition_data(self) -> Json:
        return self._client._run(api.cognition_data(self.id))

    def get_pattern(self, pattern_id: str) -> Json:
        return self._client.get_pattern(pattern_id, self.id)

    def extend(self, ttl_seconds: int = 3600) -> None:
        """Expire ``ttl_seconds`` from now."""
        self._client._run(api.extend_session(self.id, ttl_seconds))

    def info(self) -> SessionInfo:
        return self._client._run(api.get_session(self.id))

    def exists(self) -> bool:
        return self._client.session_exists(self.id)

    def delete(self) -> None:
        self._client._run(api.delete_session(self.id))
