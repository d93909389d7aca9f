"""Session-owned engine state (decision D5): everything that is not long-term memory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class SessionState:
    """STM and the rest of a session's short-term state.

    Events are never changed in place once in the STM (operations append or replace them),
    so a copy of the STM only needs to copy the outer list.
    """

    stm: list[list[str]] = field(default_factory=list)
    emotives: list[dict[str, float]] = field(default_factory=list)  # accumulator (§1.8)
    metadata: list[dict[str, Any]] = field(default_factory=list)  # accumulator (§12.5)
    time: int = 0
    last_symbols: list[str] = field(default_factory=list)
    percept_data: dict[str, Any] = field(default_factory=dict)

    def clear_stm(self) -> None:
        """STM, emotive and metadata accumulators, last symbols and percept data emptied
        (§3.5, §12.5, D5)."""
        self.stm = []
        self.emotives = []
        self.metadata = []
        self.last_symbols = []
        self.percept_data = {}

    def to_dict(self) -> dict[str, Any]:
        """An independent (deep) copy as plain data."""
        return asdict(self)

    def fields(self) -> dict[str, Any]:
        """The same plain data as ``to_dict`` but sharing this state's objects (no copy)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        return cls(**data)

    @property
    def symbol_count(self) -> int:
        return sum(len(event) for event in self.stm)
