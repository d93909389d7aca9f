from collections.abc import Sequence
from typing import Any

def pattern_hash(events: Sequence[Sequence[str]]) -> str: ...
def string_events(
    observations: Sequence[Any], sort: bool
) -> tuple[tuple[tuple[str, ...], ...], str] | None: ...
def checked_events(
    events: object, max_symbol_length: int
) -> tuple[tuple[tuple[str, ...], ...], str] | None: ...
