"""A lean route's body check accepts what FastAPI's own path accepts, with the same value.

``LeanRoute.valid_json_body`` reads the content type from the raw headers and validates the
body with pydantic's JSON parser first (``validate_json``), falling back to FastAPI's steps
when that refuses it. Held here against what FastAPI's request handling does
(``request.headers.get``, ``json.loads``, ``ModelField.validate``) over many generated bodies,
valid and refused, odd JSON included (NaN, duplicate keys, lone surrogates, huge and long
numbers, subnormals, escapes, other encodings, trailing text, deep nesting): the same
decision, and a value equal in its representation, types and fields set.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.responses import Response

from kato.api.app import create_app
from kato.api.lean_route import LeanRoute, dependency_response
from kato.security.roles import effective_routes
from tests.api.conftest import make_settings

ODD_BODIES = [
    b"",
    b"{}",
    b"[]",
    b"null",
    b'{"strings": ["a"]}',
    b'{"strings": ["a"]} ',
    b'{"strings": ["a"]} x',
    b'{"strings": ["a"], "strings": ["b"]}',
    b'{"strings": ["a"], "strings": 1}',
    b'{"strings": ["\\ud800"]}',
    b'{"strings": ["\\udc00\\ud800"]}',
    b'{"strings": ["\\ud83d\\ude00"]}',
    b'{"strings": ["\xff"]}',
    b'{"strings": ["\xc3\xa9"]}',
    b'\xef\xbb\xbf{"strings": ["a"]}',
    '{"strings": ["a"]}'.encode("utf-16"),
    '{"strings": ["a"]}'.encode("utf-32-le"),
    b'{"strings": ["a\x00"]}',
    b'{"strings": ["a\\u0000"]}',
    b'{"vectors": [[NaN]]}',
    b'{"vectors": [[Infinity]]}',
    b'{"vectors": [[-Infinity, 1]]}',
    b'{"vectors": [[1e400]]}',
    b'{"vectors": [[' + b"9" * 400 + b"]]}",
    b'{"vectors": [[' + b"9" * 5000 + b"]]}",
    b'{"vectors": [[0.1000000000000000055511151231257827]]}',
    b'{"vectors": [[2.2250738585072011e-308, 4.9e-324, 1e-400]]}',
    b'{"vectors": [[01]]}',
    b'{"vectors": [[+1]]}',
    b'{"vectors": [[.5]]}',
    b'{"vectors": [[1.]]}',
    b'{"vectors": [[-0]]}',
    b'{"vectors": [[true]]}',
    b'{"vectors": [[1, 2.5, -3e2]]}',
    b'{"emotives": {"joy": 1e308, "fear": -0.0}}',
    b'{"emotives": {"joy": 1, "joy": 2}}',
    b'{"emotives": {"": 1}}',
    b'{"unique_id": ""}',
    b'{"unique_id": "' + b"u" * 256 + b'"}',
    b'{"unique_id": "' + b"u" * 257 + b'"}',
    b'{"unique_id": 5}',
    b'{"strings": null, "vectors": null, "emotives": null, "unique_id": null}',
    b'\t\n {"strings": [ "a" , "b" ] }\r\n',
    b'{"strings": ["a"]}\x00',
    b'{"strings": [' + b"[" * 3000 + b"]" * 3000 + b"]}",
]
KEYS = ["strings", "vectors", "emotives", "unique_id", "extra", "Strings"]
NUMBERS = [
    "0",
    "-0",
    "1",
    "-1.5",
    "1e3",
    "1E-7",
    "0.1",
    "123456789012345678901234567890",
    "3.14159265358979323846264338327950288",
    "1e308",
    "-2.5e-320",
]
TEXTS = ['"a"', '"é"', '"\\u00e9"', '"\\ud800"', '"\\n\\t"', '""', '"x y"', '"\\"q\\""']


def _value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(8 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return rng.choice(TEXTS)
    if kind == 2:
        return rng.choice(["true", "false", "null", "NaN", "Infinity"])
    if kind == 3:
        return rng.choice(TEXTS + NUMBERS)
    if kind in (4, 5, 6):
        items = [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        return "[" + ", ".join(items) + "]"
    pairs = [f"{rng.choice(TEXTS)}: {_value(rng, depth + 1)}" for _ in range(rng.randrange(3))]
    return "{" + ", ".join(pairs) + "}"


def _body(rng: random.Random) -> bytes:
    """An observe body, mostly of the right shape, its values sometimes wrong."""
    pairs = []
    for _ in range(rng.randrange(5)):
        key = rng.choice(KEYS)
        if key == "strings" and rng.random() < 0.7:
            value = "[" + ", ".join(rng.choice(TEXTS) for _ in range(rng.randrange(4))) + "]"
        elif key == "vectors" and rng.random() < 0.7:
            vectors = [", ".join(rng.choice(NUMBERS) for _ in range(rng.randrange(1, 4)))]
            value = "[" + ", ".join(f"[{v}]" for v in vectors * rng.randrange(3)) + "]"
        elif key == "emotives" and rng.random() < 0.7:
            items = [f"{rng.choice(TEXTS)}: {rng.choice(NUMBERS)}" for _ in range(rng.randrange(3))]
            value = "{" + ", ".join(items) + "}"
        else:
            value = _value(rng)
        pairs.append(f'"{key}": {value}')
    return ("{" + ", ".join(pairs) + "}").encode()


def _fastapi(route: LeanRoute, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """What FastAPI's request handling validates the body into, or None if it refuses it."""
    assert route.body_field is not None
    if not body or Headers(raw=headers).get("content-type") != "application/json":
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    validated, errors = route.body_field.validate(value, {}, loc=("body",))
    return None if errors else validated


def _same(one: Any, other: Any) -> bool:
    if one is None or other is None:
        return one is other
    return (
        type(one) is type(other)
        and repr(one) == repr(other)
        and one.model_fields_set == other.model_fields_set
        and repr(one.model_dump()) == repr(other.model_dump())
    )


@pytest.fixture(scope="module")
def observe_route(tmp_path_factory: pytest.TempPathFactory) -> LeanRoute:
    app = create_app(make_settings(Path(tmp_path_factory.mktemp("lean-body"))))
    routes = [context.original_route for context in effective_routes(app.routes)]
    [route] = [r for r in routes if isinstance(r, LeanRoute) and r.path.endswith("/observe")]
    return route


HEADER_SETS = [
    [(b"content-type", b"application/json")],
    [(b"host", b"x"), (b"content-type", b"application/json"), (b"content-type", b"text/plain")],
    [(b"content-type", b"text/plain"), (b"content-type", b"application/json")],
    [(b"content-type", b"application/json; charset=utf-8")],
    [(b"content-type", b"Application/JSON")],
    [(b"Content-Type", b"application/json")],  # servers send names in lower case; as sent
    [(b"host", b"x")],
    [],
]


def test_same_decision_and_value_as_fastapi(observe_route: LeanRoute) -> None:
    rng = random.Random(20261204)
    bodies = ODD_BODIES + [_body(rng) for _ in range(4000)]
    accepted = 0
    for body in bodies:
        for headers in HEADER_SETS if body in ODD_BODIES else HEADER_SETS[:1]:
            scope = {"type": "http", "method": "POST", "headers": headers}
            try:
                expected = _fastapi(observe_route, headers, body)
            except RecursionError:
                with pytest.raises(RecursionError):
                    observe_route.valid_json_body(scope, body)
                continue
            lean = observe_route.valid_json_body(scope, body)
            assert _same(lean, expected), body
            accepted += lean is not None
    assert accepted > 1000  # the generated bodies exercise the accepting path too


def _number(rng: random.Random) -> str:
    """A JSON number text of any length and exponent, near float's limits now and then."""
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
    text = ("-" if rng.random() < 0.3 else "") + (digits.lstrip("0") or "0")
    if rng.random() < 0.7:
        text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
    if rng.random() < 0.6:
        text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randint(0, 330))
    return text


def _text(rng: random.Random) -> str:
    """A JSON string of raw and escaped characters: astral, surrogates, controls, quotes."""
    parts = []
    for _ in range(rng.randint(0, 8)):
        kind = rng.randrange(6)
        if kind == 0:
            parts.append(rng.choice('abc "\\/'[:4]))
        elif kind == 1:
            parts.append(
                chr(rng.choice([rng.randint(0x80, 0xD7FF), rng.randint(0xE000, 0x10FFFF)]))
            )
        elif kind == 2:
            code = rng.choice([rng.randint(0, 0xFFFF), 0xD800, 0xDC00, 0xDBFF])
            parts.append(f"\\u{code:04x}")
        elif kind == 3:
            parts.append(rng.choice(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]))
        elif kind == 4:
            parts.append("\\ud83d\\ude00")
        else:
            parts.append(rng.choice(["x", "\x7f", "\x1f", "\t"]))
    return '"' + "".join(parts).replace('"', "") + '"'


def test_numbers_and_strings_as_json_loads_reads_them(observe_route: LeanRoute) -> None:
    rng = random.Random(4)
    headers = HEADER_SETS[0]
    scope = {"type": "http", "method": "POST", "headers": headers}
    accepted = 0
    for _ in range(10000):
        numbers = ", ".join(_number(rng) for _ in range(rng.randint(1, 6)))
        strings = ", ".join(_text(rng) for _ in range(rng.randint(0, 4)))
        emotives = ", ".join(f"{_text(rng)}: {_number(rng)}" for _ in range(rng.randint(0, 2)))
        body = f'{{"strings": [{strings}], "vectors": [[{numbers}]], "emotives": {{{emotives}}}}}'
        encoded = body.encode("utf-8", "surrogatepass")
        expected = _fastapi(observe_route, headers, encoded)
        lean = observe_route.valid_json_body(scope, encoded)
        assert _same(lean, expected), body
        accepted += lean is not None
    assert accepted > 1000


def test_the_dependency_response_is_the_one_fastapi_hands_out() -> None:
    fastapis = Response()
    del fastapis.headers["content-length"]
    ours = dependency_response()
    assert (ours.status_code, ours.body, ours.raw_headers) == (
        fastapis.status_code,
        fastapis.body,
        fastapis.raw_headers,
    )
    ours.headers["X-Session-ID"] = "s"  # set through the view, as the guard sets it
    assert ours.raw_headers == [(b"x-session-id", b"s")]
