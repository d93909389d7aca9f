"""Knowledge-base ids derived from node ids (semantics §1.11), so existing data stays readable."""

from __future__ import annotations

import hashlib

_REPLACED = set('/\\."$*<>:|?- ')


def knowledge_base_id(node_id: str, base_id: str) -> str:
    """``<node'>_<base'>``, shortened with an md5 tag when longer than 60 characters."""
    node = "".join("_" if char in _REPLACED else char for char in node_id)
    base = base_id.replace("-", "_")
    joined = f"{node}_{base}"
    if len(joined) <= 60:
        return joined
    tag = hashlib.md5(node.encode("utf-8")).hexdigest()[:8]
    return f"{node[: 60 - len(base) - 10]}_{tag}_{base}"
