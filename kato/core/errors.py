"""Typed errors raised by the core and the engine.

Every error carries a stable machine-readable ``code`` so the API layer can map it to the
error envelope without inspecting messages.
"""

from __future__ import annotations

from typing import Any


class KatoError(Exception):
    """Base class of every error KATO raises on purpose."""

    code = "KATO_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(KatoError):
    """Input that violates the observation or configuration rules."""

    code = "KATO_VALIDATION_ERROR"


class ObservationError(ValidationError):
    """An observation that cannot be processed (bad symbols, vectors or emotives)."""


class GeneError(ValidationError):
    """Unknown gene or out-of-range gene value."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message, validation_errors=errors or [message])
        self.errors = errors or [message]


class EmptySTMError(KatoError):
    """Learn was asked for while the short-term memory is empty."""

    code = "KATO_EMPTY_STM"

    def __init__(self) -> None:
        super().__init__("Cannot learn from empty STM")


class NodeIdConflictError(KatoError):
    """A node id whose knowledge-base id is already owned by a different node id."""

    code = "KATO_NODE_ID_CONFLICT"

    def __init__(self, node_id: str, owner: str) -> None:
        super().__init__(
            f"Node id {node_id!r} cannot be used: its storage id belongs to node {owner!r}; "
            "choose another node id",
            node_id=node_id,
        )


class PatternNotFoundError(KatoError):
    code = "KATO_PATTERN_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"Pattern {name} not found", pattern=name)


class LimitExceededError(ValidationError):
    """A request would exceed a configured size limit."""

    code = "KATO_LIMIT_EXCEEDED"
