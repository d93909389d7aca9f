"""Redis session store: sessions shared by every service instance (issue 4 req 1/2), on one
primary or a Redis Cluster (issue 14 req 1).

Key layout, per group (``redis_keys.py``; prefix ``kato:`` on one primary, ``kato:{g<n>}:``
on a cluster; docs/SESSIONS.md has the full picture):

* ``session:<id>`` — the session JSON (Fernet token when encrypted), expiring at
  ``expires_at`` (``PXAT``), so Redis itself drops abandoned sessions.
* ``session-log:<id>``, ``session-figures:<id>`` — observes applied in one round trip since
  the record was written, and the figures that script checks (``redis_observe.py``); read
  with the record and folded into it, emptied by the next save.
* ``sessions:expiry`` — sorted set, member = session id, score = ``expires_at`` in ms:
  live count is one ``ZCOUNT`` per group; cleanup is ``ZRANGEBYSCORE`` in batches. No
  ``KEYS``/``SCAN``.
* ``sessions:info`` — hash id → ``"<stm events>|<node id>"``, the figures each session
  contributes to ``sessions:nodes`` (hash node → session count) and ``sessions:stm_events``
  (counter): statistics without reading any session.
* ``session-lock:<id>`` — the per-session lock: its holder's random token, a short lease
  renewed while the holder works (``redis_lock.py``).
* ``session-end:<id>`` — the session's tombstone (node and owner, JSON; Fernet token when
  encrypted), written with the record and expiring ``expired_retention_seconds`` after it
  (``PXAT``), so that once Redis dropped the record a read can still tell "expired" from
  "unknown". An explicit delete removes it. None with a retention of 0.
* ``create-key:<sha-256>`` — a keyed session create (``Idempotency-Key``, scoped per
  principal): the record of the request that created its session, with ``PX`` expiry (the
  idempotency window); in its own group (the key's, not the session's).

Every write is one Lua script on the keys of one group (one hash slot), so a record, its
index entry and the counters change together. ``save`` is fenced: its script writes only if
the lock key still holds the caller's token, so a holder whose lock expired (and was possibly
taken by another instance) gets ``SessionLockNotHeldError`` instead of overwriting newer state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff

from kato.config import RedisSettings, SessionSettings
from kato.core.random_ids import uuid4_hex
from kato.sessions.crypto import SessionCipher, SessionDecryptError
from kato.sessions.errors import (
    SessionExistsError,
    SessionGoneError,
    SessionLockNotHeldError,
)
from kato.sessions.leases import KeyedLocks, held_lease, holding
from kato.sessions.models import Session
from kato.sessions.redis_channel import ScriptChannel
from kato.sessions.redis_keys import KeySpace
from kato.sessions.redis_lock import RedisSessionLocks
from kato.sessions.redis_observe import (
    APPEND_SCRIPT,
    AppendedObservation,
    AppendOutcome,
    ObservationLimits,
    figures,
    fold,
)
from kato.sessions.tombstones import DEFAULT_RETENTION_SECONDS, SessionTombstone

# Lua helpers shared by the scripts. KEYS: 1 record, 2 expiry zset, 3 info hash,
# 4 per-node counts, 5 STM event counter — all of the session's group (redis_keys.py).
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

# Written with every record: its fast-observe figures (ARGV[from..], HSET pairs; none: the
# session is not fast-observable) expiring with it, and an empty log (redis_observe.py).
_WRITE_FIGURES = """
local function write_figures(figures_key, log_key, from, expires_ms)
  redis.call('DEL', figures_key, log_key)
  if #ARGV >= from then
    redis.call('HSET', figures_key, unpack(ARGV, from))
    redis.call('PEXPIREAT', figures_key, expires_ms)
  end
end
"""

# KEYS[6] tombstone, 7 figures, 8 log. ARGV: id, payload, expires_ms, node, stm_events,
# tombstone payload, its expiry ms, figures... Returns 1 created, 0 exists.
# Finding our own payload means this is a client retry of a create that already ran.
_CREATE = (
    _INDEX_FUNCTIONS
    + _BURY_LATER
    + _WRITE_FIGURES
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
write_figures(KEYS[7], KEYS[8], 8, ARGV[3])
return 1
"""
)

# Single primary only (one slot for everything): KEYS[6] request key, 7 tombstone, 8 figures,
# 9 log; ARGV as _CREATE but ARGV[6], ARGV[7] are the record to remember under the request
# key and its lifetime in ms, ARGV[8], ARGV[9] the tombstone's, then the figures.
# Returns the record already remembered (nothing created), else as _CREATE.
_CREATE_ONCE = (
    _INDEX_FUNCTIONS
    + _BURY_LATER
    + _WRITE_FIGURES
    + """
local earlier = redis.call('GET', KEYS[6])
if earlier then return earlier end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
forget(ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
remember(ARGV[1], ARGV[3], ARGV[4], ARGV[5])
redis.call('SET', KEYS[6], ARGV[6], 'PX', ARGV[7])
bury_later(KEYS[7], ARGV[8], ARGV[9])
write_figures(KEYS[8], KEYS[9], 10, ARGV[3])
return 1
"""
)

# KEYS[1] request key. ARGV: record, lifetime ms. The earlier record, else ours is set (nil).
_CLAIM_REQUEST_KEY = """
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS[6] lock, 7 tombstone, 8 figures, 9 log. ARGV: id, token, payload, expires_ms, node,
# stm_events, tombstone expiry ms (the session's expiry may have moved), figures...
# Returns 1 saved, 0 session gone, -1 lock not held (fencing). The saved record includes the
# logged observes (folded when it was read under this lock), so the log is emptied.
_SAVE = (
    _INDEX_FUNCTIONS
    + _WRITE_FIGURES
    + """
if redis.call('GET', KEYS[6]) ~= ARGV[2] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  forget(ARGV[1])
  redis.call('DEL', KEYS[8], KEYS[9])
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
forget(ARGV[1])
remember(ARGV[1], ARGV[4], ARGV[5], ARGV[6])
if ARGV[7] == '0' then redis.call('DEL', KEYS[7])
else redis.call('PEXPIREAT', KEYS[7], ARGV[7]) end
write_figures(KEYS[8], KEYS[9], 8, ARGV[4])
return 1
"""
)

# KEYS[6] tombstone, 7 figures, 8 log. ARGV: id, 'deleted' for an explicit delete (it leaves
# no tombstone) or 'expired' (the caller found the record expired). Returns the records
# deleted (0 or 1).
_DELETE = (
    _INDEX_FUNCTIONS
    + """
local deleted = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[7], KEYS[8])
forget(ARGV[1])
if deleted == 1 and ARGV[2] == 'deleted' then redis.call('DEL', KEYS[6]) end
return deleted
"""
)

# KEYS[6] figures, 7 log. ARGV: id. Drops what is left of a record Redis already expired.
_FORGET_IF_MISSING = (
    _INDEX_FUNCTIONS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  forget(ARGV[1])
  redis.call('DEL', KEYS[6], KEYS[7])
end
return 0
"""
)

# KEYS[1] unused (a key of the group: it routes the script). ARGV: now_ms, batch size, the
# group's key prefix. Returns sessions removed.
_CLEANUP = (
    _INDEX_FUNCTIONS
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[3] .. 'session:' .. id, ARGV[3] .. 'session-figures:' .. id,
             ARGV[3] .. 'session-log:' .. id)
  forget(id)
end
return #ids
"""
)

# KEYS[1] record, 2 log. Returns {record or false, logged observes}.
_READ = """
-- false, not nil: a nil would end the reply's array
return {redis.call('GET', KEYS[1]) or false, redis.call('LRANGE', KEYS[2], 0, -1)}
"""

# KEYS[1] record, 2 tombstone. The tombstone, unless the session is live.
_TOMBSTONE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
return redis.call('GET', KEYS[2])
"""

# KEYS[1] record. ARGV: expected payload, new payload. Compare-and-set keeping the TTL.
_REPLACE_IF_UNCHANGED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""

_CLEANUP_BATCH = 500


class _QueueingCluster(RedisCluster):
    """``RedisCluster`` whose callers queue for a connection, as the single-node client's
    ``BlockingConnectionPool`` makes them: redis-py's cluster pools raise
    ``MaxConnectionsError`` at once when a node's ``max_connections`` are all in use, which
    the breaker took for Redis being down (500 concurrent observes of one session, each
    polling its lock, answered 503 and opened the breaker). At most ``queue_at`` commands
    are in flight at a time, so no node's pool is ever exhausted; pipelines (one bounded
    cleanup batch) are not counted."""

    def __init__(self, *args: Any, queue_at: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(queue_at)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._in_flight:
            return await super().execute_command(*args, **kwargs)


def resend_once() -> Retry:
    """The client's resend: once, on a fresh connection, after a short jittered pause."""
    return Retry(EqualJitterBackoff(cap=0.05, base=0.01), retries=1)


def redis_client(settings: RedisSettings) -> Redis:
    """A pooled asyncio client: at most ``pool_size`` connections (per node of a cluster),
    callers queue for one.

    A command that fails on a broken pooled connection (Redis restarted, idle socket
    dropped) is sent once more on a fresh connection — a reconnect, not a retry policy:
    outages are left to the resilience layer (kato.resilience.retry). Every store operation
    is safe to repeat: a repeated create, save or lock acquisition finds its own write, a
    repeated delete, release or cleanup changes nothing more (a repeated delete reports
    that nothing was deleted).

    ``cluster``: ``url`` names one seed node; redis-py's ``RedisCluster`` discovers the
    others and follows the slot map (MOVED/ASK, a failover's new primary).
    """
    if not settings.url:
        raise ValueError("the Redis session store needs database.redis.url (REDIS_URL)")
    tls_files = {
        "ssl_ca_certs": settings.tls_ca_file,
        "ssl_certfile": settings.tls_cert_file,
        "ssl_keyfile": settings.tls_key_file,
    }
    tls: dict[str, Any] = {name: path for name, path in tls_files.items() if path}
    if tls and not settings.url.startswith("rediss://"):
        raise ValueError("Redis TLS files are configured: use a rediss:// URL")
    retry = resend_once()
    if settings.cluster:
        # Typed as Redis: it answers every command the store sends (the stubs lag behind).
        return cast(
            Redis,
            _QueueingCluster.from_url(  # type: ignore[call-arg]  # stubs: from_url's kwargs
                settings.url,
                queue_at=settings.pool_size,
                max_connections=settings.pool_size,
                socket_timeout=settings.socket_timeout,
                socket_connect_timeout=settings.socket_connect_timeout,
                retry=retry,  # type: ignore[arg-type]  # the stubs name the sync Retry
                **tls,
            ),
        )
    pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
        settings.url,
        max_connections=settings.pool_size,
        timeout=settings.socket_timeout,  # wait for a free pooled connection
        socket_timeout=settings.socket_timeout,
        socket_connect_timeout=settings.socket_connect_timeout,
        retry=retry,
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
        client: Redis,  # or a RedisCluster (redis_client)
        *,
        lock_timeout_seconds: float = 10.0,
        lock_acquire_timeout_seconds: float = 30.0,
        command_timeout_seconds: float = 10.0,  # how long a lock command waits for its reply
        cipher: SessionCipher | None = None,
        prefix: str = "kato:",
        expired_retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        append_channel: ScriptChannel | None = None,  # the one-step observe off redis-py
    ) -> None:
        self._redis = client
        self._append_channel = append_channel
        self._space = KeySpace(prefix, cluster=isinstance(client, RedisCluster))
        self._retention_ms = int(expired_retention_seconds * 1000)
        self._acquire_timeout = lock_acquire_timeout_seconds
        self._cipher = cipher
        self._create = client.register_script(_CREATE)
        self._create_once = client.register_script(_CREATE_ONCE)
        self._claim_request_key = client.register_script(_CLAIM_REQUEST_KEY)
        self._save = client.register_script(_SAVE)
        self._delete = client.register_script(_DELETE)
        self._forget_if_missing = client.register_script(_FORGET_IF_MISSING)
        self._cleanup = client.register_script(_CLEANUP)
        self._read = client.register_script(_READ)
        self._tombstone_of = client.register_script(_TOMBSTONE)
        self._replace_if_unchanged = client.register_script(_REPLACE_IF_UNCHANGED)
        self._append = client.register_script(APPEND_SCRIPT)
        # Requests of this instance queue locally, so only one of them polls Redis per
        # session: contention on Redis stays proportional to instances, not to requests.
        self._local_locks = KeyedLocks()
        # session id -> (lock token, record and log read by the acquiring script), for the
        # holder's first ``get``; one holder per session per instance (the local lock above).
        self._prefetched: dict[str, tuple[str, bytes | None, list[bytes]]] = {}
        self._key = uuid4_hex()  # identifies this instance's leases
        self._locks = RedisSessionLocks(
            client,
            self._space,
            lock_timeout_seconds=lock_timeout_seconds,
            lock_acquire_timeout_seconds=lock_acquire_timeout_seconds,
            command_timeout_seconds=command_timeout_seconds,
        )

    @classmethod
    def from_settings(
        cls,
        redis: RedisSettings,
        session: SessionSettings,
        prefix: str = "kato:",
        client: Redis | None = None,  # default: redis_client(redis)
        traced: bool = False,  # tracing on: every command through redis-py, which is traced
    ) -> RedisSessionStore:
        keys = session.encryption_keys
        return cls(
            redis_client(redis) if client is None else client,
            lock_timeout_seconds=session.lock_timeout_seconds,
            lock_acquire_timeout_seconds=session.lock_acquire_timeout_seconds,
            # What redis_client waits for a reply: a send and one resend on a new connection.
            command_timeout_seconds=2 * redis.socket_timeout,
            cipher=SessionCipher(keys) if keys else None,
            prefix=prefix,
            expired_retention_seconds=session.expired_retention_seconds,
            append_channel=ScriptChannel.for_settings(redis, APPEND_SCRIPT, resend_once(), traced),
        )

    @property
    def cluster(self) -> bool:
        return self._space.cluster

    @property
    def appends_observations(self) -> bool:
        """Whether observes may take the one-round-trip path (not with encryption: Lua
        cannot read an encrypted record, and a plaintext log would defeat it)."""
        return self._cipher is None

    # -- records --------------------------------------------------------------------------

    async def create(self, session: Session) -> None:
        session_id = session.session_id
        keys = self._space.session(session_id)
        payload = self._encode(session)
        created = await self._create(
            keys=[*keys.index, keys.tombstone, keys.figures, keys.log],
            args=[
                session_id,
                payload,
                _ms(session.expires_at),
                *self._info(session),
                *self._tombstone(session),
                *self._figures(session, payload),
            ],
        )
        if not created:
            raise SessionExistsError(session_id)

    async def create_once(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        if self.cluster:
            return await self._create_then_claim(session, request_key, record, ttl_seconds)
        session_id = session.session_id
        keys = self._space.session(session_id)
        payload = self._encode(session)
        reply = await self._create_once(
            keys=[
                *keys.index,
                self._space.request_key(request_key),
                keys.tombstone,
                keys.figures,
                keys.log,
            ],
            args=[
                session_id,
                payload,
                _ms(session.expires_at),
                *self._info(session),
                record,
                max(1, int(ttl_seconds * 1000)),
                *self._tombstone(session),
                *self._figures(session, payload),
            ],
        )
        if isinstance(reply, bytes):
            return self._earlier(reply, record)
        if not reply:
            raise SessionExistsError(session_id)
        return None

    async def _create_then_claim(
        self, session: Session, request_key: str, record: str, ttl_seconds: float
    ) -> str | None:
        """``create_once`` on a cluster, where the request key and the session live in
        different slots: look the key up, create the session, then claim the key; a create
        that loses the claim to a concurrent one deletes its session again. A process dying
        between the create and the claim leaves a session nobody was told of, which expires
        with its TTL (docs/DECISIONS.md)."""
        key = self._space.request_key(request_key)
        earlier = await self._redis.get(key)
        if earlier is not None:
            return self._earlier(earlier, record)
        # ``create`` takes finding its own payload for a resend of itself; here that is an
        # existing session (a concurrent create of the id writes another payload: refused).
        if await self._redis.exists(self._space.session(session.session_id).record):
            raise SessionExistsError(session.session_id)
        await self.create(session)
        claimed = await self._claim_request_key(
            keys=[key], args=[record, max(1, int(ttl_seconds * 1000))]
        )
        if claimed is None:
            return None
        winner = self._earlier(claimed, record)
        if winner is not None:
            await self.delete(session.session_id)
        return winner

    @staticmethod
    def _earlier(reply: bytes, record: str) -> str | None:
        earlier = reply.decode()
        # Our own record: the client's reconnect re-sent a script that had already run.
        return None if earlier == record else earlier

    async def get(self, session_id: str) -> Session | None:
        keys = self._space.session(session_id)
        prefetched, payload, log = self._take_prefetched(session_id)
        if not prefetched:
            payload, log = await self._read(keys=[keys.record, keys.log])
        if payload is None:
            await self._forget_if_missing(
                keys=[*keys.index, keys.figures, keys.log], args=[session_id]
            )
            return None
        session = fold(self._decode(payload, session_id), log)
        if session.expired():  # this host's clock is ahead of Redis's
            await self._delete(
                keys=[*keys.index, keys.tombstone, keys.figures, keys.log],
                args=[session_id, "expired"],
            )
            return None
        return session

    async def append_observation(
        self, session_id: str, change: AppendedObservation, limits: ObservationLimits
    ) -> AppendOutcome:
        """One observe in one round trip when the session allows it (redis_observe.py)."""
        keys = self._space.session(session_id)
        script_keys = [
            keys.record, keys.figures, keys.log, keys.lock, keys.info, keys.stm_events
        ]  # fmt: skip
        # A fresh token per call: a resend of this very call is recognised by the script.
        args = change.script_args(session_id, _ms(time.time()), limits, uuid4_hex())
        if self._append_channel is not None:
            reply = await self._append_channel.call(script_keys, args)
        else:
            reply = await self._append(keys=script_keys, args=args)
        return AppendOutcome.of_reply(reply)

    async def expired(self, session_id: str) -> SessionTombstone | None:
        keys = self._space.session(session_id)
        payload = await self._tombstone_of(keys=[keys.record, keys.tombstone])
        if payload is None:  # live (its tombstone waits for its expiry), or none
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
        keys = self._space.session(session_id)
        payload = self._encode(session)
        outcome = await self._save(
            keys=[*keys.index, keys.lock, keys.tombstone, keys.figures, keys.log],
            args=[
                session_id,
                lease.token,
                payload,
                _ms(session.expires_at),
                *self._info(session),
                self._tombstone_expiry(session),
                *self._figures(session, payload),
            ],
        )
        if outcome == -1:
            raise SessionLockNotHeldError(
                session_id, "its lock expired (another request may have taken it over)"
            )
        if outcome == 0:
            raise SessionGoneError(session_id)

    async def delete(self, session_id: str) -> bool:
        keys = self._space.session(session_id)
        deleted = await self._delete(
            keys=[*keys.index, keys.tombstone, keys.figures, keys.log],
            args=[session_id, "deleted"],
        )
        return bool(deleted)

    # -- locking --------------------------------------------------------------------------

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        deadline = time.monotonic() + self._acquire_timeout
        async with self._local_locks.hold(session_id, self._acquire_timeout):
            lease, record, log = await self._locks.acquire(session_id, deadline)
            self._prefetched[session_id] = (lease.token, record, log)
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

    def _take_prefetched(self, session_id: str) -> tuple[bool, bytes | None, list[bytes]]:
        """``(True, record, log)`` read when the caller's lock was acquired (once), else
        ``(False, None, [])``.

        Under the lock no other save can change the record (saves are fenced) and no observe
        can append to its log (the script declines while the lock is held), so they are what
        a read would return; a concurrent delete is caught by the fenced save's existence
        check, exactly as when it happens between a read and the save.
        """
        lease = held_lease(self._key, session_id)
        entry = self._prefetched.get(session_id)
        if lease is None or entry is None or entry[0] != lease.token:
            return False, None, []
        del self._prefetched[session_id]
        return True, entry[1], entry[2]

    # -- counting and cleanup (per group: per slot in a cluster) ----------------------------

    async def _each_group(self, command: str, key: str, *args: Any) -> list[Any]:
        """``command key *args`` on the ``key`` index of every group, pipelined (per node)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for group in range(self._space.groups):
                getattr(pipe, command)(self._space.index(group)[key], *args)
            return list(await pipe.execute())

    async def count(self) -> int:
        live_after = f"({_ms(time.time())}"
        return sum(map(int, await self._each_group("zcount", "expiry", live_after, "+inf")))

    async def stats(self) -> dict[str, Any]:
        """Counts as of this call; sessions found expired are removed by the call itself.

        ``total_sessions`` = live + ``expired_sessions`` (expired but not yet cleaned up).
        """
        expired = await self.cleanup_expired()
        active = sum(map(int, await self._each_group("zcard", "expiry")))
        events = sum(int(value or 0) for value in await self._each_group("get", "stm_events"))
        nodes = set().union(*await self._each_group("hkeys", "nodes"))
        return {
            "backend": self.backend,
            "total_sessions": active + expired,
            "active_sessions": active,
            "expired_sessions": expired,
            "nodes_with_sessions": len(nodes),
            "average_stm_size": events / active if active else 0.0,
            "total_stm_events": events,
        }

    async def cleanup_expired(self) -> int:
        """Sweep every group holding expired sessions (found with one pipelined count)."""
        removed = 0
        now_ms = _ms(time.time())
        due = await self._each_group("zcount", "expiry", "-inf", now_ms)
        for group, expired in enumerate(due):
            if not int(expired):
                continue
            index = self._space.index(group)
            keys = [index["expiry"], *index.values()]  # KEYS[1] routes only
            while True:
                batch = int(
                    await self._cleanup(
                        keys=keys, args=[now_ms, _CLEANUP_BATCH, self._space.group_prefix(group)]
                    )
                )
                removed += batch
                if batch < _CLEANUP_BATCH:
                    break
        return removed

    async def rotate_encryption(self) -> int:
        """Re-encrypt every stored session under the first key; returns how many changed.

        Walks each group's expiry index with ZSCAN (never KEYS) and writes each record back
        only if it did not change meanwhile, keeping its TTL. A concurrent save already uses
        the new key.
        """
        if self._cipher is None:
            raise ValueError("session encryption is not configured")
        rotated = 0
        for group in range(self._space.groups):
            async for member, _ in self._redis.zscan_iter(self._space.index(group)["expiry"]):
                session_id = member.decode()
                record_key = self._space.session(session_id).record
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
        if self._append_channel is not None:
            self._append_channel.close()
        # aclose (redis-py >= 5) is missing from the older types-redis stubs.
        await self._redis.aclose()  # type: ignore[attr-defined]

    # -- internals ------------------------------------------------------------------------

    def _tombstone_expiry(self, session: Session) -> int:
        """When the tombstone of ``session`` expires, in ms (0: retention disabled)."""
        return _ms(session.expires_at) + self._retention_ms if self._retention_ms > 0 else 0

    def _tombstone(self, session: Session) -> tuple[bytes, int]:
        payload = SessionTombstone.of(session).to_json()
        if self._cipher is not None:
            payload = self._cipher.encrypt(payload)
        return payload, self._tombstone_expiry(session)

    def _figures(self, session: Session, payload: bytes) -> list[Any]:
        return figures(session, None if self._cipher is not None else len(payload))

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
