"""Security wiring for the routers: role-declaring dependencies and session visibility.

Every route declares its access with one of these (a test enumerates ``app.routes``):

* ``dependencies=[READER]`` / ``[WRITER]`` / ``[ADMIN]`` — authenticate, check the role,
  apply rate limits;
* ``dependencies=[SessionReader]`` / ``[SessionWriter]`` / ``[SessionAdmin]`` — the same,
  then the ``{session_id}`` of the path must be visible to the principal (owner, admin, or an
  unowned shared session of a node in scope); otherwise 404 ``KATO_SESSION_NOT_FOUND``
  (404 ``KATO_SESSION_EXPIRED`` for a session that expired within the retention window and
  that the principal could have seen).
  Only then is the request counted against the session's rate limit, so requests of a
  stranger to the id never use up its owner's quota;
* ``dependencies=[PUBLIC]`` — deliberately open (health probe).

``SessionWriterCheck`` (a handler parameter) is ``SessionWriter`` for a handler that hands the
visibility check to the service, which runs it on the session its critical section loads
(observe: one session load per request instead of two). Same 404 and audit record.

Handlers that need the caller take ``principal: CurrentPrincipal`` (already authenticated by
the route's declared dependency, so it costs nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Response
from starlette.requests import HTTPConnection

from kato.security import ForbiddenError
from kato.security.layer import SecurityLayer, annotate_audit, set_header
from kato.security.ownership import requested_session_id
from kato.security.principal import Principal
from kato.security.roles import Role, declare_access, public, requires
from kato.service.errors import SessionNotFoundError
from kato.service.kato_service import KatoService
from kato.sessions.models import Session
from kato.sessions.tombstones import SessionTombstone

READER = Depends(requires(Role.READER))
WRITER = Depends(requires(Role.WRITER))
ADMIN = Depends(requires(Role.ADMIN))
PUBLIC = Depends(public())

# Semantics §7.3: a response about a session names it in this header.
SESSION_HEADER = "X-Session-ID"
_SESSION_HEADER_NAME = SESSION_HEADER.lower().encode("latin-1")  # as MutableHeaders keys it


def name_session(response: Response, session_id: str) -> None:
    """Set ``X-Session-ID`` (dropped if the request then fails). Only a printable ASCII id
    can be a header value; generated ids always are, a client's path text may not be."""
    if session_id.isascii() and session_id.isprintable():
        # What ``response.headers[SESSION_HEADER] = session_id`` does, on the raw list the
        # headers view would be built over just for this (~1.5 µs).
        set_header(response.raw_headers, _SESSION_HEADER_NAME, session_id.encode("latin-1"))


def _service(connection: HTTPConnection) -> KatoService:
    service: KatoService = connection.app.state["service"]  # as deps.service_of
    return service


def security_layer(connection: HTTPConnection) -> SecurityLayer:
    layer: SecurityLayer = connection.app.state["kato_security"]  # as deps.service_of
    return layer


async def current_principal(connection: HTTPConnection) -> Principal:
    """The caller (cached per request by the route's role dependency)."""
    return await security_layer(connection).authenticate(connection)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def visible_session(
    connection: HTTPConnection, principal: Principal, session_id: str
) -> Session:
    """The session if it exists *and* the principal may see it; else 404 (never 403)."""
    return await _service(connection).get_session(
        session_id, SessionVisibility(connection, principal)
    )


def _session_guard(role: Role) -> Callable[..., Awaitable[Principal]]:
    # The role check is called directly rather than declared as a sub-dependency: each
    # dependency level costs FastAPI's resolver more than the check itself.
    check_role = requires(role)

    async def guard(session_id: str, connection: HTTPConnection, response: Response) -> Principal:
        principal = await check_role(connection)
        await visible_session(connection, principal, session_id)
        name_session(response, session_id)
        return principal

    declare_access(guard, role)
    return guard


class SessionVisibility:
    """The ownership rule of ``visible_session`` as a check on a session loaded elsewhere,
    then the session's rate limit (counted only for a caller allowed on the session)."""

    def __init__(self, connection: HTTPConnection, principal: Principal) -> None:
        self.connection = connection
        self.principal = principal

    async def __call__(self, session: Session | SessionTombstone) -> None:
        connection = self.connection
        layer = security_layer(connection)
        if not layer.session_visible(connection, self.principal, session):
            raise SessionNotFoundError(session.session_id)
        annotate_audit(connection, session_id=session.session_id, node_id=session.node_id)
        if isinstance(session, Session):  # an expired one is refused anyway: nothing to count
            await layer.enforce_session_rate_limit(connection, self.principal, session.session_id)


def _deferred_session_guard(role: Role) -> Callable[..., Awaitable[SessionVisibility]]:
    """Like ``_session_guard`` but the visibility check is returned, for the handler to run on
    the session its critical section loads (``KatoService.observe(check=...)``): the same
    404 and audit record, without loading the session a second time just for the check."""
    check_role = requires(role)

    async def guard(
        session_id: str, connection: HTTPConnection, response: Response
    ) -> SessionVisibility:
        check = SessionVisibility(connection, await check_role(connection))
        name_session(response, session_id)
        return check

    declare_access(guard, role)
    return guard


SessionReader = Depends(_session_guard(Role.READER))
SessionWriter = Depends(_session_guard(Role.WRITER))
SessionAdmin = Depends(_session_guard(Role.ADMIN))
# For a handler that passes the check to the service (it must: nothing else checks).
# The guards themselves are named too: a lean route (``kato.api.lean_route``) calls them.
session_reader_check = _deferred_session_guard(Role.READER)
session_writer_check = _deferred_session_guard(Role.WRITER)
SessionReaderCheck = Annotated[SessionVisibility, Depends(session_reader_check)]
SessionWriterCheck = Annotated[SessionVisibility, Depends(session_writer_check)]


async def v1_session_for(
    connection: HTTPConnection, principal: Principal, header_session_id: str | None
) -> str:
    """D9 with ownership: ``X-Session-ID`` (or the token's ``session_id`` claim) names a
    session that must be visible; otherwise the caller's default session of the default node.

    Without authentication (mode ``none``) the default session is the one shared session; with
    authentication each principal gets its own (``Session.owner`` = principal).
    """
    service = _service(connection)
    wanted = requested_session_id(principal, header_session_id)
    if wanted:
        await visible_session(connection, principal, wanted)
        return wanted
    default_node = service.settings.service.default_node_id
    if not principal.may_use_node(default_node):
        raise ForbiddenError(
            "Default node is outside this principal's scope; send X-Session-ID",
            node_id=default_node,
        )
    owner = None if principal.auth_method == "none" else principal.name
    session_id = await service.default_session_id(owner)
    annotate_audit(connection, session_id=session_id, node_id=default_node)
    return session_id
