"""The per-session lock of the Redis session store: ``<group prefix>session-lock:<id>``
(``redis_keys.py``) holds the holder's random token.

Two rules keep a stalled or partitioned Redis from blocking sessions after it comes back
(issue 9 req 3; docs/SESSIONS.md, "Locks"):

* **Short leases, renewed.** The key expires :data:`LEASE_SECONDS` after it was last set
  (``PX``); while its holder works, a renewal extends it every third of a lease, up to
  ``lock_timeout_seconds`` after the acquisition — the longest anyone may hold a session,
  after which its save is refused (fencing, checked by the store's save script). A holder
  that dies, or whose release is lost, blocks its session for one short lease, not for
  ``lock_timeout_seconds``.
* **Commands fenced by their caller's patience.** Each acquisition and renewal carries the
  time (in Redis's clock, ``TIME``) at which its caller stops waiting for the reply; a
  command that runs later — one that waited in a paused Redis's socket buffer while its
  caller timed out — changes nothing. The store learns the offset between its clock and
  Redis's from every reply, so a skewed host clock costs one refused attempt, not every
  lock. A caller that gives up otherwise (cancellation, a lost reply) gives its token back
  in the background.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from kato.core.random_ids import uuid4_hex
from kato.sessions.errors import SessionLockTimeoutError
from kato.sessions.leases import Lease
from kato.sessions.redis_keys import KeySpace

log = logging.getLogger(__name__)

LEASE_SECONDS = 2.0  # the lock key's expiry; renewed while the holder works

_STALE, _TAKEN, _HELD = -1, 0, 1  # first element of a lock script's reply

# ARGV[1]: when the caller stops waiting, ms in Redis's clock. Every reply ends with Redis's
# time (ms), from which the caller learns the clock offset.
_FENCE = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
if now > tonumber(ARGV[1]) then return {-1, now} end
"""

# KEYS[1] lock, KEYS[2] record, KEYS[3] its fast-observe log. ARGV[2] token, ARGV[3] lease
# ms. Returns {1, now, record or nil, log} when the caller holds the lock (finding its own
# token means a client retry of an acquisition that already ran), else {0, now}. Reading the
# record here saves the critical section's first round trip: the store's ``get`` under the
# lock uses it.
_ACQUIRE = (
    _FENCE
    + """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3])
    or redis.call('GET', KEYS[1]) == ARGV[2] then
  -- false, not nil: a nil would end the reply's array
  return {1, now, redis.call('GET', KEYS[2]) or false, redis.call('LRANGE', KEYS[3], 0, -1)}
end
return {0, now}
"""
)

# KEYS[1] lock. ARGV[2] token, ARGV[3] lease ms. {1, now} extended, {0, now} not ours any more.
_RENEW = (
    _FENCE
    + """
if redis.call('GET', KEYS[1]) == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {1, now}
end
return {0, now}
"""
)

# KEYS[1] lock. ARGV[1] token. Deletes the lock only if we still own it; a late release
# deletes nothing of anyone else's, so it needs no fence.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_POLL_FIRST = 0.001  # seconds; doubles up to _POLL_MAX while the lock is taken
_POLL_MAX = 0.025


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisSessionLocks:
    """Acquire, renew and release per-session locks; see the module docstring."""

    def __init__(
        self,
        client: Redis,  # or a RedisCluster
        space: KeySpace,
        *,
        lock_timeout_seconds: float,
        lock_acquire_timeout_seconds: float,
        command_timeout_seconds: float,
    ) -> None:
        self._space = space
        self._hold_limit = lock_timeout_seconds
        self._lease = min(LEASE_SECONDS, lock_timeout_seconds)
        self._acquire_timeout = lock_acquire_timeout_seconds
        self._command_timeout = command_timeout_seconds
        self._acquire_script = client.register_script(_ACQUIRE)
        self._renew_script = client.register_script(_RENEW)
        self._release_script = client.register_script(_RELEASE)
        self._redis_clock_offset = 0.0  # Redis's clock minus ours, seconds, last seen
        self._releasing: set[asyncio.Task[None]] = set()

    def key(self, session_id: str) -> str:
        return self._space.session(session_id).lock

    async def acquire(
        self, session_id: str, deadline: float
    ) -> tuple[Lease, bytes | None, list[bytes]]:
        """The lease and the record and log read with it; waits for a busy session until
        ``deadline`` (``time.monotonic()``), then ``SessionLockTimeoutError``."""
        session_keys = self._space.session(session_id)
        keys = [session_keys.lock, session_keys.record, session_keys.log]
        token = uuid4_hex()  # one token for every attempt: a late success is ours
        pause = _POLL_FIRST
        try:
            while True:
                started = time.monotonic()
                reply = await self._fenced(self._acquire_script, keys, token, _ms(self._lease))
                if reply[0] == _HELD:
                    return Lease(token, started + self._hold_limit), reply[2], reply[3]
                if time.monotonic() >= deadline:
                    raise SessionLockTimeoutError(session_id, self._acquire_timeout)
                if reply[0] == _STALE:
                    continue  # our clock was off: the offset is learned, try again at once
                # Jitter keeps instances polling the same session from moving in lockstep.
                await asyncio.sleep(min(pause * random.uniform(0.5, 1.5), deadline - started))
                pause = min(pause * 2, _POLL_MAX)
        except SessionLockTimeoutError:
            raise  # the last reply said another holder has it: nothing of ours to give back
        except BaseException:
            # An attempt may have taken the lock although its reply never reached us.
            self.release_later(session_id, token)
            raise

    def keep_renewed(self, session_id: str, lease: Lease) -> Renewal:
        """Extend ``lease`` every third of a lease until ``stop()`` or the hold limit."""

        async def renew() -> bool:
            remaining = lease.expires_at - time.monotonic()
            if remaining <= 0:
                return False  # the hold limit: the lease runs out, a later save is refused
            try:
                lease_ms = _ms(min(self._lease, remaining))
                reply = await self._fenced(
                    self._renew_script, [self.key(session_id)], lease.token, lease_ms
                )
            except (redis_errors.RedisError, RuntimeError):
                # RuntimeError: uvloop's "handler is closed" for a connection lost mid-write.
                return True  # try again; if Redis stays away the lease lapses (save fenced)
            return bool(reply[0] != _TAKEN)  # taken: expired and maybe taken over

        return Renewal(renew, self._lease / 3)

    async def release(self, session_id: str, token: str) -> None:
        try:
            await self._release_script(keys=[self.key(session_id)], args=[token])
        except (redis_errors.RedisError, RuntimeError) as exc:
            # The request's own outcome stands; the lock frees itself at its short expiry.
            # (RuntimeError: uvloop's "handler is closed" for a connection lost mid-write.)
            log.warning("could not release the lock of session %s: %s", session_id, exc)

    def release_later(self, session_id: str, token: str) -> None:
        """Give the lock back in the background: the caller that gave up answers at once."""
        task = asyncio.get_running_loop().create_task(self.release(session_id, token))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    def close(self) -> None:
        for task in self._releasing:
            task.cancel()  # each lock left this way lapses with its short lease

    async def _fenced(self, script: AsyncScript, keys: list[str], *args: Any) -> list[Any]:
        """Run a lock script that changes nothing if it runs after we stopped waiting."""
        give_up_at = time.time() + self._redis_clock_offset + self._command_timeout
        try:
            async with asyncio.timeout(self._command_timeout):
                reply: list[Any] = await script(keys=keys, args=[_ms(give_up_at), *args])
        except TimeoutError:
            raise redis_errors.TimeoutError(
                f"no reply to a session lock command within {self._command_timeout} s"
            ) from None
        self._redis_clock_offset = reply[1] / 1000 - time.time()
        return reply


class Renewal:
    """Runs ``renew`` every ``period`` seconds while it returns True, until ``stop()``.

    Nothing runs for holders done within the first period (nearly all): a timer, not a
    task, waits for it.
    """

    def __init__(self, renew: Callable[[], Awaitable[bool]], period: float) -> None:
        self._renew = renew
        self._period = period
        self._task: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(period, self._start)

    def stop(self) -> None:
        self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while await self._renew():
            await asyncio.sleep(self._period)
