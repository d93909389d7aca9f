from array import array
from typing import Any

def matching_blocks(a: Any, b: Any) -> list[tuple[int, int, int]]: ...
def score(
    state: array,
    flat: array,
    flat_offsets: array,
    bounds: array,
    bounds_offsets: array,
    frequencies: array,
    member_frequency: array,
    t_sip: int,
    t_sym: int,
    t_pf: int,
    candidates: Any,
    threshold: float,
    keep: int,
) -> tuple[
    list[
        tuple[
            int,
            float,
            float,
            int,
            int,
            tuple[tuple[int, int, int], ...],
            float,
            float,
            float,
            float,
        ]
    ],
    int,
]: ...
