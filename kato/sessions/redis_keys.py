"""Where the Redis session store keeps things: one key space, single primary or Cluster.

Every key of a session — record, lock, tombstone, fast-observe log and figures — and the
index entries that session contributes to (expiry sorted set, info hash, per-node counts, STM
event counter) live under one **group prefix**, so every script touches keys of one hash slot:

* single primary (``database.redis.cluster: false``): one group, prefix ``kato:`` — exactly
  the key names of earlier releases, so an upgrade finds the sessions it left;
* Redis Cluster: :data:`CLUSTER_GROUPS` groups, prefix ``kato:{g<n>}:`` with ``n`` derived
  from the session id (CRC16, as Redis hashes keys). The hash tag ``{g<n>}`` puts a group's
  records *and* its index keys in one slot; groups spread over the primaries, and counting or
  sweeping visits each group's index (pipelined per node) — never ``KEYS``, never a
  cross-slot command. docs/SESSIONS.md, "Key layout per slot", and DECISIONS.md say why the
  tag is a group of the session id rather than the id itself.
"""

from __future__ import annotations

from binascii import crc_hqx  # CRC16, as Redis Cluster hashes keys
from dataclasses import dataclass

# Enough groups to spread over ~100 primaries; few enough that a count is one pipelined
# ZCOUNT per group (about a millisecond of Redis work for 1,024).
CLUSTER_GROUPS = 1024


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The keys one session's scripts use (all in one slot)."""

    record: str
    lock: str
    tombstone: str
    log: str  # fast observes appended since the record was last written
    figures: str  # hash: what the fast-observe script needs without reading the record
    expiry: str
    info: str
    nodes: str
    stm_events: str

    @property
    def index(self) -> list[str]:
        """The record and its group's index keys: KEYS[1..5] of the index scripts."""
        return [self.record, self.expiry, self.info, self.nodes, self.stm_events]


class KeySpace:
    def __init__(self, prefix: str = "kato:", cluster: bool = False) -> None:
        self.base = prefix
        self.cluster = cluster
        self.groups = CLUSTER_GROUPS if cluster else 1

    def group_of(self, name: str) -> int:
        return crc_hqx(name.encode(), 0) % self.groups if self.cluster else 0

    def group_prefix(self, group: int) -> str:
        return f"{self.base}{{g{group}}}:" if self.cluster else self.base

    def prefix_of(self, name: str) -> str:
        return self.group_prefix(self.group_of(name))

    def session(self, session_id: str) -> SessionKeys:
        prefix = self.prefix_of(session_id)
        return SessionKeys(
            record=f"{prefix}session:{session_id}",
            lock=f"{prefix}session-lock:{session_id}",
            tombstone=f"{prefix}session-end:{session_id}",
            log=f"{prefix}session-log:{session_id}",
            figures=f"{prefix}session-figures:{session_id}",
            **self._index(prefix),
        )

    def index(self, group: int) -> dict[str, str]:
        """The index keys of ``group`` (expiry, info, nodes, stm_events)."""
        return self._index(self.group_prefix(group))

    def record_prefix(self, group: int) -> str:
        return f"{self.group_prefix(group)}session:"

    def request_key(self, scoped: str) -> str:
        """A keyed create's record (``Idempotency-Key``); its own slot in a cluster."""
        return f"{self.prefix_of(scoped)}create-key:{scoped}"

    @staticmethod
    def _index(prefix: str) -> dict[str, str]:
        return {
            "expiry": f"{prefix}sessions:expiry",
            "info": f"{prefix}sessions:info",
            "nodes": f"{prefix}sessions:nodes",
            "stm_events": f"{prefix}sessions:stm_events",
        }
