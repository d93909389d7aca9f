"""Per-session lock helpers shared by the stores.

``KeyedLocks``: in-process locks per session id, created on demand and dropped when unused.

``Lease``/``holding``: which per-session locks the current task holds, so ``save`` can
enforce fencing. A store's ``lock(session_id)`` records a :class:`Lease` in a context
variable for the duration of the ``async with`` block; ``save`` looks it up. Context
variables follow the task (and tasks it spawns), so a save issued by code that does not hold
the lock — or whose lease has run out — is refused instead of silently overwriting newer
state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

from kato.sessions.errors import SessionLockTimeoutError


@dataclass(frozen=True, slots=True)
class Lease:
    token: str
    expires_at: float  # time.monotonic() deadline as seen by this process


_LeaseKey = tuple[str, str]  # (store instance key, session id)

_held: ContextVar[Mapping[_LeaseKey, Lease]] = ContextVar(
    "kato_session_leases", default=MappingProxyType({})
)


def held_lease(store_key: str, session_id: str) -> Lease | None:
    return _held.get().get((store_key, session_id))


def holding(store_key: str, session_id: str, lease: Lease) -> _Holding:
    """``with holding(...)``: the current task holds ``lease`` on the session until the block
    ends."""
    return _Holding((store_key, session_id), lease)


class _Holding:
    """The block of :func:`holding`. A class rather than a generator context manager: it is
    entered for every locked request, and the generator costs about three times as much."""

    __slots__ = ("_key", "_lease", "_reset")

    def __init__(self, key: _LeaseKey, lease: Lease) -> None:
        self._key = key
        self._lease = lease

    def __enter__(self) -> None:
        # A fresh mapping per entry: tasks spawned inside the block see a snapshot, and the
        # outer context is restored exactly on exit.
        self._reset = _held.set(MappingProxyType({**_held.get(), self._key: self._lease}))

    def __exit__(self, *exc_info: object) -> None:
        _held.reset(self._reset)


@dataclass(slots=True)
class _KeyedLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # tasks holding or waiting; the entry is dropped at zero


class KeyedLocks:
    """One ``asyncio.Lock`` per key; memory stays proportional to keys in use."""

    def __init__(self) -> None:
        self._entries: dict[str, _KeyedLock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def busy(self, session_id: str) -> bool:
        """Whether a task holds or awaits the key's lock (its entry lives exactly that long)."""
        return session_id in self._entries

    def hold(self, session_id: str, timeout: float) -> _Hold:
        """``async with``: an exclusive section; ``SessionLockTimeoutError`` if not acquired
        in ``timeout`` s."""
        return _Hold(self._entries, session_id, timeout)


class _Hold:
    """The section of :meth:`KeyedLocks.hold` (a class, as :class:`_Holding`)."""

    __slots__ = ("_entries", "_session_id", "_timeout", "_entry")

    def __init__(self, entries: dict[str, _KeyedLock], session_id: str, timeout: float) -> None:
        self._entries = entries
        self._session_id = session_id
        self._timeout = timeout

    async def __aenter__(self) -> None:
        entry = self._entries.get(self._session_id)
        if entry is None:
            entry = self._entries[self._session_id] = _KeyedLock()
        entry.users += 1
        self._entry = entry
        try:
            if entry.users == 1:  # nobody else holds or waits: taken at once, no timer
                await entry.lock.acquire()
            else:
                try:
                    async with asyncio.timeout(self._timeout):
                        await entry.lock.acquire()
                except TimeoutError:
                    raise SessionLockTimeoutError(self._session_id, self._timeout) from None
        except BaseException:  # not acquired (timed out, cancelled): no longer a user
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._entry.lock.release()
        self._leave()

    def _leave(self) -> None:
        self._entry.users -= 1
        if self._entry.users == 0:
            del self._entries[self._session_id]
