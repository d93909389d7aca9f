"""``LeanDispatch._matched`` takes what ``route.matches`` takes, with the same child scope.

Its short way (the scope the request pipeline sees) is compared with the routes' own
``matches`` on paths and methods around the lean routes', and on scopes that must take the
long way (a root path, path parameters or FastAPI's route context already in the scope).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from starlette.routing import Match

from kato.api.app import create_app
from kato.api.lean_route import LeanDispatch
from tests.api.conftest import make_settings

_PATHS = [
    "/v2/sessions/s-1/observe",
    "/v2/sessions/s-1/predictions",
    "/v2/sessions/s%2F1/observe",
    "/v2/sessions/s 1/observe",
    "/v2/sessions/é/predictions",
    "/v2/sessions//observe",
    "/v2/sessions/s-1/observe/",
    "/v2/sessions/s-1/observe/x",
    "/v2/sessions/a/b/observe",
    "/v2/sessions/s-1/observe-sequence",
    "/v2/sessions/s-1",
    "/v2/sessions/observe",
    "/v2/sessions/count",
    "/api/v2/sessions/s-1/observe",
    "/sessions/s-1/observe",
    "/v2/sessions/s-1/predictions?x=1",
    "/",
    "",
]
_METHODS = ["POST", "GET", "HEAD", "PUT", "OPTIONS", "post"]
_EXTRAS: list[dict[str, Any]] = [
    {},
    {"root_path": ""},
    {"root_path": "/api"},
    {"path_params": {"other": "1"}},
    {"fastapi": {}},
]


def _reference(dispatch: LeanDispatch, scope: dict[str, Any]) -> Any:
    for route in dispatch._routes:
        match, child_scope = route.matches(scope)
        if match is Match.FULL:
            return route, list(child_scope.items())
    return None


def test_matched_is_what_the_routes_match(tmp_path: Path) -> None:
    dispatch = LeanDispatch()
    dispatch.install(create_app(make_settings(tmp_path)))
    assert len(dispatch._routes) == 2 and dispatch._text_params
    matched = 0
    for path, method, extra in itertools.product(_PATHS, _METHODS, _EXTRAS):
        scope = {"type": "http", "path": path, "method": method, "headers": []} | extra
        if extra.get("root_path"):
            scope["path"] = "/api" + path
        before = dict(scope)
        expected = _reference(dispatch, dict(scope))
        found = dispatch._matched(scope)
        assert scope == before  # the scope untouched
        got = None if found is None else (found[0], list(found[1].items()))
        assert got == expected, (path, method, extra)
        matched += got is not None
    assert matched >= 2 * len(_EXTRAS)  # both routes matched, each kind of scope
