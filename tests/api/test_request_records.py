"""What one request leaves behind, pinned field by field: the response's headers and bytes, the
JSON request-log line, the audit record and the request metrics (issue 10 req 7 — the request
path was rebuilt for speed; none of these may change).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from tests.api.conftest import make_settings, new_session, running

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OBSERVE = "/v2/sessions/{session_id}/observe"
LOG_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
AUDIT_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ENVELOPE_TIMESTAMP = LOG_TIMESTAMP


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def request_lines(output: str) -> list[tuple[str, dict[str, object]]]:
    lines = [line for line in output.splitlines() if '"event": "request"' in line]
    return [(line, json.loads(line)) for line in lines]


async def test_an_observe_leaves_the_same_response_log_line_audit_record_and_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit_path = tmp_path / "audit.log"
    settings = make_settings(tmp_path, security={"audit_log_file": str(audit_path)})
    labels = {"method": "POST", "endpoint": OBSERVE}
    before_count = sample("kato_requests_total", **labels, status="200")
    before_duration = sample("kato_request_duration_seconds_count", **labels)
    async with running(settings) as client:
        session_id = await new_session(client, "pinned")
        capsys.readouterr()
        response = await client.post(
            f"/v2/sessions/{session_id}/observe",
            json={"strings": ["b", "a"], "unique_id": "u-1"},
            headers={"X-Trace-ID": TRACE},
        )

    # The response: its bytes and its headers, in order.
    assert response.status_code == 200
    assert response.content == (
        b'{"status":"ok","session_id":"%s","processor_id":"pinned","stm_length":1,'
        b'"time":1,"unique_id":"u-1","auto_learned_pattern":null}' % session_id.encode()
    )
    assert [name for name, _ in response.headers.raw] == [
        b"content-length",
        b"content-type",
        b"x-session-id",
        b"x-content-type-options",
        b"x-trace-id",
    ]
    assert response.headers["x-trace-id"] == TRACE
    assert response.headers["x-content-type-options"] == "nosniff"

    # The request-log line: its fields in order, rendered as structlog's JSON renderer does.
    [(raw, line)] = request_lines(capsys.readouterr().out)
    assert list(line) == [
        "method",
        "path",
        "status",
        "duration_ms",
        "session_id",
        "node_id",
        "event",
        "trace_id",
        "level",
        "timestamp",
    ]
    assert raw == json.dumps(line)
    assert {key: line[key] for key in ("method", "path", "status", "session_id", "node_id")} == {
        "method": "POST",
        "path": OBSERVE,
        "status": 200,
        "session_id": session_id,
        "node_id": "pinned",
    }
    assert (line["event"], line["trace_id"], line["level"]) == ("request", TRACE, "info")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert LOG_TIMESTAMP.match(str(line["timestamp"]))

    # The audit record of the observe (the create before it has its own).
    *_, audit_raw = audit_path.read_text().splitlines()
    record = json.loads(audit_raw)
    assert audit_raw == json.dumps(record, separators=(",", ":"), sort_keys=True)
    timestamp = record.pop("timestamp")
    assert AUDIT_TIMESTAMP.match(timestamp)
    assert record == {
        "action": f"POST {OBSERVE}",
        "auth_method": "none",
        "event": "audit",
        "node_id": "pinned",
        "outcome": "allowed",
        "principal": "anonymous",
        "reason": None,
        "role": "admin",
        "session_id": session_id,
        "status": 200,
        "trace_id": TRACE,
    }

    # The request metrics: one more request, one more duration, same labels.
    assert sample("kato_requests_total", **labels, status="200") == before_count + 1
    assert sample("kato_request_duration_seconds_count", **labels) == before_duration + 1


async def test_a_refused_request_leaves_the_same_envelope_and_log_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, limits={"max_body_bytes": 1024})
    async with running(settings) as client:
        capsys.readouterr()
        response = await client.post(
            "/v2/sessions/s/observe",
            content=json.dumps({"strings": ["x" * 2000]}),
            headers={"X-Trace-ID": TRACE, "Content-Type": "application/json"},
        )

    assert response.status_code == 413
    body = response.json()
    assert ENVELOPE_TIMESTAMP.match(body["error"].pop("timestamp"))
    assert body == {
        "error": {
            "code": "KATO_PAYLOAD_TOO_LARGE",
            "message": "Request body exceeds max_body_bytes = 1024",
            "details": {"limit": "max_body_bytes", "maximum": 1024, "trace_id": TRACE},
        },
        "status": 413,
    }
    assert response.headers["connection"] == "close"
    assert response.headers["x-trace-id"] == TRACE
    assert "x-content-type-options" not in response.headers  # refused before the app ran
    [(_, line)] = request_lines(capsys.readouterr().out)
    assert (line["status"], line["path"], line["session_id"]) == (413, "<unmatched>", None)
