"""Who is calling: the authenticated principal every protected route receives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from kato.security.roles import Role

AuthMethod = Literal["none", "api_key", "jwt"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    ``nodes`` is the node scope: ``None`` means every node, a set means only those node ids.
    ``session_id`` is the session named by a JWT ``session_id`` claim (an alternative to the
    ``X-Session-ID`` header); it routes, it does not grant access by itself.
    """

    name: str
    roles: frozenset[Role]
    nodes: frozenset[str] | None = None
    session_id: str | None = None
    auth_method: AuthMethod = "none"

    def has_role(self, required: Role) -> bool:
        # Roles are nested, so holding the highest is holding them all.
        highest = _highest(self.roles)
        return highest is not None and highest.includes(required)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def highest_role(self) -> Role | None:
        return _highest(self.roles)

    def may_use_node(self, node_id: str) -> bool:
        return self.nodes is None or node_id in self.nodes


@cache  # at most one entry per subset of the three roles; asked twice or more per request
def _highest(roles: frozenset[Role]) -> Role | None:
    return max(roles, key=lambda role: role.rank, default=None)


#: Mode ``none``: the service is reachable only from loopback (see ``bind_guard``), so the
#: local caller is trusted fully.
ANONYMOUS_ADMIN = Principal(name="anonymous", roles=frozenset({Role.ADMIN}), auth_method="none")
