"""Responses encoded once, straight from the engine's objects (issue 10 req 4).

A route declared with ``response_model`` and returning a dict makes FastAPI validate the
dict into the model (copying every prediction object) and then serialise the model with
pydantic's JSON serialiser. For large bodies of our own, already-correct output (100
predictions are ~78 KB) the validation is pure cost. ``encoded`` skips it and calls the same
serialiser (``pydantic_core.to_json``, the one ``dump_json`` uses for ``Any`` values) with the
model's settings, so the bytes are exactly what the ``response_model`` path produced — float
formatting included (``1e-7``, ``1e+20``: pydantic's, neither ``repr``'s nor orjson's).
The route keeps its ``response_model`` for the OpenAPI schema; FastAPI passes a returned
``Response`` through untouched.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from starlette.responses import Response


def encoded(content: dict[str, Any], dependency_response: Response | None = None) -> Response:
    """``content`` as an ``application/json`` response, keys in the model's field order.

    ``dependency_response`` is the response FastAPI hands to dependencies: headers they set
    there (``X-Session-ID`` on v1) are copied, as FastAPI does for a non-``Response`` return.
    """
    # inf_nan_mode "null" is a model's default (ser_json_inf_nan); to_json's own is "constants".
    body = to_json(content, inf_nan_mode="null")
    response = built_response(
        body,
        [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ],
        media_type="application/json",
    )
    if dependency_response is not None:
        # The raw lists themselves: ``headers`` is a view of each, built anew per access.
        response.raw_headers.extend(dependency_response.raw_headers)
    return response


def built_response(
    body: bytes, raw_headers: list[tuple[bytes, bytes]], media_type: str | None = None
) -> Response:
    """The ``Response`` that ``Response(body, media_type=media_type)`` makes when its headers
    come out as ``raw_headers`` (the caller's to state), without its generic ``render`` and
    ``init_headers``: a third of its cost (``tests/api/test_built_responses.py`` compares the
    attributes)."""
    response = Response.__new__(Response)
    response.status_code = 200
    if media_type is not None:  # else the class attribute, None, as ``Response()`` leaves it
        response.media_type = media_type
    response.background = None
    response.body = body
    response.raw_headers = raw_headers
    return response
