"""The request log line, the audit record and the memory store's size bound are written as
``JSONEncoder.encode`` writes them."""

from __future__ import annotations

import enum
import io
import json
import logging
import math
import random
from pathlib import Path

import pytest

from kato.core.record_encoder import record_encoder, value_encoder
from kato.observability import logging as request_logging
from kato.security.audit import AuditLog
from kato.security.principal import ANONYMOUS_ADMIN, Principal
from kato.security.roles import Role

SETTINGS = [
    json.JSONEncoder(default=repr),  # the request log line
    json.JSONEncoder(separators=(",", ":"), sort_keys=True),  # the audit record
    json.JSONEncoder(ensure_ascii=False),
]
SCALARS: list[object] = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    0.1,
    1e-7,
    1e22,
    -0.0,
    0.155,
    math.inf,
    -math.inf,
    "",
    "plain",
    'quote " backslash \\ newline \n tab \t',
    "ünïcødé ✓ \U0001f600",
    "\x00\x1f\x7f",
    "\ud800 lone surrogate",
]


class _Status(enum.IntEnum):
    OK = 200


class _Text(str):
    def __repr__(self) -> str:
        return "not this"


ODD_VALUES: list[object] = [
    _Status.OK,
    _Text("sub"),
    1.5e300 * 10,
    math.nan,
    [1, "two", None],
    {"b": 1, "a": [2.5]},
    Path("/srv/x"),
    (1, 2),
]


def _record(rng: random.Random) -> dict[str, object]:
    record: dict[str, object] = {}
    for index in range(rng.randint(0, 14)):
        record[rng.choice(["z", "a", "m", "é", f"k{index}", "counts"])] = rng.choice(SCALARS)
    if rng.random() < 0.5:
        record["counts"] = {f"c{index}": rng.randint(0, 99) for index in range(rng.randint(0, 3))}
    return record


@pytest.mark.parametrize("settings", SETTINGS, ids=["log", "audit", "utf8"])
def test_same_text_as_json_encoder_encode(settings: json.JSONEncoder) -> None:
    encode = record_encoder(settings)
    rng = random.Random(20261204)
    for _ in range(3000):
        record = _record(rng)
        assert encode(record) == settings.encode(record)


def test_default_and_nan_as_the_encoder_has_them() -> None:
    record = {"path": Path("/x"), "nan": math.nan}
    assert record_encoder(SETTINGS[0])(record) == SETTINGS[0].encode(record)
    with pytest.raises(TypeError):
        record_encoder(SETTINGS[1])({"path": Path("/x")})


def test_indented_settings_refused() -> None:
    with pytest.raises(ValueError):
        record_encoder(json.JSONEncoder(indent=2))


@pytest.mark.parametrize("settings", SETTINGS[:2], ids=["log", "audit"])
def test_a_value_as_the_encoder_writes_it_in_an_object(settings: json.JSONEncoder) -> None:
    value = value_encoder(settings)
    for item in SCALARS + ODD_VALUES:
        try:
            expected = settings.encode({"k": item})
        except (TypeError, ValueError) as error:
            with pytest.raises(type(error)):
                value(item)
            continue
        assert f'{{"k"{settings.key_separator}{value(item)}}}' == expected


def _old_request_line(
    scope: dict[str, object],
    endpoint: str,
    status: int,
    duration_ms: float,
    fields: dict[str, object],
) -> dict[str, object]:
    """The line as RequestLog built it before it was written as text (less the time)."""
    return {
        "method": scope["method"],
        "path": endpoint,
        "status": status,
        "duration_ms": duration_ms,
        "session_id": fields.get("session_id", request_logging._session_id_from(scope)),
        "node_id": fields.get("node_id"),
        "event": "request",
    }


def test_request_log_line_is_the_json_encoders_text(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(request_logging._request_output, "stream", stream)
    monkeypatch.setattr(request_logging._request_output, "level", logging.INFO)
    monkeypatch.setattr(request_logging, "now_microseconds_text", lambda: "2026-12-04T01:02:03Z")
    monkeypatch.setattr(request_logging.time, "perf_counter", lambda: 10.0)
    rng = random.Random(7)
    values = SCALARS + ODD_VALUES
    encoder = json.JSONEncoder(default=repr)
    for index in range(2000):
        fields = {
            name: rng.choice(values) for name in ("session_id", "node_id") if rng.random() < 0.7
        }
        headers = [(b"x-session-id", b"hdr")] if rng.random() < 0.5 else []
        scope = {"method": rng.choice(["POST", "GET"]), "headers": headers, "path_params": {}}
        status = rng.choice([200, 404, 503, _Status.OK])
        started = 10.0 - rng.choice([0.0, 0.000123456, 1.0, 1e-9])
        trace = rng.choice([None, "abc", "ü\n"])
        token = request_logging._trace_id.set(trace)
        try:
            stream.seek(0)
            stream.truncate()
            request_logging.RequestLog().write(scope, "/p/{x}", status, started, fields)
        finally:
            request_logging._trace_id.reset(token)
        line = _old_request_line(
            scope, "/p/{x}", status, round((10.0 - started) * 1000.0, 3), fields
        )
        if trace is not None:
            line["trace_id"] = trace
        line["level"] = "warning" if status >= 500 else "info"
        line["timestamp"] = "2026-12-04T01:02:03Z"
        assert stream.getvalue() == encoder.encode(line) + "\n", index


def test_audit_record_is_the_sorted_compact_json_of_its_entry() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("kato.audit.test_record_encoder")
    logger.handlers.clear()
    logger.addHandler(logging.StreamHandler(stream))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    audit = AuditLog(logger)
    rng = random.Random(11)
    principals = [
        None,
        ANONYMOUS_ADMIN,
        Principal("ü", frozenset({Role.READER}), auth_method="jwt"),
    ]
    values = SCALARS + ODD_VALUES
    written = 0
    for index in range(2000):
        stream.seek(0)
        stream.truncate()
        counts = {f"c{n}": rng.randint(0, 5) for n in range(rng.choice([0, 0, 1, 3]))}
        session_id, node_id = rng.choice(values), rng.choice(values)
        try:
            entry = audit.record(
                rng.choice(principals),
                rng.choice(["POST /v2/sessions/{session_id}/observe", "GET /x \u2713"]),
                rng.choice(["allowed", "denied", "failed"]),
                status=rng.choice([None, 200, 404, _Status.OK]),
                session_id=session_id,
                node_id=node_id,
                trace_id=rng.choice([None, "abc"]),
                reason=rng.choice([None, 'why "quoted"']),
                **counts,
            )
        except TypeError:  # refused as the encoder refuses it
            with pytest.raises(TypeError):
                json.dumps([session_id, node_id])
            continue
        expected = json.dumps(entry, separators=(",", ":"), sort_keys=True)
        assert stream.getvalue() == expected + "\n", index
        written += 1
    assert written > 1000
