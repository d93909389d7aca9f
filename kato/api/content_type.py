"""415 for a body that is not declared JSON, on a route that takes a JSON body.

Without this, ``curl -d '{"strings": ["a"]}'`` (which sends
``application/x-www-form-urlencoded``), or a body sent with no ``Content-Type`` at all, gets
a 422 "Input should be a valid dictionary": the framework keeps such a body as bytes. Here
the request is refused with ``KATO_UNSUPPORTED_MEDIA_TYPE`` and a message naming the header
to send, before anything reads or stores it.

Accepted as before (docs/DECISIONS.md): ``application/json`` and any ``application/*+json``
(the framework's own rule), and a POST without a body (``/learn``, ``/clear-stm``…)
whatever header it carries. Routes without a JSON body are never checked.
"""

from __future__ import annotations

from email.message import Message

from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from kato.api.errors import error_response
from kato.security.roles import effective_routes

UNSUPPORTED_MEDIA_TYPE = "KATO_UNSUPPORTED_MEDIA_TYPE"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters ignored."""
    if content_type == "application/json":
        return True  # what nearly every request sends: no header parsing
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers


def _takes_json_body(scope: Scope) -> bool:
    """Whether the route this request reaches declares a JSON body."""
    # Included routers are one entry in the app's routes; their effective routes are matched.
    for route in effective_routes(scope["app"].router.routes):
        if route.matches(scope)[0] is Match.FULL:
            return getattr(route, "body_field", None) is not None
    return False


class RequireJsonBody:
    """Pure ASGI middleware; a JSON request passes after one header lookup."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            headers = Headers(scope=scope)
            content_type = headers.get("content-type")
            if (
                not (content_type is not None and is_json(content_type))
                and _has_body(headers)
                and _takes_json_body(scope)
            ):
                said = "had no Content-Type" if content_type is None else f"said {content_type!r}"
                response = error_response(
                    415,
                    UNSUPPORTED_MEDIA_TYPE,
                    f"This endpoint takes a JSON body: send it with 'Content-Type: "
                    f"application/json' (the request {said})",
                    {"content_type": content_type, "expected": "application/json"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
