"""Redis session store: sessions shared by every service instance (issue 4 req 1/2).

Key layout (prefix ``kato:`` by default; docs/SESSIONS.md has the full picture):

* ``kato:session:<id>`` — the session JSON (Fernet token when encrypted), expiring at
  ``expires_at`` (``PXAT``), so Redis itself drops abandoned sessions.
* ``kato:sessions:expiry`` — sorted set, member = session id, score = ``expires_at`` in ms:
  live count is one ``ZCOUNT``; cleanup is ``ZRANGEBYSCORE`` in batches. No ``KEYS``/``SCAN``.
* ``kato:sessions:info`` — hash id → ``"<stm events>|<node id>"``, the figures each session
  contributes to ``kato:sessions:nodes`` (hash node → session count) and
  ``kato:sessions:stm_events`` (counter): statistics without reading any session.
* ``kato:session-lock:<id>`` — the per-session lock: its holder's random token, a short
  lease renewed while the holder works (``redis_lock.py``).
* ``kato:session-end:<id>`` — the session's tombstone (node and owner, JSON; Fernet token
  when encrypted), written with the record and expiring ``expired_retention_seconds`` after
  it (``PXAT``), so that once Redis dropped the record a read can still tell "expired" from
  "unknown". An explicit delete removes it. None with a retention of 0.
* ``kato:create-key:<sha-256>`` — a keyed session create (``Idempotency-Key``, scoped per
  principal): the record of the request that created its session, with ``PX`` expiry (the
  idempotency window).

Every write is one Lua script, so a record, its index entry and the counters change
together. ``save`` is fenced: its script writes only if the lock key still holds the
caller's token, so a holder whose lock expired (and was possibly taken by another instance)
gets ``SessionLockNotHeldError`` instead of overwriting newer state. The scripts touch keys
they compute from a prefix, so they need a single Redis primary (or Sentinel), not Cluster.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff

from kato.config import RedisSettings, SessionSettings
from kato.sessions.crypto import SessionCipher, SessionDecryptError
from kato.sessions.errors import (
    SessionExistsError,
    SessionGoneError,
    SessionLockNotHeldError,
)
from kato.sessions.leases import KeyedLocks, held_lease, holding
from kato.sessions.models import Session
from kato.sessions.redis_lock import RedisSessionLocks
from kato.sessions.tombstones import DEFAULT_RETENTION_SECONDS, SessionTombstone

# Lua helpers shared by the scripts. KEYS: 1 record, 2 expiry zset, 3 info hash,
# 4 per-node counts, 5 STM event counter.
_INDEX_FUNCTIONS = """
local function forget(id)
  redis.call('ZREM', KEYS[2], id)
  local info = redis.call('HGET', KEYS[3], id)
  if info then
    redis.call('HDEL', KEYS[3], id)
    local sep = string.find(info, '|', 1, true)
    local node = string.sub(info, sep + 1)
    if redis.call('HINCRBY', KEYS[4], node, -1) <= 0 then
      redis.call('HDEL', KEYS[4], node)
    end
    redis.call('DECRBY', KEYS[5], tonumber(string.sub(info, 1, sep - 1)))
  end
end
local function remember(id, expires_ms, node, stm_events)
  redis.call('ZADD', KEYS[2], expires_ms, id)
  redis.call('HSET', KEYS[3], id, stm_events .. '|' .. node)
  redis.call('HINCRBY', KEYS[4], node, 1)
  redis.call('INCRBY', KEYS[5], stm_events)
end
"""

# Written with a new record: the tombstone key, its payload, when it expires (ms; 0: none).
_BURY_LATER = """
local function bury_later(key, payload, until_ms)
  if until_ms == '0' then redis.call('DEL', key)
  else redis.call('SET', key, payload, 'PXAT', until_ms) end
end
"""

# KEYS[6] tombstone. ARGV: id, payload, expires_ms, node, stm_events, tombstone payload, its
# expiry ms. Returns 1 created, 0 exists.
# Finding our own payload means this is a client retry of a create that already ran.
_CREATE = (
    _INDEX_FUNCTIONS
    + _BURY_LATER
    + """
local current = redis.call('GET', KEYS[1])
if current then
  if current == ARGV[2] then return 1 end
  return 0
end
forget(ARGV[1])  -- leftovers of an expired session that had this id
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
remember(ARGV[1], ARGV[3], ARGV[4], ARGV[5])
bury_later(KEYS[6], ARGV[6], ARGV[7])
return 1
"""
)

# KEYS[6] request key, KEYS[7] tombstone; ARGV as _CREATE but ARGV[6], ARGV[7] are the record
# to remember under the request key and its lifetime in ms, ARGV[8], ARGV[9] the tombstone's.
# Returns the record already remembered (nothing created), else as _CREATE.
_CREATE_ONCE = (
    _INDEX_FUNCTIONS
    + _BURY_LATER
    + """
local earlier = redis.call('GET', KEYS[6])
if earlier then return earlier end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
forget(ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
remember(ARGV[1], ARGV[3], ARGV[4], ARGV[5])
redis.call('SET', KEYS[6], ARGV[6], 'PX', ARGV[7])
bury_later(KEYS[7], ARGV[8], ARGV[9])
return 1
"""
)

# KEYS[6] lock, KEYS[7] tombstone. ARGV: id, token, payload, expires_ms, node, stm_events,
# tombstone expiry ms (the session's expiry may have moved).
# Returns 1 saved, 0 session gone, -1 lock not held (fencing).
_SAVE = (
    _INDEX_FUNCTIONS
    + """
if redis.call('GET', KEYS[6]) ~= ARGV[2] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  forget(ARGV[1])
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
forget(ARGV[1])
remember(ARGV[1], ARGV[4], ARGV[5], ARGV[6])
if ARGV[7] == '0' then redis.call('DEL', KEYS[7])
else redis.call('PEXPIREAT', KEYS[7], ARGV[7]) end
return 1
"""
)

# KEYS[6] tombstone. ARGV: id, 'deleted' for an explicit delete (it leaves no tombstone) or
# 'expired' (the caller found the record expired). Returns the records deleted (0 or 1).
_DELETE = (
    _INDEX_FUNCTIONS
    + """
local deleted = redis.call('DEL', KEYS[1])
forget(ARGV[1])
if deleted == 1 and ARGV[2] == 'deleted' then redis.call('DEL', KEYS[6]) end
return deleted
"""
)

# ARGV: id. Drops index entries of a record Redis already expired.
_FORGET_IF_MISSING = (
    _INDEX_FUNCTIONS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then forget(ARGV[1]) end
return 0
"""
)

# KEYS[1] unused. ARGV: now_ms, batch size, record key prefix. Returns sessions removed.
_CLEANUP = (
    _INDEX_FUNCTIONS
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. id)
  forget(id)
end
return #ids
"""
)

# KEYS[1] record. ARGV: expected payload, new payload. Compare-and-set keeping the TTL.
_REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""

_CLEANUP_BATCH = 500


def redis_client(settings: RedisSettings) -> Redis:
    """A pooled asyncio client: at most ``pool_size`` connections, callers queue for one.

    A command that fails on a broken pooled connection (Redis restarted, idle socket
    dropped) is sent once more on a fresh connection — a reconnect, not a retry policy:
    outages are left to the resilience layer (kato.resilience.retry). Every store operation
    is safe to repeat: a repeated create, save or lock acquisition finds its own write, a
    repeated delete, release or cleanup changes nothing more (a repeated delete reports
    that nothing was deleted).
    """
    if not settings.url:
        raise ValueError("the Redis session store needs database.redis.url (REDIS_URL)")
    tls_files = {
        "ssl_ca_certs": settings.tls_ca_file,
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
    }
    tls = {name: path for name, path in tls_files.items() if path}
    if tls and not settings.url.startswith("rediss://"):
        raise ValueError("Redis TLS files are configured: use a rediss:// URL")
    pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.pool_size,
        timeout=settings.socket_timeout,  # wait for a free pooled connection
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.socket_connect_timeout,
        retry=Retry(EqualJitterBackoff(cap=0.05, base=0.01), retries=1),
        retry_on_error=[redis_errors.ConnectionError, redis_errors.TimeoutError],
        **tls,
    )
    return Redis(connection_pool=pool)


def _ms(epoch_seconds: float) -> int:
    return int(epoch_seconds * 1000)


class RedisSessionStore:
    backend = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        lock_timeout_seconds: float = 10.0,
        lock_acquire_timeout_seconds: float = 30.0,
        command_timeout_seconds: float = 10.0,  # how long a lock command waits for its reply
        cipher: SessionCipher | None = None,
        prefix: str = "kato:",
        expired_retention_seconds: float = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self._redis = client
        self._retention_ms = int(expired_retention_seconds * 1000)
        self._tombstone_prefix = f"{prefix}session-end:"
        self._acquire_timeout = lock_acquire_timeout_seconds
        self._cipher = cipher
        self._record_prefix = f"{prefix}session:"
        self._lock_prefix = f"{prefix}session-lock:"
        self._request_key_prefix = f"{prefix}create-key:"
        self._index_keys = [
            f"{prefix}sessions:expiry",
            f"{prefix}sessions:info",
            f"{prefix}sessions:nodes",
            f"{prefix}sessions:stm_events",
        ]
        self._create = client.register_script(_CREATE)
        self._create_once = client.register_script(_CREATE_ONCE)
        self._save = client.register_script(_SAVE)
        self._delete = client.register_script(_DELETE)
        self._forget_if_missing = client.register_script(_FORGET_IF_MISSING)
        self._cleanup = client.register_script(_CLEANUP)
        self._replace_if_unchanged = client.register_script(_REPLACE_IF_UNCHANGED)
        # Requests of this instance queue locally, so only one of them polls Redis per
        # session: contention on Redis stays proportional to instances, not to requests.
        self._local_locks = KeyedLocks()
        # session id -> (lock token, record read by the acquiring script), for the holder's
        # first ``get``; one holder per session per instance (the local lock above).
        self._prefetched: dict[str, tuple[str, bytes | None]] = {}
        self._key = uuid.uuid4().hex  # identifies this instance's leases
        self._locks = RedisSessionLocks(
            client,
            lock_prefix=self._lock_prefix,
            record_prefix=self._record_prefix,
            lock_timeout_seconds=lock_timeout_seconds,
            lock_acquire_timeout_seconds=lock_acquire_timeout_seconds,
            command_timeout_seconds=command_timeout_seconds,
        )

    @classmethod
    def from_settings(
        cls, redis: RedisSettings, session: SessionSettings, prefix: str = "kato:"
    ) -> RedisSessionStore:
        keys = session.encryption_keys
        return cls(
            redis_client(redis),
            lock_timeout_seconds=session.lock_timeout_seconds,
            lock_acquire_timeout_seconds=session.lock_acquire_timeout_seconds,
            # What redis_client waits for a reply: a send and one resend on a new connection.
            command_timeout_seconds=2 * redis.socket_timeout,
            cipher=SessionCipher(keys) if keys else None,
            prefix=prefix,
            expired_retention_seconds=session.expired_retention_seconds,
        )

    # -- records --------------------------------------------------------------------------

    async def create(self, session: Session) -> None:
        session_id = session.session_id
        created = await self._create(
            keys=self._keys_of(session_id),
            args=[
                session_id,
                self._encode(session),
                _ms(session.expires_at),
                *self._info(session),
                *self._tombstone(session),
            ],
        )
        if not created:
            raise SessionExistsError(session_id)

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        session_id = session.session_id
        reply = await self._create_once(
            keys=[
                *self._keys(session_id),
                self._request_key_prefix + request_key,
                self._tombstone_prefix + session_id,
            ],
            args=[
                session_id,
                self._encode(session),
                _ms(session.expires_at),
                *self._info(session),
                record,
                max(1, int(ttl_seconds * 1000)),
                *self._tombstone(session),
            ],
        )
        if isinstance(reply, bytes):
            earlier = reply.decode()
            # Our own record: the client's reconnect re-sent a script that had already run.
            return None if earlier == record else earlier
        if not reply:
            raise SessionExistsError(session_id)
        return None

    async def get(self, session_id: str) -> Session | None:
        prefetched, payload = self._take_prefetched(session_id)
        if not prefetched:
            payload = await self._redis.get(self._record_prefix + session_id)
        if payload is None:
            await self._forget_if_missing(keys=self._keys(session_id), args=[session_id])
            return None
        session = self._decode(payload, session_id)
        if session.expired():  # this host's clock is ahead of Redis's
            await self._delete(keys=self._keys_of(session_id), args=[session_id, "expired"])
            return None
        return session

    async def expired(self, session_id: str) -> SessionTombstone | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.exists(self._record_prefix + session_id)
            pipe.get(self._tombstone_prefix + session_id)
            live, payload = await pipe.execute()
        if live or payload is None:  # a live session's tombstone waits for its expiry
            return None
        if self._cipher is not None:
            try:
                payload = self._cipher.decrypt(payload, session_id)
            except SessionDecryptError:  # written under a key removed since: no longer told
                return None
        return SessionTombstone.from_json(session_id, payload)

    async def save(self, session: Session) -> None:
        session_id = session.session_id
        lease = held_lease(self._key, session_id)
        if lease is None:
            raise SessionLockNotHeldError(session_id, "the caller does not hold its lock")
        outcome = await self._save(
            keys=[
                *self._keys(session_id),
                self._lock_prefix + session_id,
                self._tombstone_prefix + session_id,
            ],
            args=[
                session_id,
                lease.token,
                self._encode(session),
                _ms(session.expires_at),
                *self._info(session),
                self._tombstone_expiry(session),
            ],
        )
        if outcome == -1:
            raise SessionLockNotHeldError(
                session_id, "its lock expired (another request may have taken it over)"
            )
        if outcome == 0:
            raise SessionGoneError(session_id)

    async def delete(self, session_id: str) -> bool:
        deleted = await self._delete(keys=self._keys_of(session_id), args=[session_id, "deleted"])
        return bool(deleted)

    # -- locking --------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        deadline = time.monotonic() + self._acquire_timeout
        async with self._local_locks.hold(session_id, self._acquire_timeout):
            lease, record = await self._locks.acquire(session_id, deadline)
            self._prefetched[session_id] = (lease.token, record)
            renewal = self._locks.keep_renewed(session_id, lease)
            try:
                with holding(self._key, session_id, lease):
                    yield
            except BaseException:
                # A failed or cancelled request answers at once; Redis, when it answers,
                # gets the lock back (or it lapses with its short lease).
                self._locks.release_later(session_id, lease.token)
                raise
            finally:
                renewal.stop()
                self._prefetched.pop(session_id, None)
            await self._locks.release(session_id, lease.token)

    def _take_prefetched(self, session_id: str) -> tuple[bool, bytes | None]:
        """``(True, record)`` read when the caller's lock was acquired (once), else ``(False,
        None)``.

        Under the lock no other save can change the record (saves are fenced), so it is what
        a ``GET`` would return; a concurrent delete is caught by the fenced save's existence
        check, exactly as when it happens between a ``GET`` and the save.
        """
        lease = held_lease(self._key, session_id)
        entry = self._prefetched.get(session_id)
        if lease is None or entry is None or entry[0] != lease.token:
            return False, None
        del self._prefetched[session_id]
        return True, entry[1]

    # -- counting and cleanup --------------------------------------------------------------

    async def count(self) -> int:
        live_after = f"({_ms(time.time())}"
        return int(await self._redis.zcount(self._index_keys[0], live_after, "+inf"))

    async def stats(self) -> dict[str, Any]:
        """Counts as of this call; sessions found expired are removed by the call itself.

        ``total_sessions`` = live + ``expired_sessions`` (expired but not yet cleaned up).
        """
        expired = await self.cleanup_expired()
        expiry, _, nodes, stm_events = self._index_keys
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zcard(expiry).hlen(nodes).get(stm_events)
            active, node_count, events = await pipe.execute()
        active, events = int(active), int(events or 0)
        return {
            "backend": self.backend,
            "total_sessions": active + expired,
            "active_sessions": active,
            "expired_sessions": expired,
            "nodes_with_sessions": int(node_count),
            "average_stm_size": events / active if active else 0.0,
            "total_stm_events": events,
        }

    async def cleanup_expired(self) -> int:
        removed = 0
        now_ms = _ms(time.time())
        while True:
            batch = int(
                await self._cleanup(
                    keys=self._keys(""),
                    args=[now_ms, _CLEANUP_BATCH, self._record_prefix],
                )
            )
            removed += batch
            if batch < _CLEANUP_BATCH:
                return removed

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored session under the first key; returns how many changed.

        Walks the expiry index with ZSCAN (never KEYS) and writes each record back only if it
        did not change meanwhile, keeping its TTL. A concurrent save already uses the new key.
        """
        if self._cipher is None:
            raise ValueError("session encryption is not configured")
        rotated = 0
        async for member, _ in self._redis.zscan_iter(self._index_keys[0]):
            session_id = member.decode()
            record_key = self._record_prefix + session_id
            payload = await self._redis.get(record_key)
            if payload is None:
                continue
            new_payload = self._cipher.rotate(payload, session_id)
            rotated += int(
                await self._replace_if_unchanged(keys=[record_key], args=[payload, new_payload])
            )
        return rotated

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        self._locks.close()
        # aclose (redis-py >= 5) is missing from the older types-redis stubs.
        await self._redis.aclose()  # type: ignore[attr-defined]

    # -- internals ------------------------------------------------------------------------

    def _keys(self, session_id: str) -> list[str]:
        return [self._record_prefix + session_id, *self._index_keys]

    def _keys_of(self, session_id: str) -> list[str]:
        """``_keys`` and the session's tombstone key."""
        return [*self._keys(session_id), self._tombstone_prefix + session_id]

    def _tombstone_expiry(self, session: Session) -> int:
        """When the tombstone of ``session`` expires, in ms (0: retention disabled)."""
        return _ms(session.expires_at) + self._retention_ms if self._retention_ms > 0 else 0

    def _tombstone(self, session: Session) -> tuple[bytes, int]:
        payload = SessionTombstone.of(session).to_json()
        if self._cipher is not None:
            payload = self._cipher.encrypt(payload)
        return payload, self._tombstone_expiry(session)

    @staticmethod
    def _info(session: Session) -> tuple[str, int]:
        return session.node_id, len(session.state.stm)

    def _encode(self, session: Session) -> bytes:
        payload = session.to_json().encode()
        return payload if self._cipher is None else self._cipher.encrypt(payload)

    def _decode(self, payload: bytes, session_id: str) -> Session:
        if self._cipher is not None:
            payload = self._cipher.decrypt(payload, session_id)
        return Session.from_dict(json.loads(payload))
