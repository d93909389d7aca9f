"""FastAPI dependencies: the service built by the lifespan, limits, v1 session resolution."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from starlette.requests import HTTPConnection

from kato.api.auth import CurrentPrincipal, name_session, v1_session_for
from kato.config import LimitsSettings
from kato.service.kato_service import KatoService


def service_of(connection: HTTPConnection) -> KatoService:
    # ``state[...]``, not ``state.service``: State's ``__getattr__`` runs only after the normal
    # look-up has failed, an AttributeError raised and caught on every call (~0.3 µs more).
    service: KatoService = connection.app.state["service"]
    return service


# Dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the
# thread pool, a thread hop per dependency per request.
async def get_service(connection: HTTPConnection) -> KatoService:
    return service_of(connection)


async def get_limits(request: Request) -> LimitsSettings:
    return service_of(request).settings.limits


ServiceDep = Annotated[KatoService, Depends(get_service)]
LimitsDep = Annotated[LimitsSettings, Depends(get_limits)]


async def v1_session_id(
    connection: HTTPConnection,
    principal: CurrentPrincipal,
    response: Response,
    x_session_id: Annotated[
        str | None, Header(description="Route to this session; default session when absent")
    ] = None,
) -> str:
    """D9: ``X-Session-ID`` names the session (404 if unknown or not the caller's), else the
    caller's default session (see ``kato.api.auth.v1_session_for``). The response names the
    session it used in ``X-Session-ID`` (semantics §7.3)."""
    session_id = await v1_session_for(connection, principal, x_session_id)
    name_session(response, session_id)
    return session_id


V1SessionDep = Annotated[str, Depends(v1_session_id)]


def iso(epoch_seconds: float) -> str:
    """Semantics §7.1 timestamps: ISO-8601 UTC without offset, microsecond precision."""
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
