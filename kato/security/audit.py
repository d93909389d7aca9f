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

from kato.core.record_encoder import record_encoder
from kato.core.utc_text import now_seconds_text
from kato.security.principal import Principal

AUDIT_LOGGER_NAME = "kato.audit"
Outcome = Literal["allowed", "denied", "failed"]
# What json.dumps(separators=(",", ":"), sort_keys=True) uses, built once instead of per call.
_encode_record = record_encoder(json.JSONEncoder(separators=(",", ":"), sort_keys=True))


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
        entry: dict[str, object] = {
            "timestamp": now_seconds_text(),
            "event": "audit",
            "principal": principal.name if principal else None,
            "role": role.value if role else None,
            "auth_method": principal.auth_method if principal else None,
            "action": action,
            "outcome": outcome,
            "status": status,
            "session_id": session_id,
            "node_id": node_id,
            "trace_id": trace_id,
            "reason": reason,
        }
        if counts:
            entry["counts"] = dict(counts)
        self._write(_encode_record(entry))
        return entry
