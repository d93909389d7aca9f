"""The audit log: a separate structured JSON stream, logger ``kato.audit``.

One JSON object per line with a fixed set of fields — who (principal, role, auth method), did
what (action, session, node), with what outcome (allowed/denied, status, reason), under which
trace id. Symbols, vectors, metadata, keys and tokens are never recorded; a caller can add
integer counts (``symbols=3``) and nothing else. The stream does not propagate to the root
logger, so application log settings cannot drop or duplicate it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Literal

from kato.core.record_encoder import record_encoder, value_encoder
from kato.core.utc_text import now_seconds_text
from kato.security.principal import Principal

AUDIT_LOGGER_NAME = "kato.audit"
Outcome = Literal["allowed", "denied", "failed"]
# Records are written as json.dumps(record, separators=(",", ":"), sort_keys=True) writes
# them: each value as that encoder writes it, the keys in sorted order around the values
# (kato/core/record_encoder.py).
_RECORD_SETTINGS = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_encode_counts = record_encoder(_RECORD_SETTINGS)
_value = value_encoder(_RECORD_SETTINGS)


class _JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return str(record.msg)


def configure_audit_logger(file_path: str | None) -> logging.Logger:
    """The ``kato.audit`` logger writing to ``file_path`` (append) or to stderr."""
    logger = logging.getLogger(AUDIT_LOGGER_NAME)
    for previous in list(logger.handlers):
        logger.removeHandler(previous)
        previous.close()
    handler: logging.Handler = (
        logging.FileHandler(file_path, encoding="utf-8")
        if file_path
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(_JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


class AuditLog:
    """Writes each record synchronously, in the request's own task as soon as its answer has
    been handed to the server (``SecurityLayer.after_request``), with no queue in between: a
    stopped or crashed process loses at most the record of a request being answered at that
    moment, never a backlog (docs/DECISIONS.md)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(AUDIT_LOGGER_NAME)

    def _write(self, line: str) -> None:
        """The line to the logger's handlers, as ``Logger.info`` would put it there, but for
        the handler of ``configure_audit_logger`` without building a ``LogRecord`` for a
        formatter that prints the message as it is (about half of an audit record's cost,
        profiled). Another handler, or a failed write, goes the standard way (a failed write
        is reported on stderr by ``Handler.handleError``, never fails the request)."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        for handler in logger.handlers:
            stream = getattr(handler, "stream", None)
            if stream is not None and isinstance(handler.formatter, _JsonLineFormatter):
                try:
                    with handler.lock:  # type: ignore[union-attr]  # made with the handler
                        stream.write(line + "\n")
                        stream.flush()
                    continue
                except (OSError, ValueError):  # ValueError: the stream was closed
                    pass
            handler.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, line, (), None))

    def record(
        self,
        principal: Principal | None,
        action: str,
        outcome: Outcome,
        *,
        status: int | None = None,
        session_id: str | None = None,
        node_id: str | None = None,
        trace_id: str | None = None,
        reason: str | None = None,
        **counts: int,
    ) -> dict[str, object]:
        """Write one record and return it. ``counts`` must be integers (sizes, never content)."""
        for name, value in counts.items():
            if type(value) is not int:
                raise TypeError(f"audit count {name!r} must be an int, not {type(value).__name__}")
        role = principal.highest_role if principal else None
        timestamp = now_seconds_text()
        principal_name = principal.name if principal else None
        role_name = role.value if role else None
        auth_method = principal.auth_method if principal else None
        entry: dict[str, object] = {
            "timestamp": timestamp,
            "event": "audit",
            "principal": principal_name,
            "role": role_name,
            "auth_method": auth_method,
            "action": action,
            "outcome": outcome,
            "status": status,
            "session_id": session_id,
            "node_id": node_id,
            "trace_id": trace_id,
            "reason": reason,
        }
        written_counts = ""
        if counts:
            entry["counts"] = dict(counts)
            written_counts = f',"counts":{_encode_counts(entry["counts"])}'
        # The keys sorted; the timestamp's digits and "-:TZ" need no escape.
        self._write(
            f'{{"action":{_value(action)},"auth_method":{_value(auth_method)}{written_counts},'
            f'"event":"audit","node_id":{_value(node_id)},"outcome":{_value(outcome)},'
            f'"principal":{_value(principal_name)},"reason":{_value(reason)},"role":{_value(role_name)},'
            f'"session_id":{_value(session_id)},"status":{_value(status)},'
            f'"timestamp":"{timestamp}","trace_id":{_value(trace_id)}}}'
        )
        return entry
