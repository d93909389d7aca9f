"""The session record (architecture spec "Session Data Structure", decisions D5/D6)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from kato.core.random_ids import uuid4_hex
from kato.core.record_encoder import record_encoder
from kato.engine.session_state import SessionState

# What json.dumps(separators=(",", ":")) uses, built once instead of per call.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
# Its text for one field's value (a request's values: no cycle), its C encoder made once.
encode_compact = record_encoder(COMPACT_JSON)
# The widest a float (a timestamp, an emotive value) encodes: its repr is at most 24
# characters ("-2.2250738585072014e-308"; Infinity and NaN are shorter).
FLOAT_WIDTH = 24
_TIMESTAMPS = ("created_at", "expires_at", "last_accessed")


def new_session_id() -> str:
    """``session-<32 hex>-<epoch ms>`` (semantics §7.2)."""
    return f"session-{uuid4_hex()}-{int(time.time() * 1000)}"


@dataclass(slots=True)
class Session:
    session_id: str
    node_id: str
    created_at: float  # epoch seconds
    expires_at: float
    ttl_seconds: int
    last_accessed: float
    metadata: dict[str, Any] = field(default_factory=dict)
    state: SessionState = field(default_factory=SessionState)
    config: dict[str, Any] = field(default_factory=dict)  # per-session gene overrides
    owner: str | None = None  # principal that created it (security)
    access_count: int = 0
    # Recent client-keyed writes and their results, oldest first (kato/sessions/idempotency.py).
    # Only ever replaced, never changed in place. Not counted by ``encoded_size``: they have
    # their own bound (session.idempotency_window), see docs/SESSIONS.md.
    applied_writes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        node_id: str,
        ttl_seconds: int,
        metadata: dict[str, Any] | None = None,
        owner: str | None = None,
        session_id: str | None = None,
    ) -> Session:
        now = time.time()
        return cls(
            session_id=session_id or new_session_id(),
            node_id=node_id,
            created_at=now,
            expires_at=now + ttl_seconds,
            ttl_seconds=ttl_seconds,
            last_accessed=now,
            metadata=dict(metadata or {}),
            owner=owner,
        )

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return self._fields(self.state.to_dict())

    def to_json(self) -> str:
        """The compact JSON form (what the Redis store writes), encoded without a copy."""
        return COMPACT_JSON.encode(self._fields(self.state.fields()))

    def encoded_size(self) -> int:
        """Bytes of the session's compact JSON form (ASCII: characters are bytes), without
        the remembered writes."""
        return len(COMPACT_JSON.encode(self._data_fields(self.state.fields())))

    def encoded_size_bound(self) -> int:
        """An upper bound of ``encoded_size()`` that does not encode the STM (the bulk of a
        session) nor format the timestamps (a float's repr is a fifth of the rest's cost).
        In the compact ASCII JSON form a symbol of n characters takes at most 12n + 2 bytes
        (an astral character is two ``\\uXXXX`` escapes), plus one separator per symbol and
        two brackets and a separator per event; a timestamp at most ``FLOAT_WIDTH``."""
        stm = self.state.stm
        fields = self._data_fields({**self.state.fields(), "stm": []})
        for name in _TIMESTAMPS:
            fields[name] = 0  # one character instead of the timestamp's at most 24
        rest = len(COMPACT_JSON.encode(fields)) + len(_TIMESTAMPS) * (FLOAT_WIDTH - 1)
        characters = len("".join(chain.from_iterable(stm)))
        symbols = sum(map(len, stm))
        return rest + 12 * characters + 3 * symbols + 3 * len(stm)

    def _fields(self, state: dict[str, Any]) -> dict[str, Any]:
        fields = self._data_fields(state)
        if self.applied_writes:  # left out when empty: records stay as before for most sessions
            fields["applied_writes"] = self.applied_writes
        return fields

    def _data_fields(self, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "node_id": self.node_id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "ttl_seconds": self.ttl_seconds,
            "last_accessed": self.last_accessed,
            "metadata": self.metadata,
            "state": state,
            "config": self.config,
            "owner": self.owner,
            "access_count": self.access_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Session:
        fields = dict(data)
        fields["state"] = SessionState.from_dict(fields["state"])
        return cls(**fields)
