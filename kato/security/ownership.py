"""Session-scoped permissions as pure functions (no I/O, no framework).

Rules (issue 6, requirement 4):

* The node scope binds everybody, admins included: a principal scoped to some nodes never
  sees sessions of other nodes. (An unscoped admin therefore sees everything.)
* Within its scope an admin may use every session; any other principal only sessions it owns
  (``Session.owner == principal.name``). Sessions with no owner are system-created shared
  sessions (the v1 default session of a node, sessions made before auth was enabled): every
  principal whose scope includes the node may use them.
* A denied session read/write is reported as *not found* (404), never 403, so a caller cannot
  learn that somebody else's session id exists. The caller raises its own not-found error when
  ``may_access_session`` is False.
* Creating a session on a node outside the principal's scope is a 403: the node id is the
  caller's own input, so refusing it reveals nothing.
"""

from __future__ import annotations

from kato.security import ForbiddenError
from kato.security.principal import Principal
from kato.sessions.models import Session
from kato.sessions.tombstones import SessionTombstone


def may_access_session(principal: Principal, session: Session | SessionTombstone) -> bool:
    """Also asked of an expired session's tombstone: only a caller who could have seen the
    session is told it expired."""
    if not principal.may_use_node(session.node_id):
        return False
    return principal.is_admin or session.owner is None or session.owner == principal.name


def check_may_create_on_node(principal: Principal, node_id: str) -> None:
    """Raise ``ForbiddenError`` when ``node_id`` is outside the principal's node scope."""
    if not principal.may_use_node(node_id):
        raise ForbiddenError("Node is outside this principal's scope", node_id=node_id)


def session_owner_for(principal: Principal) -> str:
    """The ``Session.owner`` recorded for a session the principal creates."""
    return principal.name


def requested_session_id(principal: Principal, header_value: str | None) -> str | None:
    """The session a request addresses: ``X-Session-ID`` when sent, else the JWT claim."""
    return header_value or principal.session_id
