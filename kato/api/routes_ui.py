"""The Explorer web UI at ``/ui`` and ``GET /v2/whoami``, the page's "who am I" probe.

The page is static files from the package (``kato/ui/static``); it calls the public API with
the credential the user typed, so it can do nothing the principal could not do with curl.
Every file is served with a strict Content-Security-Policy: scripts, styles and connections
only from this origin, no inline script or style, no framing — so the page can be exposed.
Only the files present in the package directory are served (an allow-list read at import),
so a path can never reach outside it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field

from kato.api.auth import PUBLIC, security_layer
from kato.ui import STATIC_DIR

router = APIRouter(tags=["explorer"])

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    # Revalidate each load (ETag): an upgraded server never runs with yesterday's script.
    "Cache-Control": "no-cache",
}
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
ASSETS = {
    path.name: path
    for path in sorted(STATIC_DIR.iterdir())
    if path.is_file() and path.suffix in _MEDIA_TYPES
}


def _asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"No Explorer file named {name!r}")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/ui", include_in_schema=False, dependencies=[PUBLIC])
async def explorer_redirect() -> RedirectResponse:
    """``/ui`` → ``/ui/``, so the page's relative links resolve inside ``/ui/``."""
    return RedirectResponse("/ui/", status_code=308, headers=_HEADERS)


@router.get("/ui/", include_in_schema=False, dependencies=[PUBLIC])
async def explorer_page() -> FileResponse:
    return _asset("index.html")


@router.get("/ui/{name}", include_in_schema=False, dependencies=[PUBLIC])
async def explorer_file(name: str) -> FileResponse:
    return _asset(name)


class WhoAmIResponse(BaseModel):
    authenticated: bool = Field(description="False when no credential was sent")
    auth_mode: str = Field(description="security.auth_mode of this server")
    name: str | None = None
    roles: list[str] = Field(default_factory=list, description="Held roles, lowest first")
    role: str | None = Field(None, description="The highest held role")
    nodes: list[str] | None = Field(None, description="Node scope; null means every node")
    auth_method: str | None = None


@router.get("/v2/whoami", response_model=WhoAmIResponse, dependencies=[PUBLIC])
async def whoami(request: Request) -> dict[str, Any]:
    """The caller's name, roles and node scope, so a client shows only what it may do.

    Public so a page can ask before anyone signed in: without a credential (and
    authentication on) it answers ``authenticated: false``; a credential that is sent is
    checked as on any route (401 when invalid) and counted against the rate limits.
    """
    layer = security_layer(request)
    mode = request.app.state.settings.security.auth_mode
    answer: dict[str, Any] = {"auth_mode": mode}
    sent = "authorization" in request.headers or "x-api-key" in request.headers
    if mode != "none" and not sent:
        return {**answer, "authenticated": False}
    principal = await layer.authenticate(request)
    await layer.enforce_rate_limits(request, principal)
    roles = sorted(principal.roles, key=lambda role: role.rank)
    highest = principal.highest_role
    return {
        **answer,
        "authenticated": True,
        "name": principal.name,
        "roles": [role.value for role in roles],
        "role": highest.value if highest is not None else None,
        "nodes": None if principal.nodes is None else sorted(principal.nodes),
        "auth_method": principal.auth_method,
    }
