"""The security layer of a running app: authentication, rate limits, audit, headers.

``create_app`` builds one ``SecurityLayer`` and keeps it on ``app.state.kato_security``, where
the ``requires(role)`` dependencies find it. The request pipeline (``kato.api.pipeline``) calls
it around every HTTP request the app answers:

* ``add_response_headers``: ``X-Content-Type-Options: nosniff`` and the ``RateLimit-*``
  headers;
* ``after_request``: an audit record for every state-changing request (POST/PUT/PATCH/DELETE)
  that got past authentication — every authenticated request with ``security.audit_reads`` —
  and the request's latency and outcome fed to the adaptive rate-limit controller.

Denials (401, 403, 429, ownership 404) are audited where they are decided.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.requests import HTTPConnection
from starlette.types import Scope

from kato.config import Settings
from kato.security import RateLimitedError, UnauthorizedError
from kato.security.audit import AuditLog, Outcome, configure_audit_logger
from kato.security.authenticate import Authenticator
from kato.security.ownership import may_access_session
from kato.security.principal import Principal
from kato.security.rate_limit import AdaptiveController, RateLimitDecision, RateLimiter
from kato.sessions.models import Session
from kato.sessions.tombstones import SessionTombstone

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PRINCIPAL = "kato_principal"
_RATE_LIMIT = "kato_rate_limit"
_SESSION_COUNTED = "kato_session_rate_counted"
_AUDITED = "kato_audited"
_AUDIT_CONTEXT = "kato_audit_context"


def _state(scope: Scope) -> dict[str, Any]:
    state: dict[str, Any] = scope.setdefault("state", {})
    return state


def action_name(scope: Scope) -> str:
    """``METHOD /route/{template}`` — the template, not the raw path, so ids do not leak."""
    path = scope.get("path", "")
    for name, value in scope.get("path_params", {}).items():
        if value:
            path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    method = scope.get("method", "WEBSOCKET") if scope["type"] == "http" else "WEBSOCKET"
    return f"{method} {path}"


def annotate_audit(connection: HTTPConnection, **fields: Any) -> None:
    """Let a route add ``session_id``/``node_id`` or integer counts to its audit record."""
    _state(connection.scope).setdefault(_AUDIT_CONTEXT, {}).update(fields)


def _header(scope: Scope, name: bytes) -> str | None:
    """``HTTPConnection(scope).headers.get(name)``, the first header of that (lower-case)
    name as the server sent it, without building the headers view (~1.6 µs a look-up)."""
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _session_of(connection: HTTPConnection, principal: Principal | None) -> str | None:
    session_id = connection.path_params.get("session_id") or _header(
        connection.scope, b"x-session-id"
    )
    return session_id or (principal.session_id if principal else None)


def _rate_limited(decision: RateLimitDecision) -> RateLimitedError:
    headers = decision.headers()
    return RateLimitedError(
        f"Rate limit exceeded ({decision.scope}); retry after {headers['Retry-After']} s",
        headers=headers,
        scope=decision.scope,
        limit=decision.limit,
        retry_after=int(headers["Retry-After"]),
    )


def set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Set ``name`` (lower case) to ``value``, dropping duplicates: ``MutableHeaders``
    semantics, on the raw list the request pipeline already holds."""
    for existing, _ in headers:
        if existing == name:
            break
    else:
        headers.append((name, value))  # the common case, without building the index list
        return
    found = [index for index, (existing, _) in enumerate(headers) if existing == name]
    for index in reversed(found[1:]):
        del headers[index]
    headers[found[0]] = (name, value)


class SecurityLayer:
    def __init__(
        self,
        settings: Settings,
        audit: AuditLog | None = None,
        trace_id: Callable[[], str | None] = lambda: None,
    ) -> None:
        security = settings.security
        self.settings = settings
        self.authenticator = Authenticator(settings)
        self.adaptive = (
            AdaptiveController(
                p99_threshold_seconds=security.adaptive_p99_ms / 1000,
                error_rate_threshold=security.adaptive_error_rate,
                window_seconds=security.adaptive_window_seconds,
                min_factor=security.adaptive_min_factor,
            )
            if security.rate_limit_enabled and security.rate_limit_adaptive
            else None
        )
        self.rate_limiter = (
            RateLimiter(security, settings.database.redis, self.adaptive)
            if security.rate_limit_enabled
            else None
        )
        self.audit = audit or AuditLog(configure_audit_logger(security.audit_log_file))
        self.audit_reads = security.audit_reads
        self._trace_id = trace_id

    # -- used by the requires(role) dependency --------------------------------------------

    async def authenticate(self, connection: HTTPConnection) -> Principal:
        state = _state(connection.scope)
        cached: Principal | None = state.get(_PRINCIPAL)
        if cached is not None:
            return cached
        authorization = _header(connection.scope, b"authorization")
        api_key = _header(connection.scope, b"x-api-key")
        try:
            if self.authenticator.key_store is not None:
                # A first-seen API key costs one scrypt (tens of ms): keep it off the loop.
                principal = await anyio.to_thread.run_sync(
                    self.authenticator.authenticate, authorization, api_key
                )
            else:
                principal = self.authenticator.authenticate(authorization, api_key)
        except UnauthorizedError as exc:
            self.audit_denied(connection, None, 401, exc.message)
            raise
        state[_PRINCIPAL] = principal
        return principal

    async def enforce_rate_limits(self, connection: HTTPConnection, principal: Principal) -> None:
        """The principal and global limits, for an authenticated request with its role.

        The per-session limit is not counted here: the session's ownership is not known yet
        (see ``enforce_session_rate_limit``)."""
        state = _state(connection.scope)
        if self.rate_limiter is None or _RATE_LIMIT in state:
            return
        self._apply(connection, principal, await self.rate_limiter.check(principal.name))

    async def enforce_session_rate_limit(
        self, connection: HTTPConnection, principal: Principal, session_id: str
    ) -> None:
        """The per-session limit, once the caller is known to be allowed on the session: a
        stranger's requests (answered 404) never use up the owner's quota. Once per request."""
        state = _state(connection.scope)
        if self.rate_limiter is None or state.get(_SESSION_COUNTED):
            return
        state[_SESSION_COUNTED] = True
        self._apply(connection, principal, await self.rate_limiter.check_session(session_id))

    def _apply(
        self, connection: HTTPConnection, principal: Principal, decision: RateLimitDecision
    ) -> None:
        """Keep the tightest decision for the response's ``RateLimit-*`` headers; 429 on a
        denial."""
        state = _state(connection.scope)
        earlier: RateLimitDecision | None = state.get(_RATE_LIMIT)
        if earlier is None or not decision.allowed or decision.remaining < earlier.remaining:
            state[_RATE_LIMIT] = decision
        if not decision.allowed:
            self.audit_denied(connection, principal, 429, f"{decision.scope} rate limit")
            raise _rate_limited(decision)

    async def enforce_message_rate_limits(
        self, connection: HTTPConnection, principal: Principal, session_id: str, action: str
    ) -> None:
        """Count one WebSocket message like one request (the connection was counted once)."""
        if self.rate_limiter is None:
            return
        decision = await self.rate_limiter.check(principal.name, session_id)
        if not decision.allowed:
            reason = f"{decision.scope} rate limit"
            self.audit_event(connection, principal, "denied", 429, action=action, reason=reason)
            raise _rate_limited(decision)

    # -- used by routes -------------------------------------------------------------------

    def session_visible(
        self,
        connection: HTTPConnection,
        principal: Principal,
        session: Session | SessionTombstone,
    ) -> bool:
        """Ownership rule; a hidden session is audited here and reported 404 by the caller."""
        if may_access_session(principal, session):
            return True
        self.audit_denied(
            connection,
            principal,
            404,
            "session not owned or node out of scope",
            session_id=session.session_id,
            node_id=session.node_id,
        )
        return False

    def audit_denied(
        self,
        connection: HTTPConnection,
        principal: Principal | None,
        status: int,
        reason: str,
        **fields: Any,
    ) -> None:
        self._audit(connection.scope, principal, "denied", status, reason, **fields)
        _state(connection.scope)[_AUDITED] = True

    def audit_event(
        self,
        connection: HTTPConnection,
        principal: Principal | None,
        outcome: Outcome,
        status: int,
        *,
        action: str | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        """One record for an operation the middleware cannot see (a WebSocket message)."""
        self._audit(connection.scope, principal, outcome, status, reason, action=action, **fields)

    def _audit(
        self,
        scope: Scope,
        principal: Principal | None,
        outcome: Outcome,
        status: int,
        reason: str | None = None,
        action: str | None = None,
        **fields: Any,
    ) -> None:
        state = _state(scope)
        context = {**state.get(_AUDIT_CONTEXT, {}), **fields}
        connection = HTTPConnection(scope)
        session_id = context.pop("session_id", None) or _session_of(connection, principal)
        node_id = context.pop("node_id", None) or connection.path_params.get("node_id")
        counts = {name: value for name, value in context.items() if type(value) is int}
        self.audit.record(
            principal,
            action or action_name(scope),
            outcome,
            status=status,
            session_id=session_id,
            node_id=node_id,
            trace_id=self._trace_id() or _header(scope, b"x-trace-id"),
            reason=reason,
            **counts,
        )

    # -- used by the request pipeline (kato.api.pipeline) -----------------------------------

    def add_response_headers(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> None:
        """``X-Content-Type-Options: nosniff`` and the tightest ``RateLimit-*`` decision,
        replacing a value the app set (a 429 carries the same headers)."""
        set_header(headers, b"x-content-type-options", b"nosniff")
        decision: RateLimitDecision | None = _state(scope).get(_RATE_LIMIT)
        if decision is not None:
            for name, value in decision.headers().items():
                set_header(headers, name.lower().encode("latin-1"), value.encode("latin-1"))

    def after_request(self, scope: Scope, status: int, latency_seconds: float) -> None:
        if self.adaptive is not None:
            self.adaptive.record(latency_seconds, status >= 500)
        state = _state(scope)
        principal = state.get(_PRINCIPAL)
        if state.get(_AUDITED) or principal is None:
            return
        if scope.get("method") not in _STATE_CHANGING and not self.audit_reads:
            return
        outcome: Outcome = "allowed" if status < 400 else "failed"
        self._audit(scope, principal, outcome, status)
        state[_AUDITED] = True
