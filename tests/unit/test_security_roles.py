"""Roles: inclusion, principal checks, per-route declarations readable from app.routes."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, WebSocket

from kato.core.errors import KatoError
from kato.security import ForbiddenError, RateLimitedError, UnauthorizedError
from kato.security.principal import ANONYMOUS_ADMIN, Principal
from kato.security.roles import (
    PUBLIC,
    Role,
    declared_access,
    effective_routes,
    public,
    requires,
    undeclared_routes,
)


@pytest.mark.parametrize(
    ("held", "required", "granted"),
    [
        (Role.READER, Role.READER, True),
        (Role.READER, Role.WRITER, False),
        (Role.READER, Role.ADMIN, False),
        (Role.WRITER, Role.READER, True),
        (Role.WRITER, Role.WRITER, True),
        (Role.WRITER, Role.ADMIN, False),
        (Role.ADMIN, Role.READER, True),
        (Role.ADMIN, Role.WRITER, True),
        (Role.ADMIN, Role.ADMIN, True),
    ],
)
def test_role_inclusion(held, required, granted):
    assert held.includes(required) is granted
    assert Principal("p", frozenset({held})).has_role(required) is granted


def test_principal_without_roles_has_none_and_highest_role_is_max():
    assert not Principal("p", frozenset()).has_role(Role.READER)
    assert Principal("p", frozenset()).highest_role is None
    both = Principal("p", frozenset({Role.READER, Role.ADMIN}))
    assert both.highest_role is Role.ADMIN and both.is_admin


def test_parse_many_ignores_unknown_names():
    assert Role.parse_many(["reader", "root", "ADMIN", "writer"]) == {Role.READER, Role.WRITER}


def test_node_scope():
    scoped = Principal("p", frozenset({Role.WRITER}), nodes=frozenset({"a"}))
    assert scoped.may_use_node("a") and not scoped.may_use_node("b")
    assert ANONYMOUS_ADMIN.may_use_node("anything") and ANONYMOUS_ADMIN.is_admin


def _app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v2", dependencies=[Depends(requires(Role.WRITER))])

    @router.post("/write")
    async def write() -> dict:
        return {}

    @app.get("/read")
    async def read(principal: Annotated[Principal, Depends(requires(Role.READER))]) -> dict:
        return {}

    @app.get("/health/live", dependencies=[Depends(public())])
    async def live() -> dict:
        return {}

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket, principal: Annotated[Principal, Depends(requires(Role.ADMIN))]
    ):
        await websocket.close()

    @app.get("/forgotten")
    async def forgotten() -> dict:
        return {}

    app.include_router(router)
    return app


def test_declared_access_is_read_from_routes_including_router_and_websocket():
    app = _app()
    by_path = {route.path: declared_access(route) for route in effective_routes(app.routes)}
    assert by_path["/read"] is Role.READER
    assert by_path["/v2/write"] is Role.WRITER
    assert by_path["/ws"] is Role.ADMIN
    assert by_path["/health/live"] == PUBLIC
    assert by_path["/forgotten"] is None


def test_undeclared_routes_names_the_missing_ones():
    app = _app()
    exempt = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    assert undeclared_routes(app.routes, exempt) == ["GET /forgotten"]


def test_security_errors_carry_code_status_and_headers():
    unauthorized = UnauthorizedError()
    assert isinstance(unauthorized, KatoError)
    assert (unauthorized.code, unauthorized.status_code) == ("KATO_UNAUTHORIZED", 401)
    assert unauthorized.headers == {"WWW-Authenticate": "Bearer"}
    assert (ForbiddenError("x").code, ForbiddenError("x").status_code) == ("KATO_FORBIDDEN", 403)
    limited = RateLimitedError("slow down", headers={"Retry-After": "3"}, scope="global")
    assert (limited.code, limited.status_code) == ("KATO_RATE_LIMITED", 429)
    assert limited.headers == {"Retry-After": "3"} and limited.details == {"scope": "global"}
