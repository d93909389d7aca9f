"""``encoded`` and ``dependency_response`` build the objects Starlette's constructor builds.

Both set a ``Response``'s attributes themselves (for a third of the constructor's cost); here
they are compared, attribute by attribute, with what ``Response(...)`` makes.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_core import to_json
from starlette.responses import Response

from kato.api.encoding import encoded
from kato.api.lean_route import dependency_response


def _constructed(content: dict[str, Any]) -> Response:
    return Response(to_json(content, inf_nan_mode="null"), media_type="application/json")


@pytest.mark.parametrize(
    "content",
    [{}, {"status": "ok", "n": 1, "x": float("nan")}, {"text": "é" * 300, "list": [1e-7, None]}],
)
def test_encoded_is_the_constructed_response(content: dict[str, Any]) -> None:
    built = encoded(content)
    assert type(built) is Response
    assert vars(built) == vars(_constructed(content))
    assert built.headers["content-type"] == "application/json"


def test_encoded_keeps_the_dependency_response_headers() -> None:
    dependency = dependency_response()
    dependency.headers["X-Session-ID"] = "s-1"
    expected = _constructed({"a": 1})
    expected.raw_headers.extend([(b"x-session-id", b"s-1")])
    assert vars(encoded({"a": 1}, dependency)) == vars(expected)


def test_dependency_response_is_a_response_without_its_content_length() -> None:
    expected = Response()
    expected.raw_headers = []  # what ``del headers["content-length"]`` leaves: no header
    built = dependency_response()
    assert type(built) is Response
    assert vars(built) == vars(expected)
