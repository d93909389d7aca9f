"""Which per-session locks the current task holds, so ``save`` can enforce fencing.

A store's ``lock(session_id)`` records a :class:`Lease` in a context variable for the
duration of the ``async with`` block; ``save`` looks it up. Context variables follow the
task (and tasks it spawns), so a save issued by code that does not hold the lock — or whose
lease has run out — is refused instead of silently overwriting newer state.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType


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
