from collections.abc import Iterable, Mapping, Sequence

def tally(
    sequences: Iterable[Sequence[Sequence[str]]],
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]: ...
def postings(
    patterns: Sequence[Sequence[Sequence[str]]], symbol_ids: Mapping[str, int], first: int
) -> tuple[bytes, list[tuple[int, bytes, bytes]], list[tuple[int, bytes]]]: ...
