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
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
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


@contextmanager
def holding(store_key: str, session_id: str, lease: Lease) -> Iterator[None]:
    # A fresh mapping per entry: tasks spawned inside the block see a snapshot, and the
    # outer context is restored exactly on exit.
    reset_token = _held.set(MappingProxyType({**_held.get(), (store_key, session_id): lease}))
    try:
        yield
    finally:
        _held.reset(reset_token)


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

    @asynccontextmanager
    async def hold(self, session_id: str, timeout: float) -> AsyncIterator[None]:
        """Exclusive section; ``SessionLockTimeoutError`` if not acquired in ``timeout`` s."""
        entry = self._entries.get(session_id)
        if entry is None:
            entry = self._entries[session_id] = _KeyedLock()
        entry.users += 1
        try:
            if entry.users == 1:  # nobody else holds or waits: taken at once, no timer
                await entry.lock.acquire()
            else:
                try:
                    async with asyncio.timeout(timeout):
                        await entry.lock.acquire()
                except TimeoutError:
                    raise SessionLockTimeoutError(session_id, timeout) from None
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[session_id]
