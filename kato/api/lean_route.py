"""Lean routes: the common request of a hot route served without FastAPI's generic handler.

For each request FastAPI's route handler builds the request object and two exit stacks,
parses the body, resolves every parameter and dependency through its generic resolver and
validates the body (profiled: about a third of an observe's server CPU, most of it the
resolver). A :class:`LeanRoute` is still that FastAPI route — the same declaration, OpenAPI
operation, declared access, route template in the metrics and the same fallback — but its
``answer`` calls the route's own guard and endpoint directly for a request it recognises as
well formed. Anything else (``answer`` returns None: a body that does not validate, another
content type, FastAPI's telemetry recording the handler's phases, ...) is handed to FastAPI's
handler unchanged, so its answers, error envelopes included, stay FastAPI's own.

``answer`` runs the same code in the same order as FastAPI would: body validation first (it
has no side effects, and an invalid body falls back before any of them), then the guard
(authentication, role, rate limits — what FastAPI's resolver runs first), then the endpoint.
An exception it raises reaches the same exception handlers as one raised inside FastAPI's
handler (Starlette's ``ExceptionMiddleware``, with the handlers ``create_app`` installed).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kato.api.pipeline import replaying


class LeanRoute(APIRoute, ABC):
    """An ``APIRoute`` whose ``answer`` may serve a request before FastAPI's handler does.

    Declared with ``router.add_api_route(..., route_class_override=Subclass)``; each hot
    route defines its own ``answer``.
    """

    @abstractmethod
    async def answer(self, request: Request, body: bytes) -> Response | None:
        """The response to the request, or None to leave it to FastAPI's handler."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A method the route does not take gets FastAPI's 405; FastAPI's telemetry (off
        # unless configured) instruments the phases of its own handler.
        if (
            scope["method"] not in (self.methods or ())
            or scope.get("fastapi.telemetry") is not None
        ):
            await super().handle(scope, receive, send)
            return
        request = Request(scope, receive, send)
        body = await request.body() if self.body_field is not None else b""
        response = await self.answer(request, body)
        if response is None:
            # The body was read here: FastAPI's handler gets it again.
            if self.body_field is not None:
                receive = replaying(body, receive)
            await super().handle(scope, receive, send)
            return
        await response(scope, receive, send)

    def valid_json_body(self, request: Request, body: bytes) -> Any | None:
        """The body validated as FastAPI validates it, if it is a JSON body that passes.

        Only the exact ``application/json`` content type: the others' rules are FastAPI's.
        """
        if self.body_field is None or not body:
            return None
        if request.headers.get("content-type") != "application/json":
            return None
        try:
            value = json.loads(body)  # what FastAPI's ``request.json()`` calls
        except ValueError:
            return None
        validated, errors = self.body_field.validate(value, {}, loc=("body",))
        return None if errors else validated


def dependency_response() -> Response:
    """The response FastAPI hands to a dependency that declares one (headers it sets there
    are copied by ``encoded``): no content-length, no status of its own."""
    response = Response()
    del response.headers["content-length"]
    return response
