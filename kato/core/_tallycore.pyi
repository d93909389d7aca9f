from collections.abc import Iterable, Sequence

def tally(
    sequences: Iterable[Sequence[Sequence[str]]],
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]: ...
