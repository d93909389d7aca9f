"""Audit records: the fixed fields, integer counts only, no secrets."""

from __future__ import annotations

import json
import logging

import pytest

from kato.security.audit import AUDIT_LOGGER_NAME, AuditLog, configure_audit_logger
from kato.security.principal import Principal
from kato.security.roles import Role

WRITER = Principal("key:etl", frozenset({Role.READER, Role.WRITER}), auth_method="api_key")


def test_record_has_every_field_and_goes_to_the_file_as_json(tmp_path):
    path = tmp_path / "audit.log"
    audit = AuditLog(configure_audit_logger(str(path)))
    audit.record(
        WRITER,
        "POST /sessions/{session_id}/observe",
        "allowed",
        status=200,
        session_id="session-1",
        node_id="n1",
        trace_id="t-1",
        symbols=3,
    )
    entry = json.loads(path.read_text().strip())
    assert entry["principal"] == "key:etl"
    assert entry["role"] == "writer"
    assert entry["auth_method"] == "api_key"
    assert entry["action"] == "POST /sessions/{session_id}/observe"
    assert entry["outcome"] == "allowed"
    assert entry["status"] == 200
    assert entry["session_id"] == "session-1"
    assert entry["node_id"] == "n1"
    assert entry["trace_id"] == "t-1"
    assert entry["counts"] == {"symbols": 3}
    assert entry["timestamp"].endswith("Z")


def test_denied_anonymous_record():
    entry = AuditLog().record(None, "GET /x", "denied", status=401, reason="no credentials")
    assert entry["principal"] is None and entry["role"] is None
    assert entry["outcome"] == "denied" and entry["reason"] == "no credentials"


@pytest.mark.parametrize("payload", ["kato_abc_secret", ["hello", "world"], 2.5, True])
def test_only_integer_counts_are_accepted(payload):
    with pytest.raises(TypeError):
        AuditLog().record(WRITER, "POST /x", "allowed", symbols=payload)


def test_stream_is_separate_from_root_logging(tmp_path, caplog):
    configure_audit_logger(str(tmp_path / "a.log"))
    assert logging.getLogger(AUDIT_LOGGER_NAME).propagate is False
    with caplog.at_level(logging.DEBUG):
        AuditLog().record(WRITER, "POST /x", "allowed")
    assert not [r for r in caplog.records if r.name == AUDIT_LOGGER_NAME]
    assert (tmp_path / "a.log").read_text().count("\n") == 1
