"""The one-round-trip observe of the Redis session store (issue 10 req 3), and the protocol
the memory store implements too (``MemorySessionStore.append_observation``: the same step in
one call without an ``await``, on the change's objects rather than their JSON).

An observe that reaches no store (no vectors, no archive, no auto-learn) changes a session in
a fixed way: ``time`` + 1, the event appended to the STM (unless empty), the emotives appended
to the accumulator, ``last_symbols`` and ``percept_data`` replaced, ``last_accessed`` and
``access_count`` updated. :data:`APPEND_SCRIPT` applies exactly that in Redis, atomically, when
the session's lock is free: it appends the change (built by Python, so encoded as the record
is) to the session's **log** and updates its **figures** — a small hash holding what the caps
need (STM length, the record's exact encoded size and the lengths of the fields an observe
replaces) — then answers the new ``time`` and STM length. Nothing is decoded in Lua.

Whoever next reads the session folds the log into the record (:func:`fold`); the next locked
write saves the folded record and empties the log, so the log stays short (at most
:data:`MAX_LOG_ENTRIES`; a full log sends the observe down the locked path, which folds it).

The script declines (the service then takes the locked path, with its exact errors) when the
lock is held, the figures are missing (an encrypted session, one with its own genes, or a
record written before this release) or name another session (an id re-used), the STM or byte
cap would be exceeded, or the event would auto-learn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kato.engine.session_state import SessionState
from kato.sessions.models import Session, encode_compact

MAX_LOG_ENTRIES = 128

APPLIED, UNVERIFIED, DECLINED = 1, 0, -1  # first element of the script's reply

# KEYS: 1 record, 2 figures, 3 log, 4 lock, 5 info hash, 6 STM event counter.
# ARGV: 1 id, 2 identity (JSON [node, owner]), 3 now ms, 4 max log entries, 5 max_stm_size,
# 6 max_session_bytes, 7 auto-learn length (0: none), 8 '1' when the event is appended,
# 9 log entry, 10 event JSON length, 11 percept_data JSON length, 12 emotives JSON length
# (0: none), 13 last_accessed JSON length, 14 node id, 15 this call's token.
# Returns {1, time, stm length} applied; {0} identity not verified; {-1} declined.
# Finding its own token as the last applied means a client resend of a call that already
# ran (redis-py re-sends once on a broken connection): answered again, not applied twice.
APPEND_SCRIPT = """
local f = redis.call('HMGET', KEYS[2], 'who', 'exp', 'log', 'stm', 'size', 'time', 'emo',
                     'ls', 'pd', 'la', 'ac', 'last')
if f[1] ~= ARGV[2] then return {0} end
if f[12] == ARGV[15] then return {1, tonumber(f[6]), tonumber(f[4])} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {-1} end
if tonumber(f[2]) <= tonumber(ARGV[3]) or redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local log_len, stm, size, t = tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), tonumber(f[6])
local emo, ls, pd, la, ac = tonumber(f[7]), tonumber(f[8]), tonumber(f[9]), tonumber(f[10]),
                            tonumber(f[11])
if log_len >= tonumber(ARGV[4]) then return {-1} end
local appends = ARGV[8] == '1'
local new_stm = stm
if appends then new_stm = stm + 1 end
local learn_at = tonumber(ARGV[7])
if new_stm > tonumber(ARGV[5]) or (appends and learn_at > 0 and new_stm >= learn_at) then
  return {-1}
end
local event_len, pd_len = tonumber(ARGV[10]), tonumber(ARGV[11])
local emo_len, la_len = tonumber(ARGV[12]), tonumber(ARGV[13])
local new_size = size + #tostring(t + 1) - #tostring(t) + event_len - ls + pd_len - pd
                 + la_len - la + #tostring(ac + 1) - #tostring(ac)
if appends then
  new_size = new_size + event_len
  if stm > 0 then new_size = new_size + 1 end
end
local new_emo = emo
if emo_len > 0 then
  new_size = new_size + emo_len
  if emo > 0 then new_size = new_size + 1 end
  new_emo = emo + 1
end
if new_size > tonumber(ARGV[6]) then return {-1} end
redis.call('RPUSH', KEYS[3], ARGV[9])
if log_len == 0 then redis.call('PEXPIREAT', KEYS[3], f[2]) end
redis.call('HSET', KEYS[2], 'log', log_len + 1, 'stm', new_stm, 'size', new_size,
           'time', t + 1, 'emo', new_emo, 'ls', event_len, 'pd', pd_len, 'la', la_len,
           'ac', ac + 1, 'last', ARGV[15])
if appends then
  redis.call('HSET', KEYS[5], ARGV[1], new_stm .. '|' .. ARGV[14])
  redis.call('INCRBY', KEYS[6], 1)
end
return {1, t + 1, new_stm}
"""


# The encoding of ``Session.to_json`` (compact, ASCII), for one field: the shared encoder,
# not ``json.dumps(separators=...)``, which builds an encoder per call (five per observe).
_compact = encode_compact


def identity(node_id: str, owner: str | None) -> str:
    """What the figures record of a session's identity, checked by the script."""
    return _compact([node_id, owner])


@dataclass(frozen=True, slots=True)
class ObservationLimits:
    max_stm_size: int
    max_session_bytes: int
    learn_at: int  # the STM length that auto-learns (max_pattern_length; 0: never)


@dataclass(frozen=True, slots=True)
class AppendedObservation:
    """One observe's change to a session: what the engine produced on a fresh state.

    Each store takes what it needs of it: the Redis store the log entry and lengths of
    :meth:`script_args` (encoded as the record encodes them), the memory store the objects
    themselves (``MemorySessionStore.append_observation``, nothing encoded).
    """

    node_id: str
    owner: str | None
    change: SessionState  # a fresh state the engine applied the observation to (time 1)
    last_accessed: float

    @property
    def appends(self) -> bool:
        """Whether the event goes into the STM (not for an empty observation)."""
        return bool(self.change.stm)

    @property
    def emotives(self) -> dict[str, float] | None:
        """What the emotive accumulator gets, if anything."""
        change = self.change
        return change.emotives[0] if change.emotives else None

    def script_args(
        self, session_id: str, now_ms: int, limits: ObservationLimits, token: str
    ) -> list[Any]:
        """:data:`APPEND_SCRIPT`'s ARGV; the log entry is ``[appends, event, percept_data,
        emotives or null, accessed]``."""
        change = self.change
        event = _compact(change.last_symbols)
        percept = _compact(change.percept_data)
        emotives = self.emotives
        emotives_text = "" if emotives is None else _compact(emotives)
        accessed = _compact(self.last_accessed)
        appends = self.appends
        entry = f"[{int(appends)},{event},{percept},{emotives_text or 'null'},{accessed}]"
        return [
            session_id,
            identity(self.node_id, self.owner),
            now_ms,
            MAX_LOG_ENTRIES,
            limits.max_stm_size,
            limits.max_session_bytes,
            limits.learn_at,
            "1" if appends else "0",
            entry,
            len(event),
            len(percept),
            len(emotives_text),
            len(accessed),
            self.node_id,
            token,
        ]


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """The script's answer: applied (with the new time and STM length), or why not."""

    applied: bool
    identity_verified: bool  # False: the figures were missing or named another session
    time: int = 0
    stm_length: int = 0

    @classmethod
    def of_reply(cls, reply: list[Any]) -> AppendOutcome:
        if reply[0] == APPLIED:
            return cls(True, True, int(reply[1]), int(reply[2]))
        return cls(False, reply[0] == DECLINED)


def figures(session: Session, payload_size: int | None) -> list[Any]:
    """``HSET`` arguments of the figures of ``session`` as saved (empty: not fast-observable).

    ``payload_size``: the length of the record written, when it is the plain compact JSON of
    the session (None when encrypted: no figures, every observe takes the lock).
    """
    if payload_size is None or session.config:  # own genes: event and learn rules differ
        return []
    state = session.state
    size = session.encoded_size() if session.applied_writes else payload_size
    return [
        "who", identity(session.node_id, session.owner),
        "exp", int(session.expires_at * 1000),
        "log", 0,
        "stm", len(state.stm),
        "size", size,
        "time", state.time,
        "emo", len(state.emotives),
        "ls", len(_compact(state.last_symbols)),
        "pd", len(_compact(state.percept_data)),
        "la", len(_compact(session.last_accessed)),
        "ac", session.access_count,
    ]  # fmt: skip


def fold(session: Session, entries: list[bytes]) -> Session:
    """Apply the logged observes to the session read with them (oldest first)."""
    state = session.state
    for raw in entries:
        appends, event, percept, emotives, accessed = json.loads(raw)
        state.time += 1
        if appends:
            state.stm.append(event)
        if emotives is not None:
            state.emotives.append(emotives)
        state.last_symbols = event
        state.percept_data = percept
        session.last_accessed = accessed
        session.access_count += 1
    return session


@runtime_checkable
class AppendsObservations(Protocol):
    """A session store with the one-step observe (the Redis store's script, the memory
    store's in-process step, and the breaker wrapper around either); ``appends_observations``
    False: it has it but may not use it.

    ``append_observation`` applies the change exactly as the locked path would save it, or
    changes nothing: ``identity_verified`` False when no live session of the change's node
    and owner (and the service's genes) is there, True when one is but the locked path must
    decide (lock held, caps, auto-learn)."""

    @property
    def appends_observations(self) -> bool: ...

    async def append_observation(
        self, session_id: str, change: AppendedObservation, limits: ObservationLimits
    ) -> AppendOutcome: ...
