"""In-process session store: the embedded default (issue 3 req 2).

Design (docs/SESSIONS.md):

* Sessions live in a dict as private objects. ``get`` hands out a copy and ``save`` stores
  a copy, so a caller changing its Session (even half-way, or in a request that is then
  rejected) never changes what other readers see until it saves. The copy shares the fields
  that are only ever replaced, never changed in place (``SHARED_FIELDS``): metadata, config,
  percept data, last symbols — deep-copying them was ~8 % of an observe.
* Expiry uses a min-heap of ``(expires_at, session_id)``. Entries are never updated in
  place: extending a session pushes a new entry and the old one becomes stale; a popped
  entry only removes the session when it still matches the stored expiry. The heap is
  rebuilt when stale entries outnumber live ones, so its size stays O(live sessions) and
  every operation is amortised O(log n) — no O(n) pass per request.
* Statistics are maintained incrementally (STM event total, sessions per node).
* ``lock(session_id)`` is an ``asyncio.Lock`` created on first use and dropped when no task
  holds or awaits it. Each holder gets a lease of ``lock_timeout_seconds``; ``save`` after
  the lease ran out is refused (same fencing contract as the Redis store). In one process a
  holder cannot die without releasing, so the lease only guards slow holders.
* A session found expired leaves a tombstone (``ExpiredSessions``: bounded count, kept for
  the retention window after its expiry); ``delete`` leaves none.
* The one-step observe (``append_observation``, the protocol of ``redis_observe.py``): the
  common observe changes the stored session in place, without its lock or any copy, in one
  call without an ``await`` (atomic on the event loop), when the locked path would save
  exactly that change; else it changes nothing and the locked path runs. Its byte cap is
  decided on a per-session upper bound of the encoded size kept by each step (``_SizeBound``),
  not on an O(STM) pass per observe.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeVar

from kato.core.random_ids import uuid4_hex
from kato.engine.session_state import SessionState
from kato.sessions.errors import (
    SessionExistsError,
    SessionGoneError,
    SessionLockNotHeldError,
)
from kato.sessions.leases import KeyedLocks, Lease, held_lease, holding
from kato.sessions.models import FLOAT_WIDTH, Session, encode_compact
from kato.sessions.redis_observe import AppendedObservation, AppendOutcome, ObservationLimits
from kato.sessions.tombstones import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_RETENTION_SECONDS,
    ExpiredSessions,
    SessionTombstone,
)

# Rebuild the heap once stale entries exceed live ones by this margin (amortised O(1)).
_HEAP_SLACK = 1024


# Fields that every writer replaces with a new object and none changes in place (checked:
# ``Node.observe`` assigns a fresh ``percept_data`` and ``last_symbols``; ``update_config``
# and ``create_session`` assign a new ``config``; ``metadata`` is only set at creation; the
# service assigns new ``applied_writes``). A copy may share them: a reader can never see a
# half-changed one.
SHARED_FIELDS = frozenset({"metadata", "config", "last_symbols", "percept_data", "applied_writes"})


def copy_session(session: Session) -> Session:
    """An independent copy, cheap even for a large STM.

    Only the lists that operations grow in place (the STM, the emotive and the metadata
    accumulators) are copied, and only their outer list: events, emotive and metadata dicts
    are never changed once added.
    ``SHARED_FIELDS`` are shared, since they are only ever replaced.
    """
    state = _slot_copy(session.state)
    state.stm = list(state.stm)
    state.emotives = list(state.emotives)
    state.metadata = list(state.metadata)
    copied = _slot_copy(session)
    copied.state = state
    return copied


_Slotted = TypeVar("_Slotted", Session, SessionState)


def _slot_copy(instance: _Slotted) -> _Slotted:
    """A shallow copy of a slots dataclass, every field included: a copy per session read
    and save, where ``dataclasses.replace`` (which calls ``__init__`` with every field by
    keyword) costs twice as much."""
    copied = object.__new__(type(instance))
    for name in type(instance).__slots__:
        setattr(copied, name, getattr(instance, name))
    return copied


# What ``append_observation`` answers when it does not apply the change.
_UNVERIFIED = AppendOutcome(False, False)  # no live session of that node and owner
_DECLINED = AppendOutcome(False, True)  # the locked path must decide


@dataclass(slots=True)
class _SizeBound:
    """An upper bound of a stored session's ``encoded_size()``, for the one-step observe.

    Computed from the session on the first append after it was stored (one O(STM) pass,
    ``Session.encoded_size_bound``), then kept by each append: the bound loses what it
    counted for the two fields an append replaces and gains an upper bound of the new
    values and of what is appended (an O(event) sum, no JSON encoding). Every part of it is
    an upper bound of the part of the exact size it stands for, so the sum stays one.
    """

    size: int  # >= encoded_size() of the stored session
    symbols: int  # what ``size`` counts for last_symbols (>= its encoded length)
    percept: int  # what ``size`` counts for percept_data (>= its encoded length)
    fresh: bool  # computed from the session itself, no append since

    @classmethod
    def of(cls, session: Session) -> _SizeBound:
        # encoded_size_bound encodes every field but the STM and the timestamps exactly,
        # so it counts these two at their encoded lengths.
        state = session.state
        return cls(
            session.encoded_size_bound(),
            _encoded_length(state.last_symbols),
            _encoded_length(state.percept_data),
            True,
        )


def _encoded_length(value: Any) -> int:
    return len(encode_compact(value))


def _plain(text: str) -> bool:
    """Whether JSON writes ``text`` as it is (printable ASCII, no quote or backslash)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _strings_length(strings: list[str]) -> int:
    """An upper bound of the compact JSON length of a list of strings, exact when they are
    plain: a character takes at most 12 (an astral one, two ``\\uXXXX`` escapes), plus
    two quotes and a separator a string and two brackets."""
    count = len(strings)
    if not count:
        return 2
    text = "".join(strings)
    if _plain(text):
        return len(text) + 3 * count + 1
    return 12 * len(text) + 3 * count + 1


def _emotives_length(emotives: dict[str, float]) -> int:
    """An upper bound of the compact JSON length of an emotives object: names as strings,
    a float at its widest, an int (or anything else) exactly."""
    count = len(emotives)
    if not count:
        return 2
    names = "".join(emotives)
    length = (len(names) if _plain(names) else 12 * len(names)) + 4 * count + 1
    for value in emotives.values():
        if type(value) is float:
            length += FLOAT_WIDTH
        elif type(value) is int:
            length += len(repr(value))
        else:
            length += _encoded_length(value)
    return length


def _digits_added(number: int) -> int:
    """Characters ``number + 1`` takes more than ``number`` (a non-negative int)."""
    return len(str(number + 1)) - len(str(number))


class MemorySessionStore:
    backend = "memory"

    def __init__(
        self,
        lock_timeout_seconds: float = 10.0,
        lock_acquire_timeout_seconds: float = 30.0,
        expired_retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        expired_retention_max_sessions: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self._lock_timeout = lock_timeout_seconds
        self._acquire_timeout = lock_acquire_timeout_seconds
        self._sessions: dict[str, Session] = {}
        self._expiry_heap: list[tuple[float, str]] = []
        self._locks = KeyedLocks()
        self._sessions_per_node: Counter[str] = Counter()
        self._stm_events = 0
        self._key = uuid4_hex()  # identifies this instance's leases
        self._expired = ExpiredSessions(expired_retention_seconds, expired_retention_max_sessions)
        # request key -> (expires_at, record) of keyed session creates, oldest first.
        self._request_keys: dict[str, tuple[float, str]] = {}
        # The one-step observe's size bounds, per stored session (dropped when it is stored
        # again or removed).
        self._size_bounds: dict[str, _SizeBound] = {}

    # -- records --------------------------------------------------------------------------

    async def create(self, session: Session) -> None:
        if self._live(session.session_id, time.time()) is not None:
            raise SessionExistsError(session.session_id)
        self._store(copy_session(session))

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        now = time.time()
        self._forget_request_keys(now)
        earlier = self._request_keys.get(request_key)
        if earlier is not None:
            return earlier[1]
        await self.create(session)  # no await inside: atomic with the line below
        self._request_keys[request_key] = (now + ttl_seconds, record)
        return None

    async def get(self, session_id: str) -> Session | None:
        session = self._live(session_id, time.time())
        return None if session is None else copy_session(session)

    async def save(self, session: Session) -> None:
        session_id = session.session_id
        lease = held_lease(self._key, session_id)
        if lease is None:
            raise SessionLockNotHeldError(session_id, "the caller does not hold its lock")
        if time.monotonic() >= lease.expires_at:
            raise SessionLockNotHeldError(session_id, "the lock expired before the save")
        if self._live(session_id, time.time()) is None:
            raise SessionGoneError(session_id)
        self._store(copy_session(session))

    async def delete(self, session_id: str) -> bool:
        existed = self._live(session_id, time.time()) is not None
        if existed:
            self._remove(session_id)
            self._expired.discard(session_id)  # a tombstone of an earlier session of this id
        return existed

    async def expired(self, session_id: str) -> SessionTombstone | None:
        now = time.time()
        if self._live(session_id, now) is not None:  # (one that just ran out is buried here)
            return None
        return self._expired.get(session_id, now)

    # -- the one-step observe ---------------------------------------------------------------

    @property
    def appends_observations(self) -> bool:
        return True

    async def append_observation(
        self, session_id: str, change: AppendedObservation, limits: ObservationLimits
    ) -> AppendOutcome:
        """Apply one observe's change to the stored session, exactly as the locked path
        would leave it, when that path would apply it unchanged; else change nothing.

        No await: atomic on the event loop, as the Redis store's script is in Redis.
        Declines (``identity_verified``: the session is live and is the caller's) when its
        lock is held or awaited, the STM cap would be exceeded (rejected or trimmed), the
        event would auto-learn, or the byte cap could be exceeded; answers "not verified"
        when no live session of that node and owner is stored, or it has its own genes.
        """
        session = self._live(session_id, time.time())
        if (
            session is None
            or session.node_id != change.node_id
            or session.owner != change.owner
            or session.config
        ):
            return _UNVERIFIED
        if self._locks.busy(session_id):
            return _DECLINED
        state = session.state
        appends = change.appends
        stm_length = len(state.stm) + appends
        learn_at = limits.learn_at
        if stm_length > limits.max_stm_size or (appends and 0 < learn_at <= stm_length):
            return _DECLINED
        kept = self._size_bounds.get(session_id)
        bound = kept if kept is not None else _SizeBound.of(session)
        grown = self._grown(session, bound, change)
        if grown[0] > limits.max_session_bytes and not bound.fresh:
            bound = _SizeBound.of(session)  # the kept bound may have drifted: compute again
            grown = self._grown(session, bound, change)
        if grown[0] > limits.max_session_bytes:
            self._size_bounds[session_id] = bound
            return _DECLINED  # maybe over the cap: the locked path computes the exact size
        applied = change.change
        state.time += 1
        if appends:
            state.stm.append(applied.stm[0])
            self._stm_events += 1
        emotives = change.emotives
        if emotives is not None:
            state.emotives.append(emotives)
        state.last_symbols = applied.last_symbols
        state.percept_data = applied.percept_data
        session.last_accessed = change.last_accessed
        session.access_count += 1
        self._size_bounds[session_id] = _SizeBound(*grown, False)
        return AppendOutcome(True, True, state.time, len(state.stm))

    def _grown(
        self, session: Session, bound: _SizeBound, change: AppendedObservation
    ) -> tuple[int, int, int]:
        """The size bound of ``session`` with ``change`` applied, and what it counts for the
        new last_symbols and percept_data."""
        applied = change.change
        symbols = _strings_length(applied.last_symbols)
        emotives = change.emotives
        emotives_length = 0 if emotives is None else _emotives_length(emotives)
        percept_length = _encoded_length(applied.percept_data)  # small: encoded exactly
        state = session.state
        size = (
            bound.size
            - bound.symbols
            + symbols
            - bound.percept
            + percept_length
            + _digits_added(state.time)
            + _digits_added(session.access_count)
        )  # last_accessed: the bound counts every timestamp at its widest already
        if change.appends:
            size += symbols + 1  # the event and a separator
        if emotives is not None:
            size += emotives_length + 1
        return size, symbols, percept_length

    # -- locking --------------------------------------------------------------------------

    def lock(self, session_id: str) -> _Locked:
        return _Locked(self, session_id)

    # -- counting and cleanup --------------------------------------------------------------

    async def count(self) -> int:
        self._evict_expired(time.time())
        return len(self._sessions)

    async def stats(self) -> dict[str, Any]:
        """Counts as of this call; sessions found expired are removed by the call itself.

        ``total_sessions`` = live + ``expired_sessions`` (expired but not yet cleaned up).
        """
        expired = self._evict_expired(time.time())
        active = len(self._sessions)
        return {
            "backend": self.backend,
            "total_sessions": active + expired,
            "active_sessions": active,
            "expired_sessions": expired,
            "nodes_with_sessions": len(self._sessions_per_node),
            "average_stm_size": self._stm_events / active if active else 0.0,
            "total_stm_events": self._stm_events,
        }

    async def cleanup_expired(self) -> int:
        return self._evict_expired(time.time())

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._sessions.clear()
        self._expiry_heap.clear()
        self._sessions_per_node.clear()
        self._stm_events = 0
        self._request_keys.clear()
        self._expired.clear()
        self._size_bounds.clear()

    # -- internals ------------------------------------------------------------------------

    def _live(self, session_id: str, now: float) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None and session.expired(now):
            self._bury(session_id, now)
            return None
        return session

    def _store(self, session: Session) -> None:
        previous = self._sessions.get(session.session_id)
        if previous is not None:
            self._uncount(previous)
        self._sessions[session.session_id] = session
        self._size_bounds.pop(session.session_id, None)
        self._sessions_per_node[session.node_id] += 1
        self._stm_events += len(session.state.stm)
        if previous is None or previous.expires_at != session.expires_at:
            heapq.heappush(self._expiry_heap, (session.expires_at, session.session_id))
            if len(self._expiry_heap) > 2 * len(self._sessions) + _HEAP_SLACK:
                self._rebuild_heap()

    def _remove(self, session_id: str) -> None:
        session = self._sessions.pop(session_id)
        self._size_bounds.pop(session_id, None)
        self._uncount(session)  # its heap entries go stale and are skipped when popped

    def _bury(self, session_id: str, now: float) -> None:
        """Remove a session that expired, leaving its tombstone."""
        self._expired.record(self._sessions[session_id], now)
        self._remove(session_id)

    def _uncount(self, session: Session) -> None:
        self._stm_events -= len(session.state.stm)
        self._sessions_per_node[session.node_id] -= 1
        if self._sessions_per_node[session.node_id] == 0:
            del self._sessions_per_node[session.node_id]

    def _evict_expired(self, now: float) -> int:
        removed = 0
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            expires_at, session_id = heapq.heappop(heap)
            session = self._sessions.get(session_id)
            if session is not None and session.expires_at == expires_at:
                self._bury(session_id, now)
                removed += 1
        return removed

    def _forget_request_keys(self, now: float) -> None:
        """Drop expired request keys, oldest first. Every key gets the same lifetime (the
        idempotency window), so insertion order is expiry order: amortised O(1)."""
        keys = self._request_keys
        while keys:
            oldest = next(iter(keys))
            if keys[oldest][0] > now:
                return
            del keys[oldest]

    def _rebuild_heap(self) -> None:
        self._expiry_heap = [(s.expires_at, sid) for sid, s in self._sessions.items()]
        heapq.heapify(self._expiry_heap)


class _Locked:
    """``MemorySessionStore.lock``: the session's in-process lock, then its lease. A class
    rather than a generator context manager: one per locked request (half its cost)."""

    __slots__ = ("_hold", "_holding", "_store", "_session_id")

    def __init__(self, store: MemorySessionStore, session_id: str) -> None:
        self._store = store
        self._session_id = session_id
        self._hold = store._locks.hold(session_id, store._acquire_timeout)

    async def __aenter__(self) -> None:
        await self._hold.__aenter__()
        store = self._store
        # No token to fence with in one process: the deadline is the whole lease.
        lease = Lease(store._key, time.monotonic() + store._lock_timeout)
        self._holding = holding(store._key, self._session_id, lease)
        self._holding.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self._holding.__exit__(*exc_info)
        await self._hold.__aexit__(*exc_info)
