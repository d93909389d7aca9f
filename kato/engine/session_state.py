"""Session-owned engine state (decision D5): everything that is not long-term memory."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class SessionState:
    stm: list[list[str]] = field(default_factory=list)
    emotives: list[dict[str, float]] = field(default_factory=list)  # accumulator (§1.8)
    time: int = 0
    last_symbols: list[str] = field(default_factory=list)
    percept_data: dict[str, Any] = field(default_factory=dict)

    def clear_stm(self) -> None:
        """STM, emotive accumulator, last symbols and percept data emptied (§3.5, D5)."""
        self.stm = []
        self.emotives = []
        self.last_symbols = []
        self.percept_data = {}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        return cls(**data)

    @property
    def symbol_count(self) -> int:
        return sum(len(event) for event in self.stm)
