"""Knowledge-base ids derived from node ids: semantics §1.11 where that is injective.

§1.11 replaces ``/ \\ . " $ * < > : | ? -`` and space by ``_`` and cuts long ids to a prefix
plus a 32-bit md5 tag, so ``alice-smith``, ``alice.smith`` and ``alice_smith`` would share one
knowledge base. Here a node id is *plain* when §1.11 leaves it unchanged (none of those
characters, ``<node>_<base'>`` within 60 characters): plain ids keep their §1.11 id, so
existing databases stay readable. Every other id gets
``<sanitised prefix>-<sha256(id), 128 bits>_<base'>``. A plain id never contains ``-`` (nor does
``base'``), so the two forms cannot meet, and two encoded ids meet only on a 128-bit collision.
"""

from __future__ import annotations

import hashlib

_REPLACED = set('/\\."$*<>:|?- ')
_MAX_LENGTH = 60
_DIGEST_CHARS = 32  # 128 bits of SHA-256


def _sanitised(text: str) -> str:
    return "".join("_" if char in _REPLACED else char for char in text)


def knowledge_base_id(node_id: str, base_id: str) -> str:
    """The storage id of ``node_id``'s knowledge base; distinct node ids never share one."""
    base = base_id.replace("-", "_")
    plain = f"{node_id}_{base}"
    if _sanitised(node_id) == node_id and len(plain) <= _MAX_LENGTH:
        return plain
    digest = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).hexdigest()
    room = max(0, _MAX_LENGTH - len(base) - _DIGEST_CHARS - 2)
    return f"{_sanitised(node_id)[:room]}-{digest[:_DIGEST_CHARS]}_{base}"
