"""Everything the sync and async clients share: requests, decoding, the retry plan.

The clients differ only in how they do I/O. Each API operation is a ``Call`` — method,
path, body, how to read the answer and how safe it is to repeat — built by the functions
below. ``exchange`` is a sans-I/O generator that owns the whole conversation for one call:
it yields the ``Call`` to send (or a ``Sleep`` before a retry), receives the
``httpx.Response`` (or has the transport error thrown into it) and finally returns the
decoded value or raises the typed error. ``KatoClient`` drives it with ``httpx.Client`` and
``time.sleep``; ``AsyncKatoClient`` with ``httpx.AsyncClient`` and ``anyio.sleep``.
"""

from __future__ import annotations

import enum
import json
import random
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar
from urllib.parse import quote

import httpx

from kato.client.errors import (
    KatoAPIError,
    KatoClientError,
    KatoConnectionError,
    error_from_response,
)
from kato.client.version import __version__

T = TypeVar("T")
Json = dict[str, Any]

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"kato-client/{__version__}"
SESSION_HEADER = "X-Session-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class Repeat(enum.Enum):
    """How safe it is to send a call again after a failure."""

    # Reads, and writes the server recognises when repeated (an observe's ``unique_id``, an
    # ``Idempotency-Key``; the same value on every attempt): any transport failure, 429,
    # 502, 503 or 504 may be retried.
    IDEMPOTENT = "idempotent"
    # Other writes: retried only when the server provably did not apply the first attempt —
    # the connection was never made, the rate limiter refused it (429), or the server said
    # ``X-Kato-Not-Processed`` / ``KATO_OVERLOADED`` (refused before any work).
    IF_NOT_APPLIED = "if-not-applied"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    repeat: Repeat
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None


class Sleep(NamedTuple):
    seconds: float


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries; ``max_retries=0`` turns them off.

    The delay is the server's ``Retry-After`` when it sends one, else exponential backoff
    (``backoff * 2**attempt``, with up to 10 % jitter). A ``Retry-After`` longer than
    ``max_delay`` is not waited for: the error is raised so the caller decides.
    """

    max_retries: int = 2
    backoff: float = 0.2
    max_delay: float = 10.0

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        delay = self.backoff * 2**attempt
        return min(self.max_delay, delay * (1 + random.random() / 10))

    def after_error(self, call: Call[Any], error: KatoAPIError, attempt: int) -> float | None:
        """Seconds to wait before repeating ``call`` after ``error``, or None to raise it."""
        refused_unapplied = (
            error.status == 429
            or error.not_processed
            or (error.status == 503 and error.code == "KATO_OVERLOADED")
        )
        retryable_read = call.repeat is Repeat.IDEMPOTENT and error.status in (502, 503, 504)
        if refused_unapplied or retryable_read:
            return self._delay(attempt, error.retry_after)
        return None

    def after_transport_error(
        self, call: Call[Any], error: httpx.TransportError, attempt: int
    ) -> float | None:
        never_sent = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
        if call.repeat is Repeat.IDEMPOTENT or never_sent:
            return self._delay(attempt, None)
        return None


def exchange(
    call: Call[T], policy: RetryPolicy
) -> Generator[Call[T] | Sleep, httpx.Response | None, T]:
    """The conversation for one call; the driver sends responses and throws transport errors."""
    attempt = 0
    while True:
        try:
            response = yield call
        except httpx.TransportError as error:
            delay = policy.after_transport_error(call, error, attempt)
            if delay is None:
                raise KatoConnectionError(f"{call.method} {call.path}: {error!r}") from error
        else:
            assert response is not None, "the driver sends the response of a Call"
            if response.is_success:
                try:
                    return call.read(response.json())
                except (ValueError, KeyError, TypeError) as error:  # e.g. a proxy's HTML page
                    raise KatoClientError(
                        f"{call.method} {call.path}: the answer is not a KATO API response"
                    ) from error
            api_error = error_from_response(response)
            delay = policy.after_error(call, api_error, attempt)
            if delay is None:
                raise api_error
        yield Sleep(delay)
        attempt += 1


def default_headers(
    api_key: str | None, token: str | None, extra: Mapping[str, str] | None
) -> dict[str, str]:
    """Credential headers: ``X-API-Key`` for an API key, ``Authorization: Bearer`` for a JWT."""
    if api_key is not None and token is not None:
        raise ValueError("give api_key or token, not both")
    headers = {"User-Agent": USER_AGENT, **(extra or {})}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionInfo:
    """A session as the server describes it (``SessionResponse``)."""

    session_id: str
    node_id: str
    created_at: str
    expires_at: str
    last_accessed: str
    ttl_seconds: int
    access_count: int
    metadata: Json = field(default_factory=dict)
    config: Json = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Json) -> SessionInfo:
        return cls(
            session_id=body["session_id"],
            node_id=body["node_id"],
            created_at=body["created_at"],
            expires_at=body["expires_at"],
            last_accessed=body["last_accessed"],
            ttl_seconds=body["ttl_seconds"],
            access_count=body["access_count"],
            metadata=body.get("metadata") or {},
            config=body.get("session_config") or {},
        )


def _body(body: Any) -> Json:
    return dict(body)


def _nothing(_: Any) -> None:
    return None


def _key(name: str) -> Callable[[Any], Any]:
    return lambda body: body[name]


def observation(
    strings: Sequence[str] | None = None,
    vectors: Sequence[Sequence[float]] | None = None,
    emotives: Mapping[str, float] | None = None,
    unique_id: str | None = None,
) -> Json:
    """One observation body; ``None`` fields are left out (the server's defaults apply)."""
    if isinstance(strings, str):  # "abc" would be sent as one symbol or refused; be explicit
        raise TypeError("strings must be a sequence of symbols, e.g. ['hello'], not a str")
    event: Json = {}
    if strings is not None:
        event["strings"] = list(strings)
    if vectors is not None:
        event["vectors"] = [list(vector) for vector in vectors]
    if emotives is not None:
        event["emotives"] = dict(emotives)
    if unique_id is not None:
        event["unique_id"] = unique_id
    return event


# -- calls -------------------------------------------------------------------------------


def _keyed() -> dict[str, str]:
    """A fresh ``Idempotency-Key``: built once per call, so every retry of it repeats it."""
    return {IDEMPOTENCY_HEADER: uuid.uuid4().hex}


def _named(event: Json) -> Json:
    """The observation with a ``unique_id`` (generated in the server's own form when the caller
    gave none), so the server recognises a retry of it."""
    return event if "unique_id" in event else {**event, "unique_id": f"obs-{uuid.uuid4().hex}"}


def _session_path(session_id: str, tail: str = "") -> str:
    return f"/v2/sessions/{quote(session_id, safe='')}{tail}"


def create_session(
    node_id: str,
    metadata: Mapping[str, Any] | None,
    ttl_seconds: int | None,
    config: Mapping[str, Any] | None,
) -> Call[SessionInfo]:
    body: Json = {"node_id": node_id}
    for name, value in (("metadata", metadata), ("ttl_seconds", ttl_seconds), ("config", config)):
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    return Call(
        "POST",
        "/v2/sessions",
        SessionInfo.from_json,
        Repeat.IDEMPOTENT,
        json=body,
        headers=_keyed(),
    )


def get_session(session_id: str) -> Call[SessionInfo]:
    return Call("GET", _session_path(session_id), SessionInfo.from_json, Repeat.IDEMPOTENT)


def session_exists(session_id: str) -> Call[bool]:
    return Call("GET", _session_path(session_id, "/exists"), _key("exists"), Repeat.IDEMPOTENT)


def count_sessions() -> Call[int]:
    return Call("GET", "/v2/sessions/count", _key("active_session_count"), Repeat.IDEMPOTENT)


def delete_session(session_id: str) -> Call[None]:
    return Call("DELETE", _session_path(session_id), _nothing, Repeat.IF_NOT_APPLIED)


def extend_session(session_id: str, ttl_seconds: int) -> Call[None]:
    path = _session_path(session_id, "/extend")
    params = {"ttl_seconds": ttl_seconds}
    return Call("POST", path, _nothing, Repeat.IF_NOT_APPLIED, params=params)


def observe(session_id: str, event: Json) -> Call[Json]:
    path = _session_path(session_id, "/observe")
    return Call("POST", path, _body, Repeat.IDEMPOTENT, json=_named(event))


def observe_sequence(
    session_id: str,
    events: Sequence[Json],
    learn_after_each: bool,
    learn_at_end: bool,
    clear_stm_between: bool,
) -> Call[Json]:
    body = {
        "observations": [_named(dict(event)) for event in events],
        "learn_after_each": learn_after_each,
        "learn_at_end": learn_at_end,
        "clear_stm_between": clear_stm_between,
    }
    path = _session_path(session_id, "/observe-sequence")
    return Call("POST", path, _body, Repeat.IDEMPOTENT, json=body)


def stm(session_id: str) -> Call[list[list[str]]]:
    return Call("GET", _session_path(session_id, "/stm"), _key("stm"), Repeat.IDEMPOTENT)


def learn(session_id: str) -> Call[str]:
    path = _session_path(session_id, "/learn")
    return Call("POST", path, _key("pattern_name"), Repeat.IDEMPOTENT, headers=_keyed())


def clear_stm(session_id: str) -> Call[None]:
    path = _session_path(session_id, "/clear-stm")
    return Call("POST", path, _nothing, Repeat.IDEMPOTENT, headers=_keyed())


def clear_all(session_id: str) -> Call[None]:
    path = _session_path(session_id, "/clear-all")
    return Call("POST", path, _nothing, Repeat.IDEMPOTENT, headers=_keyed())


def predictions(session_id: str) -> Call[list[Json]]:
    path = _session_path(session_id, "/predictions")
    return Call("GET", path, _key("predictions"), Repeat.IDEMPOTENT)


def percept_data(session_id: str) -> Call[Json]:
    path = _session_path(session_id, "/percept-data")
    return Call("GET", path, _key("percept_data"), Repeat.IDEMPOTENT)


def cognition_data(session_id: str) -> Call[Json]:
    path = _session_path(session_id, "/cognition-data")
    return Call("GET", path, _key("cognition_data"), Repeat.IDEMPOTENT)


def get_config(session_id: str) -> Call[Json]:
    return Call("GET", _session_path(session_id, "/config"), _key("config"), Repeat.IDEMPOTENT)


def update_config(session_id: str, changes: Mapping[str, Any]) -> Call[Json]:
    path = _session_path(session_id, "/config")
    body = {"config": dict(changes)}
    return Call("POST", path, _key("config"), Repeat.IF_NOT_APPLIED, json=body)


def get_pattern(pattern_id: str, session_id: str | None) -> Call[Json]:
    """v1 ``/pattern/{id}``: routed to ``session_id``'s node, else to the default session."""
    headers = {SESSION_HEADER: session_id} if session_id is not None else None
    path = f"/pattern/{quote(pattern_id, safe='')}"
    return Call("GET", path, _key("pattern"), Repeat.IDEMPOTENT, headers=headers)


def health() -> Call[Json]:
    return Call("GET", "/health", _body, Repeat.IDEMPOTENT)


def status() -> Call[Json]:
    return Call("GET", "/status", _body, Repeat.IDEMPOTENT)


# -- nodes: a knowledge base as data (/v2/nodes) ------------------------------------------

NDJSON = "application/x-ndjson"


def _node_path(node_id: str, tail: str = "") -> str:
    return f"/v2/nodes/{quote(node_id, safe='')}{tail}"


def _pattern_path(node_id: str, name: str) -> str:
    return _node_path(node_id, f"/patterns/{quote(name, safe='')}")


def _present(**params: Any) -> dict[str, Any]:
    return {name: value for name, value in params.items() if value is not None}


def list_nodes() -> Call[list[Json]]:
    return Call("GET", "/v2/nodes", _key("nodes"), Repeat.IDEMPOTENT)


def node_summary(node_id: str) -> Call[Json]:
    return Call("GET", _node_path(node_id), _body, Repeat.IDEMPOTENT)


def patterns_page(node_id: str, params: Mapping[str, Any]) -> Call[Json]:
    """One page ``{"patterns": [...], "next_cursor"}``; ``params``: limit, cursor, sort,
    symbol, min_frequency, min_length, max_length (None ones left out)."""
    path = _node_path(node_id, "/patterns")
    return Call("GET", path, _body, Repeat.IDEMPOTENT, params=_present(**params))


def node_pattern(node_id: str, name: str) -> Call[Json]:
    return Call("GET", _pattern_path(node_id, name), _body, Repeat.IDEMPOTENT)


def update_pattern(node_id: str, name: str, changes: Mapping[str, Any]) -> Call[Json]:
    # Setting fields to given values: repeating it gives the same record.
    body = _present(**changes)
    return Call("PATCH", _pattern_path(node_id, name), _body, Repeat.IDEMPOTENT, json=body)


def delete_pattern(node_id: str, name: str) -> Call[None]:
    return Call("DELETE", _pattern_path(node_id, name), _nothing, Repeat.IF_NOT_APPLIED)


def symbols_page(node_id: str, params: Mapping[str, Any]) -> Call[Json]:
    path = _node_path(node_id, "/symbols")
    return Call("GET", path, _body, Repeat.IDEMPOTENT, params=_present(**params))


def node_symbol(node_id: str, symbol: str) -> Call[Json]:
    path = _node_path(node_id, f"/symbols/{quote(symbol, safe='')}")
    return Call("GET", path, _body, Repeat.IDEMPOTENT)


def sequence(
    events: Sequence[Sequence[str]],
    emotives: Sequence[Mapping[str, float]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Json:
    """One learn-batch sequence body; ``None`` fields are left out."""
    body: Json = {"events": [list(event) for event in events]}
    if emotives is not None:
        body["emotives"] = [dict(item) for item in emotives]
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def learn_batch(node_id: str, sequences: Sequence[Json | Sequence[Sequence[str]]]) -> Call[Json]:
    """``sequences``: bodies built by ``sequence()``, or bare lists of events. Not repeated
    after an ambiguous failure: learning twice counts twice."""
    body = {"sequences": [s if isinstance(s, Mapping) else sequence(s) for s in sequences]}
    path = _node_path(node_id, "/learn-batch")
    return Call("POST", path, _body, Repeat.IF_NOT_APPLIED, json=body)


def predict_batch(
    node_id: str, contexts: Sequence[Sequence[Sequence[str]]], config: Mapping[str, Any] | None
) -> Call[list[list[Json]]]:
    body: Json = {"contexts": [[list(event) for event in context] for context in contexts]}
    if config is not None:
        body["config"] = dict(config)

    def read(answer: Any) -> list[list[Json]]:
        return [result["predictions"] for result in answer["results"]]

    return Call("POST", _node_path(node_id, "/predict"), read, Repeat.IDEMPOTENT, json=body)


def export_path(node_id: str) -> str:
    return _node_path(node_id, "/export")


def import_path(node_id: str) -> str:
    return _node_path(node_id, "/import")


def import_params(mode: str) -> dict[str, str]:
    if mode not in ("merge", "replace"):
        raise ValueError("mode must be 'merge' or 'replace'")
    return {"mode": mode}


def ndjson_bytes(lines: Any) -> Any:
    """Import body chunks from lines: ``str``/``bytes`` lines (newline added when missing)
    or JSON objects (encoded compactly), one at a time so nothing is held whole."""
    for line in lines:
        if isinstance(line, Mapping):
            data = json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            data = line.encode() if isinstance(line, str) else bytes(line)
        yield data if data.endswith(b"\n") else data + b"\n"


def imported(response: httpx.Response) -> Json:
    """The import's answer, or its typed error."""
    if not response.is_success:
        raise error_from_response(response)
    return dict(response.json())
