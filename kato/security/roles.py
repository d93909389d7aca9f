"""Roles (RBAC) and the per-route role declaration.

``reader`` ⊂ ``writer`` ⊂ ``admin``: each role includes every permission of the roles below
it. Every route declares what it needs with ``Depends(requires(Role.X))`` (or
``Depends(public())`` for the health probes); the dependency carries the declared access on a
marker attribute so ``declared_access(route)`` — and a test walking ``app.routes`` — can read it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import fastapi.routing
from starlette.requests import HTTPConnection

from kato.security import ForbiddenError

if TYPE_CHECKING:
    from kato.security.principal import Principal

PUBLIC: Literal["public"] = "public"
_MARKER = "__kato_access__"


class Role(enum.Enum):
    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        # By the value: a str hashes in C, an Enum member through its Python ``__hash__``.
        return _RANK[self._value_]

    def includes(self, other: Role) -> bool:
        """True when holding ``self`` grants everything ``other`` grants."""
        return self.rank >= other.rank

    @classmethod
    def parse_many(cls, names: Iterable[str]) -> frozenset[Role]:
        """Known role names to roles; unknown names are ignored (tokens may carry other apps')."""
        known = {role.value: role for role in cls}
        return frozenset(known[name] for name in names if name in known)


_RANK = {Role.READER.value: 1, Role.WRITER.value: 2, Role.ADMIN.value: 3}


def _security_layer(connection: HTTPConnection) -> Any:
    """The ``SecurityLayer`` that ``kato.security.layer.install`` put on the app.

    Looked up at request time so this module does not import the authenticator, limiter and
    audit machinery (and so tests can build apps with differently configured layers).
    """
    try:
        # Not ``getattr(state, ...)``: State's ``__getattr__`` runs only after the normal
        # look-up has failed, an AttributeError raised and caught each time (~0.4 µs more).
        layer = connection.app.state["kato_security"]
    except KeyError:
        layer = None
    if layer is None:
        raise RuntimeError("security layer not installed on the app (app.state.kato_security)")
    return layer


def requires(role: Role) -> Callable[..., Awaitable[Principal]]:
    """FastAPI dependency: authenticate, check ``role``, apply rate limits; return the principal.

    Takes the ``HTTPConnection`` base class so one dependency serves HTTP and WebSocket routes.
    """

    async def dependency(connection: HTTPConnection) -> Principal:
        layer = _security_layer(connection)
        principal: Principal = await layer.authenticate(connection)
        if not principal.has_role(role):
            layer.audit_denied(connection, principal, 403, f"requires role {role.value}")
            raise ForbiddenError(f"This operation requires the {role.value} role")
        await layer.enforce_rate_limits(connection, principal)
        return principal

    declare_access(dependency, role)
    dependency.__name__ = f"requires_{role.value}"
    return dependency


def declare_access(dependency: Callable[..., Any], access: Role | Literal["public"]) -> None:
    """Mark a dependency as declaring ``access`` (read by ``declared_access``).

    For dependencies that run a role check themselves rather than depending on ``requires``
    (one dependency level less for FastAPI to resolve per request).
    """
    setattr(dependency, _MARKER, access)


def public() -> Callable[[], Awaitable[None]]:
    """Dependency that declares a route deliberately open (liveness/readiness probes)."""

    async def dependency() -> None:
        return None

    declare_access(dependency, PUBLIC)
    dependency.__name__ = "public_route"
    return dependency


def declared_access(route: Any) -> Role | Literal["public"] | None:
    """The access a route declared through its dependencies (recursively), or None."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        marker = getattr(dep.call, _MARKER, None)
        if marker is not None:
            access: Role | Literal["public"] = marker
            return access
        stack.extend(dep.dependencies)
    return None


def effective_routes(routes: Iterable[Any]) -> list[Any]:
    """Every route of an app, with routers included through ``include_router`` flattened.

    Recent FastAPI keeps included routers as one entry in ``app.routes`` and resolves their
    prefix and dependencies lazily; ``iter_route_contexts`` yields the effective routes.
    """
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(iter_contexts(list(routes))) if iter_contexts else list(routes)


def undeclared_routes(routes: Iterable[Any], exempt_paths: Iterable[str] = ()) -> list[str]:
    """``METHOD path`` of every route without a declared access (framework docs exempted)."""
    exempt = set(exempt_paths)
    missing = []
    for route in effective_routes(routes):
        path = getattr(route, "path", "")
        if path in exempt:
            continue
        if declared_access(route) is None:
            methods = ",".join(sorted(getattr(route, "methods", None) or {"WS"}))
            missing.append(f"{methods} {path}")
    return missing
