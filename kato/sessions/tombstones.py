"""Tombstones of expired sessions: for a retention window after a session expired, a request
naming it is told ``KATO_SESSION_EXPIRED`` rather than ``KATO_SESSION_NOT_FOUND``.

A tombstone keeps only what the ownership rule needs (node and owner), so a caller who could
not see the live session is still told "not found". An explicit delete leaves none: a
deleted session did not expire. The memory store keeps them in ``ExpiredSessions`` (bounded
count, oldest dropped first); the Redis store keeps one small key per session
(``redis_store.py``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from kato.sessions.models import Session

DEFAULT_RETENTION_SECONDS = 3600.0
DEFAULT_MEMORY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class SessionTombstone:
    session_id: str
    node_id: str
    owner: str | None

    @classmethod
    def of(cls, session: Session) -> SessionTombstone:
        return cls(session.session_id, session.node_id, session.owner)

    def to_json(self) -> bytes:
        return json.dumps({"node_id": self.node_id, "owner": self.owner}).encode()

    @classmethod
    def from_json(cls, session_id: str, payload: bytes) -> SessionTombstone:
        fields = json.loads(payload)
        return cls(session_id, fields["node_id"], fields["owner"])


class ExpiredSessions:
    """The memory store's tombstones: each kept until ``expires_at + retention_seconds``, at
    most ``limit`` of them (the oldest recorded is dropped first). ``retention_seconds`` 0
    keeps none."""

    def __init__(
        self,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        limit: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self._retention = retention_seconds
        self._limit = limit
        # session id -> (kept until, tombstone), in the order recorded
        self._entries: OrderedDict[str, tuple[float, SessionTombstone]] = OrderedDict()

    def record(self, session: Session, now: float) -> None:
        """``session`` was found expired (not deleted)."""
        kept_until = session.expires_at + self._retention
        if kept_until <= now:
            return
        self._entries.pop(session.session_id, None)
        self._entries[session.session_id] = (kept_until, SessionTombstone.of(session))
        self._drop_oldest(now)

    def get(self, session_id: str, now: float) -> SessionTombstone | None:
        entry = self._entries.get(session_id)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._entries[session_id]
            return None
        return entry[1]

    def discard(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop_oldest(self, now: float) -> None:
        """Beyond ``limit``, and every run-out tombstone at the front: recorded in roughly
        expiry order, so this keeps the count near the live tombstones at O(1) amortised."""
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if len(entries) <= self._limit and oldest[0] > now:
                return
            entries.popitem(last=False)
