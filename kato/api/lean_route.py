"""Lean routes: the common request of a hot route served straight from the request pipeline.

For each request Starlette's router and FastAPI's route handler match the path through the
included routers, check the content type, build the request object and two exit stacks,
parse the body, resolve every parameter and dependency through FastAPI's generic resolver
and validate the body (profiled: about a third of an observe's server CPU). A :class:`LeanRoute`
is still that FastAPI route — the same declaration, OpenAPI operation, declared access,
route template in the metrics and the same fallback — but the request pipeline hands a
request that matches it to :class:`LeanDispatch` first, which calls the route's own guard
and endpoint directly when ``accepted`` recognises the request as well formed. Anything else
(``accepted`` returns None: a body that does not validate, another content type; a method
the route does not take; FastAPI's telemetry recording the handler's phases; any request
while CORS is configured) takes the whole app unchanged — JSON body check, router, FastAPI's
handler — so its answers, error envelopes included, stay FastAPI's own.

The lean path runs the same code in the same order as FastAPI would: ``accepted`` first (the
body validation; no side effects, so a request it declines falls back before any of them),
then ``answer``: the guard (authentication, role, rate limits — what FastAPI's resolver runs
first), then the endpoint. An exception ``answer`` raises reaches the same exception handlers
as one raised inside FastAPI's handler: a Starlette ``ExceptionMiddleware`` built with the
handlers the app's own is built with (``FastAPI.build_middleware_stack``). That middleware
runs only once there is an exception (it costs a request object, a closure and a ``send``
wrapper per call): the exception is raised again inside it, so its own code chooses the
handler, or raises the exception on.
"""

from __future__ import annotations

import contextlib
import json
from abc import ABC, abstractmethod
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.convertors import StringConvertor
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from kato.api.encoding import built_response
from kato.security.roles import effective_routes

# What the answer raised and whether its response had started, to the error path's app.
_RAISED = "kato.lean_route.raised"
# Sent nowhere (``_nowhere``): what tells the middleware that the response had started.
_STARTED: Message = {"type": "http.response.start", "status": 500, "headers": []}


class LeanRoute(APIRoute, ABC):
    """An ``APIRoute`` that :class:`LeanDispatch` may serve before Starlette's router.

    Declared with ``router.add_api_route(..., route_class_override=Subclass)``; each hot
    route defines its own ``accepted`` and ``answer``.
    """

    @abstractmethod
    def accepted(self, scope: Scope, path_params: dict[str, Any], body: bytes) -> Any | None:
        """What ``answer`` needs of the request, or None to leave it to FastAPI's handler.
        ``scope`` is the request's, without the route's keys yet; ``path_params`` the
        route's match. Without side effects: a declined request is then served as if never
        seen."""

    @abstractmethod
    async def answer(self, request: Request, accepted: Any) -> Response:
        """The response to a request ``accepted`` returned ``accepted`` for. Nothing sent
        here, and a response whose call sends its start first (``Response`` and its
        subclasses with a body, not a streaming one): an exception while it is sent is then
        one after the response started, as Starlette's wrapper of ``send`` would record."""

    def valid_json_body(self, scope: Scope, body: bytes) -> Any | None:
        """The body validated as FastAPI validates it, if it is a JSON body that passes.

        Only the exact ``application/json`` content type: the others' rules are FastAPI's.
        """
        if self.body_field is None or not body:
            return None
        # ``request.headers.get``: the first header of that name, as the server sent it.
        for name, value in scope["headers"]:
            if name == b"content-type":
                if value != b"application/json":
                    return None
                break
        else:
            return None
        validator = self.body_field._type_adapter.validator  # what ModelField.validate calls
        # pydantic's own JSON parser reads and validates the body in one pass, for less than
        # json.loads alone. A body it takes, FastAPI's steps below take with the same value
        # (a differential test: tests/api/test_lean_body.py); a body it refuses is left to
        # those steps, so what becomes of it (accepted, declined or raising) is theirs.
        with contextlib.suppress(ValueError):  # ValidationError, the parser's errors too
            return validator.validate_json(body)
        try:
            parsed = json.loads(body)  # what FastAPI's ``request.json()`` calls
        except ValueError:
            return None
        # ``ModelField.validate`` without its error list: a refused body goes to FastAPI,
        # which reports the errors.
        try:
            return validator.validate_python(parsed, from_attributes=True)
        except ValidationError:
            return None


class LeanDispatch:
    """The request pipeline's way to the lean routes, ahead of the app's inner layers.

    Empty until :meth:`install` (``create_app`` calls it once every route is included, and
    not at all while CORS is configured).
    """

    def __init__(self) -> None:
        self._routes: tuple[LeanRoute, ...] = ()
        self._text_params = False  # every route's parameters plain text (``_matched``)
        self._handling: ExceptionMiddleware | None = None

    def install(self, app: FastAPI) -> None:
        """Take the app's lean routes and its exception handlers.

        A lean route is matched here before any other route, which is what the router does
        only if no route before it can match its paths: each one before it must be a fixed
        path its pattern does not match (the framework's docs routes).
        """
        routes: list[LeanRoute] = []
        fixed: list[str] = []  # the paths of the routes before, each matching one path only
        for context in effective_routes(app.routes):
            route = context.original_route
            if isinstance(route, LeanRoute):
                if not any(route.path_regex.match(path) for path in fixed):
                    routes.append(route)
                continue
            path = context.path
            if type(route) not in (Route, APIRoute) or "{" in path:
                break  # it may match the paths of any lean route after it
            fixed.append(path)
        # As FastAPI's own ExceptionMiddleware: every handler but the server-error one.
        handlers = {
            key: handler
            for key, handler in app.exception_handlers.items()
            if key not in (500, Exception)
        }
        self._routes = tuple(routes)
        self._text_params = all(
            type(convertor) is StringConvertor
            for route in routes
            for convertor in route.param_convertors.values()
        )
        self._handling = ExceptionMiddleware(_raise, handlers=handlers, debug=app.debug)

    async def serve(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """Answer the request if a lean route takes it; False (nothing sent, the scope
        unchanged) otherwise."""
        if self._handling is None or scope.get("fastapi.telemetry") is not None:
            return False
        matched = self._matched(scope)
        if matched is None:
            return False
        route, child_scope = matched
        # The route's keys (route, endpoint, path_params) go into the scope, as the router
        # puts them, only once it is the lean path's: a declined request's 415 is logged as
        # unmatched, as before.
        accepted = route.accepted(scope, child_scope["path_params"], body)
        if accepted is None:
            return False
        scope.update(child_scope)
        await _answer(self._handling, route, accepted, scope, receive, send)
        return True

    def _matched(self, scope: Scope) -> tuple[LeanRoute, Scope] | None:
        """The first route ``route.matches`` matches fully, and its child scope."""
        if (
            not self._text_params
            or scope["type"] != "http"
            or scope.get("root_path")
            or "path_params" in scope
            or "fastapi" in scope
        ):
            for route in self._routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    return route, child_scope
            return None
        # What ``route.matches`` computes (~1.5 µs, a fifth of the dispatch's own cost) for
        # the scope the pipeline sees: no root path to strip, no path parameters and no
        # FastAPI route context of an outer router; each parameter a ``StringConvertor``'s,
        # the text as matched (``install``). A differential test: test_lean_match.py.
        path = scope["path"]
        for route in self._routes:
            found = route.path_regex.match(path)
            if found is not None and (not route.methods or scope["method"] in route.methods):
                return route, {
                    "endpoint": route.endpoint,
                    "path_params": found.groupdict(),
                    "route": route,
                }
        return None


async def _answer(
    handling: ExceptionMiddleware,
    route: LeanRoute,
    accepted: Any,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    try:
        response = await route.answer(Request(scope, receive, send), accepted)
    except Exception as raised:
        scope[_RAISED] = (raised, False)
        await handling(scope, receive, send)
        return
    try:
        await response(scope, receive, send)
    except Exception as raised:
        # The response had started (``LeanRoute.answer``): the middleware raises on
        # (RuntimeError for an exception it has a handler for), sending nothing.
        scope[_RAISED] = (raised, True)
        await handling(scope, receive, _nowhere)


async def _raise(scope: Scope, receive: Receive, send: Send) -> None:
    """The error path's app: raises what the lean answer raised, inside the middleware."""
    raised, started = scope.pop(_RAISED)
    if started:
        await send(_STARTED)
    raise raised


async def _nowhere(message: Message) -> None:
    """The middleware's ``send`` once the answer's response had started: ``_raise``'s start
    message, sent only so that the middleware records the start, goes nowhere."""


def dependency_response() -> Response:
    """The response FastAPI hands to a dependency that declares one (headers it sets there
    are copied by ``encoded``): no content-length, no status of its own — what
    ``del Response().headers["content-length"]`` leaves of its headers: none."""
    return built_response(b"", [])
