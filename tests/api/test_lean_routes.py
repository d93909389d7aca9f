"""The lean routes (``kato/api/lean_route.py``) answer exactly what FastAPI's handler answers.

The lean path is taken from the request pipeline, ahead of the JSON body check and the
router; the comparison app declines every request there, so all of them take the whole app.
With CORS configured the lean path is off (every answer gets the CORS headers): checked too.

One sequence of observe and GET predictions requests — well-formed ones, and every kind the
lean path hands back to FastAPI (invalid bodies, other content types, a wrong method) or
fails itself (no credentials, wrong role, somebody else's or a missing session, limits) — is
sent to an app with its lean routes and to one where they are plain FastAPI routes. Status,
headers (names, values, order), body bytes, request-log lines, audit records and request
metrics must be the same, once the parts that differ by nature are replaced: session ids,
generated observation ids, timestamps and durations (trace ids are sent by the client).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from prometheus_client import REGISTRY

from kato.api.lean_route import LeanDispatch
from tests.api.conftest import make_settings, running
from tests.security_helpers import AUDIENCE, HS_SECRET, ISSUER, hs256_token

_TIMESTAMP = re.compile(r'"timestamp": ?"[^"]+"')
_DURATION = re.compile(r'"duration_ms": [0-9.e-]+')
_GENERATED_ID = re.compile(r"obs-[0-9a-f]{32}")
_METRICS = ("kato_requests_total", "kato_request_duration_seconds_count")
_ROUTES = ("/v2/sessions/{session_id}/observe", "/v2/sessions/{session_id}/predictions")

WRITER = {"Authorization": f"Bearer {hs256_token(sub='alice', roles=['writer'])}"}
READER = {"Authorization": f"Bearer {hs256_token(sub='alice', roles=['reader'])}"}
STRANGER = {"Authorization": f"Bearer {hs256_token(sub='mallory', roles=['writer'])}"}
JSON = {"Content-Type": "application/json"}


def _requests(session: str) -> list[tuple[str, str, dict[str, str], bytes | None, str]]:
    """(method, path, headers, body, who answers it on the lean app) of the sequence, for a
    session created by ``alice``: ``lean``, ``fastapi`` (handed back) or ``middleware`` (the
    415 of ``RequireJsonBody``, before any route)."""
    observe = f"/v2/sessions/{session}/observe"
    predictions = f"/v2/sessions/{session}/predictions"

    def body(value: Any) -> bytes:
        return json.dumps(value).encode()

    a = body({"strings": ["a"]})
    return [
        ("POST", observe, WRITER | JSON, body({"strings": ["b", "a"]}), "lean"),
        ("POST", observe, WRITER | JSON, body({"strings": ["c"], "emotives": {"j": 0.5}}), "lean"),
        ("POST", observe, WRITER | JSON, body({"strings": ["d"], "unique_id": "u-1"}), "lean"),
        ("POST", observe, WRITER | JSON, body({"strings": ["d"], "unique_id": "u-1"}), "lean"),
        ("GET", predictions, READER, None, "lean"),
        ("POST", observe, WRITER | JSON, b'{"strings": ["a"', "fastapi"),  # not JSON
        ("POST", observe, WRITER | JSON, body(["a"]), "fastapi"),  # not an object
        ("POST", observe, WRITER | JSON, body({"strings": "a"}), "fastapi"),  # wrong type
        ("POST", observe, WRITER | JSON, body({"strings": ["a"], "extra": 1}), "fastapi"),
        ("POST", observe, WRITER | JSON, b"", "fastapi"),  # no body
        ("POST", observe, WRITER | JSON, body({"strings": ["x"] * 1001}), "lean"),  # 400 limit
        ("POST", observe, WRITER | {"Content-Type": "text/plain"}, a, "middleware"),
        ("POST", observe, WRITER, a, "middleware"),  # no content type
        (
            "POST",
            observe,
            WRITER | {"Content-Type": "application/json; charset=utf-8"},
            a,
            "fastapi",
        ),  # fmt: skip
        ("POST", observe, JSON, a, "lean"),  # no credentials: 401
        ("POST", observe, READER | JSON, a, "lean"),  # role too low: 403
        ("POST", observe, STRANGER | JSON, a, "lean"),  # somebody else's session: 404
        ("POST", "/v2/sessions/missing/observe", WRITER | JSON, a, "lean"),
        ("GET", observe, WRITER, None, "fastapi"),  # 405
        ("GET", predictions, READER, None, "lean"),
        ("GET", predictions, {}, None, "lean"),
        ("GET", predictions, STRANGER, None, "lean"),
        ("GET", "/v2/sessions/missing/predictions", READER, None, "lean"),
    ]


def _metrics() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name in _METRICS and sample.labels.get("endpoint") in _ROUTES:
                values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _normal(text: str, session: str) -> str:
    text = text.replace(session, "<session>")
    text = _GENERATED_ID.sub("<generated>", _DURATION.sub('"duration_ms": 0', text))
    return _TIMESTAMP.sub('"timestamp": "<t>"', text)


def audited_jwt_security(audit: Path, **extra: Any) -> dict[str, Any]:
    """JWT authentication, every request audited into ``audit``, rate limits on (so the
    RateLimit-* headers are on every answer)."""
    return {
        "auth_mode": "jwt",
        "jwt_secret": HS_SECRET,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "audit_log_file": str(audit),
        "audit_reads": True,
        "rate_limit_enabled": True,
        **extra,
    }


def counting_router() -> tuple[list[int], Callable[..., Awaitable[None]]]:
    """A replacement for ``APIRoute.handle`` counting the requests to the lean routes' paths
    that FastAPI's own handler took (the count in the list), and that handler."""
    handled = [0]
    handle = APIRoute.handle

    async def counting(route: APIRoute, scope: Any, receive: Any, send: Any) -> None:
        handled[0] += route.path in _ROUTES
        await handle(route, scope, receive, send)

    return handled, counting


async def _record(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cors_origins: list[str],
) -> tuple[list[Any], list[str], list[str], dict[Any, float], int]:
    """Run the sequence on a fresh app: what it left, and how many requests of the two routes
    FastAPI's route handling got."""
    tmp_path.mkdir()
    audit = tmp_path / "audit.log"
    settings = make_settings(
        tmp_path,
        security=audited_jwt_security(audit, cors_origins=cors_origins),
    )
    handled, counting = counting_router()
    answers: list[Any] = []
    async with running(settings) as client:
        created = await client.post("/v2/sessions", json={"node_id": "alice"}, headers=WRITER)
        session = created.json()["session_id"]
        capsys.readouterr()
        before = _metrics()
        audited = len(audit.read_text().splitlines())
        monkeypatch.setattr(APIRoute, "handle", counting)
        for number, (method, path, headers, body, _) in enumerate(_requests(session)):
            trace = {"X-Trace-ID": f"{number:032x}"}
            response = await client.request(method, path, headers=headers | trace, content=body)
            answers.append(
                (
                    response.status_code,
                    [
                        (name, _normal(value.decode(), session))
                        for name, value in response.headers.raw
                        if name.lower() != b"date"
                    ],
                    _normal(response.content.decode(), session),
                )
            )
        monkeypatch.undo()
        after = _metrics()
    logs = [_normal(line, session) for line in capsys.readouterr().out.splitlines()]
    records = [_normal(line, session) for line in audit.read_text().splitlines()[audited:]]
    delta = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return answers, logs, records, {k: v for k, v in delta.items() if v}, handled[0]


async def _declined(*args: Any) -> bool:
    return False


@pytest.mark.parametrize("cors_origins", [[], ["http://explorer.example"]])
async def test_lean_routes_answer_and_record_what_fastapi_does(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    cors_origins: list[str],
) -> None:
    lean = await _record(tmp_path / "lean", capsys, monkeypatch, cors_origins)
    with monkeypatch.context() as plain:
        # Every request FastAPI's: the lean dispatch declines them all.
        plain.setattr(LeanDispatch, "serve", _declined)
        framework = await _record(tmp_path / "framework", capsys, monkeypatch, cors_origins)

    assert lean[0] == framework[0]  # status, headers in order, bytes
    assert lean[1] == framework[1]  # request-log lines (and any other log output)
    assert lean[2] == framework[2]  # audit records
    assert lean[3] == framework[3]  # request metrics
    who = [request[4] for request in _requests("s")]
    assert len(lean[1]) == len(who) and lean[2]  # a log line each; audit records
    assert framework[4] == len(who) - who.count("middleware")
    if cors_origins:  # every answer carries the CORS middleware's headers: no lean path
        assert lean[4] == framework[4]
    else:
        assert lean[4] == who.count("fastapi")  # the lean path served every other one
