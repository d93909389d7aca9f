from collections.abc import Sequence
from typing import Any

def pattern_hash(events: Sequence[Sequence[str]]) -> str: ...
def string_events(
    observations: Sequence[Any], sort: bool
) -> tuple[tuple[tuple[str, ...], ...], str] | None: ...
def list_events(
    events: Sequence[Sequence[str]], sort: bool
) -> tuple[tuple[tuple[str, ...], ...], str]: ...
