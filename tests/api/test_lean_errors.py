"""The lean routes' failures answer and record exactly what FastAPI's handler does.

The lean path runs Starlette's ``ExceptionMiddleware`` only once its answer raised
(``kato/api/lean_route.py``). One sequence of failing observes — an unknown session, an
expired one, a session over its cap (413), a body the route declines (422), the session's
rate limit (429), a ``KatoError`` and an unexpected exception raised by the service (500),
and an exception while the response is sent, after it started — is sent to an app with its
lean routes and to one whose lean dispatch declines every request. Status, headers, body
bytes, log lines, audit records and request metrics must be the same; of a logged
traceback only its last line (which frames it passed through differs by nature).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from kato.api.lean_route import LeanDispatch
from kato.core.errors import KatoError
from kato.security.layer import SecurityLayer
from kato.service.kato_service import KatoService
from tests.api.conftest import make_settings, running
from tests.api.test_lean_routes import (
    JSON,
    WRITER,
    _declined,
    _metrics,
    _normal,
    audited_jwt_security,
    counting_router,
)

_FAULT = "X-Test-Fault"  # which fault the patched service or security layer raises


class _Refused(KatoError):
    code = "KATO_CONFLICT"


def _body(strings: list[str], unique_id: str | None = None) -> bytes:
    named = {"unique_id": unique_id} if unique_id else {}
    return json.dumps({"strings": strings} | named).encode()


def _requests(capped: str, expired: str, limited: str) -> list[tuple[str, dict[str, str], bytes]]:
    """(path, headers, body) of the sequence; ``limited``'s rate limit is 4 a minute."""
    on = "/v2/sessions/{}/observe".format
    return [
        (on("missing"), WRITER | JSON, _body(["a"])),  # 404
        (on(expired), WRITER | JSON, _body(["a"])),  # expired
        (on(capped), WRITER | JSON, _body(["a"])),
        (on(capped), WRITER | JSON | {_FAULT: "sending"}, _body(["b"])),  # after the start
        (on(capped), WRITER | JSON, _body(["c"])),
        (on(capped), WRITER | JSON, _body(["d"])),  # 413: over max_stm_size
        (on(capped), WRITER | JSON, b'{"strings": 1}'),  # 422: FastAPI's own
        # Empty observations: the STM stays empty, only the rate limit counts them.
        (on(limited), WRITER | JSON, _body([])),
        (on(limited), WRITER | JSON, _body([], "kato")),  # the service's KatoError
        (on(limited), WRITER | JSON, _body([], "unexpected")),  # 500
        (on(limited), WRITER | JSON, _body([])),
        (on(limited), WRITER | JSON, _body([])),  # 429
    ]


def _logged(line: str) -> str:
    """The log line, a traceback in it cut to its last line."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if isinstance(record, dict) and "exception" in record:
        record["exception"] = record["exception"].rstrip().splitlines()[-1]
    return json.dumps(record)


async def _record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[str], list[str], dict[Any, float], int]:
    tmp_path.mkdir()
    audit = tmp_path / "audit.log"
    settings = make_settings(
        tmp_path,
        session={"max_stm_size": 3, "stm_overflow": "reject"},
        security=audited_jwt_security(audit, rate_limit_session="4/minute"),
    )
    observe = KatoService.observe
    add_headers = SecurityLayer.add_response_headers

    async def faulty(service: KatoService, session_id: str, *args: Any, **kwargs: Any) -> Any:
        done = await observe(service, session_id, *args, **kwargs)  # counted, rate limit too
        if args[1] == "kato":
            raise _Refused("refused on purpose", reason="test")
        if args[1] == "unexpected":
            raise ZeroDivisionError("unexpected on purpose")
        return done

    def faulty_headers(layer: SecurityLayer, scope: Any, headers: Any) -> None:
        if (_FAULT.lower().encode(), b"sending") in scope["headers"]:
            raise _Refused("refused while sending")
        add_headers(layer, scope, headers)

    handled, counting = counting_router()
    answers: list[Any] = []
    async with running(settings) as client:
        sessions = []
        for ttl in (600, 1, 600):
            created = await client.post(
                "/v2/sessions", json={"node_id": "alice", "ttl_seconds": ttl}, headers=WRITER
            )
            sessions.append(created.json()["session_id"])
        await asyncio.sleep(1.2)  # the second one expires
        capsys.readouterr()
        before = _metrics()
        audited = len(audit.read_text().splitlines())
        monkeypatch.setattr(APIRoute, "handle", counting)
        monkeypatch.setattr(KatoService, "observe", faulty)
        monkeypatch.setattr(SecurityLayer, "add_response_headers", faulty_headers)
        for number, (path, headers, body) in enumerate(_requests(*sessions)):
            trace = {"X-Trace-ID": f"{number:032x}"}
            response = await client.post(path, headers=headers | trace, content=body)
            normal = [(name, value.decode()) for name, value in response.headers.raw]
            answers.append(
                (
                    response.status_code,
                    [
                        (name, _normal_all(value, sessions))
                        for name, value in normal
                        if name.lower() != b"date"
                    ],
                    _normal_all(response.content.decode(), sessions),
                )
            )
        monkeypatch.undo()
        after = _metrics()
    logs = [_logged(_normal_all(line, sessions)) for line in capsys.readouterr().out.splitlines()]
    records = [_normal_all(line, sessions) for line in audit.read_text().splitlines()[audited:]]
    delta = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return answers, logs, records, {k: v for k, v in delta.items() if v}, handled[0]


def _normal_all(text: str, sessions: list[str]) -> str:
    for number, session in enumerate(sessions):
        text = _normal(text, session).replace("<session>", f"<session {number}>")
    return text


async def test_lean_failures_answer_and_record_what_fastapi_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean = await _record(tmp_path / "lean", capsys, monkeypatch)
    with monkeypatch.context() as plain:
        plain.setattr(LeanDispatch, "serve", _declined)
        framework = await _record(tmp_path / "framework", capsys, monkeypatch)

    assert lean[0] == framework[0]  # status, headers in order, bytes
    assert lean[1] == framework[1]  # log lines
    assert lean[2] == framework[2]  # audit records
    assert lean[3] == framework[3]  # request metrics
    statuses = [answer[0] for answer in lean[0]]
    assert statuses == [404, 404, 200, 500, 200, 413, 422, 200, 409, 500, 200, 429], statuses
    assert any("response already started" in line for line in lean[1])  # raised after the start
    assert framework[4] == len(statuses)
    assert lean[4] == 1  # the lean path served all but the declined body
