"""Remembered writes: a retried write is answered, not applied again (issue 9 req 4).

A 503 can come after a write was applied (the save reached Redis, its reply did not come
back), so a client cannot tell from the error whether to repeat it. A write the client names
— an observe's ``unique_id``, the ``Idempotency-Key`` header of learn, clear-stm and
clear-all — is therefore remembered, with its answer, in the record of the session it
changed: in the same save, so the write and its memory are stored atomically (memory and
Redis store alike). A repeat finds it and gets the remembered answer; the same name sent
for a different request is refused (409), never applied.

A session remembers its newest ``session.idempotency_window`` named writes (and every item
of its newest observe-sequence, whatever their number) for
``session.idempotency_window_seconds``. They are not counted by the session byte cap
(``Session.encoded_size``): see docs/SESSIONS.md.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from kato.config import SessionSettings
from kato.core.errors import KatoError
from kato.core.observation import Observation

OBSERVE = "observe"


def fingerprint(*parts: Any) -> str:
    """A short digest of a request's content, to tell a repeat from a different request."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def scoped_key(principal: str, key: str) -> str:
    """The store key of a session-create ``Idempotency-Key``: one key space per principal."""
    return hashlib.sha256(f"{principal}\n{key}".encode()).hexdigest()


class IdempotencyKeyReusedError(KatoError):
    code = "KATO_CONFLICT"

    def __init__(self, name: str, value: str) -> None:
        super().__init__(
            f"{name} {value!r} was already used for a different request", **{name: value}
        )


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    seconds: int

    @classmethod
    def of(cls, settings: SessionSettings) -> Window:
        return cls(settings.idempotency_window, settings.idempotency_window_seconds)


@dataclass(frozen=True, slots=True)
class NamedWrite:
    """A write the client named, so a repeat of it can be recognised."""

    slot: str  # where the session remembers it: "observe:<unique_id>" or "key:<key>"
    operation: str
    fingerprint: str

    @classmethod
    def observe(cls, unique_id: str, observation: Observation) -> NamedWrite:
        emotives = dict(observation.emotives)
        sent: tuple[Any, ...] = (observation.strings, observation.vectors, emotives)
        if observation.metadata:  # (only then: earlier fingerprints stay valid)
            sent += (dict(observation.metadata),)
        content = fingerprint(*sent)
        return cls(f"{OBSERVE}:{unique_id}", OBSERVE, content)

    @classmethod
    def keyed(cls, key: str, operation: str) -> NamedWrite:
        """A write named by its ``Idempotency-Key`` header (no body: the operation is all)."""
        return cls(f"key:{key}", operation, "")

    def refusal(self) -> IdempotencyKeyReusedError:
        kind, _, value = self.slot.partition(":")
        return IdempotencyKeyReusedError(
            "unique_id" if kind == OBSERVE else "idempotency_key", value
        )


class AppliedWrites:
    """A working copy of a session's remembered writes: look up, remember, ``store`` back.

    The session's own dict is replaced by ``store``, never changed in place (the memory
    store's copies share it).
    """

    def __init__(self, window: Window, entries: dict[str, dict[str, Any]], now: float) -> None:
        self._window = window
        self._now = now
        oldest = now - window.seconds
        self._entries = {slot: entry for slot, entry in entries.items() if entry["at"] > oldest}
        self._added = 0

    @classmethod
    def of(cls, window: Window, entries: dict[str, dict[str, Any]]) -> AppliedWrites:
        return cls(window, entries, time.time())

    def answer_to(self, write: NamedWrite) -> dict[str, Any] | None:
        """The remembered answer when ``write`` was applied already, else None."""
        entry = self._entries.get(write.slot)
        if entry is None:
            return None
        if entry["op"] != write.operation or entry["fp"] != write.fingerprint:
            raise write.refusal()
        answer: dict[str, Any] = entry["answer"]
        return answer

    def remember(self, write: NamedWrite, answer: dict[str, Any]) -> None:
        self._entries.pop(write.slot, None)  # an entry of the same slot that aged out
        self._entries[write.slot] = {
            "op": write.operation,
            "fp": write.fingerprint,
            "at": round(self._now, 3),
            "answer": answer,
        }
        self._added += 1

    def store(self) -> dict[str, dict[str, Any]]:
        """The entries to keep, oldest first: this request's and the newest before them."""
        keep = max(self._window.count, self._added)
        return dict(list(self._entries.items())[-keep:])
