"""The prediction core in plain Python: the fallback for ``kato.core._matchcore``.

Same two functions, same arguments, same results as the compiled core (see
``_matchcore.c``): used when the C extension was not built (no compiler at install time) or
when ``KATO_PURE_PYTHON=1`` asks for it (``kato.core.matcher`` chooses). Every floating-point
operation is the C code's, in the same order — no ``sum()`` of floats (compensated from
Python 3.12), no fused operations — so both cores round alike; the property tests run
against both (tests/unit/conftest.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

Block = tuple[int, int, int]
Codes = Sequence[int]


def matching_blocks(a: Codes, b: Codes) -> list[Block]:
    """difflib's matching blocks without the sentinel (the definition the C core follows)."""
    blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return [(block.a, block.b, block.size) for block in blocks[:-1]]


@dataclass(slots=True)
class _Survivor:
    slot: int
    start: int  # first present event
    end: int  # one past the last present event
    matched: int
    block_count: int
    potential: float = 0.0
    itfdf: float = 0.0


def _entropy_term(p: float, log_base: float) -> float:
    """-p·log_n(p) as ``math.log(p, n)`` computes it: log(p) / log(n)."""
    return -p * (math.log(p) / log_base) if p > 0 else 0.0


def _information(
    present: Codes, prob: dict[int, float], t_sym: int, pattern_probability: float
) -> tuple[float, float, float, float]:
    """entropy, hamiltonian, grand_hamiltonian and confluence of semantics §4.10."""
    entropy = hamiltonian = grand_hamiltonian = log_cp = 0.0
    log_2 = math.log(2.0)
    informative = t_sym > 1  # h_n is 0 unless n > 1
    log_t_sym = math.log(float(t_sym)) if informative else 0.0
    counts = Counter(present)
    size = len(present)
    for symbol in present:
        p = prob.get(symbol, 0.0)
        entropy += _entropy_term(p, log_2)
        log_cp += math.log10(p if p != 0.0 else 1e-10)
        if informative:
            hamiltonian += _entropy_term(counts[symbol] / size, log_t_sym)
    if informative:
        for symbol in counts:
            grand_hamiltonian += _entropy_term(prob.get(symbol, 0.0), log_t_sym)
    combined_probability = 10.0**log_cp if size else 0.0
    return (
        round(entropy, 12),
        round(hamiltonian, 12),
        round(grand_hamiltonian, 12),
        round(pattern_probability * (1 - combined_probability), 12),
    )


def _norm(weights: Sequence[float]) -> float:
    total = 0.0
    for weight in weights:
        total += weight * weight
    return math.sqrt(total)


def score(
    state: Codes,
    flat: Codes,
    flat_offsets: Codes,
    bounds: Codes,
    bounds_offsets: Codes,
    frequencies: Codes,
    member_frequency: Codes,
    t_sip: int,
    t_sym: int,
    t_pf: int,
    candidates: Codes,
    threshold: float,
    keep: int,
    *,
    slot_states: Mapping[int, Codes] | None = None,
) -> tuple[
    list[tuple[int, float, float, int, int, tuple[Block, ...], float, float, float, float]], int
]:
    """Match and rank the candidate slots; see ``_matchcore.score`` for the contract.

    ``slot_states`` (this core only) gives some slots their own state, of ``state``'s
    length: the state as fuzzy tokens matched it to that pattern (semantics §12.14). The
    ensemble figures (probability table, ensemble frequency) stay over every survivor.
    """
    own_states = slot_states or {}

    def state_of(slot: int) -> Codes:
        return own_states.get(slot, state)

    n_slots = len(flat_offsets) - 1
    if len(bounds_offsets) - 1 != n_slots or len(frequencies) < n_slots:
        raise ValueError("per-slot arrays disagree in length")
    slots = [int(slot) for slot in candidates]
    for slot in slots:
        if not 0 <= slot < n_slots:
            raise IndexError(f"candidate slot {slot} out of range")
    n_symbols = len(member_frequency)

    def pattern_of(slot: int) -> tuple[Codes, Codes]:
        return (
            flat[flat_offsets[slot] : flat_offsets[slot + 1]],
            bounds[bounds_offsets[slot] : bounds_offsets[slot + 1]],
        )

    # Pass 1: match, apply the threshold, present range (§4.6, §4.8), probability table.
    survivors: list[_Survivor] = []
    prob: dict[int, float] = {}
    ensemble_frequency = 0
    for slot in slots:
        pattern, pattern_bounds = pattern_of(slot)
        slot_state = state_of(slot)
        blocks = matching_blocks(pattern, slot_state)
        matched = 0
        for _, _, size in blocks:
            matched += size
        total = len(pattern) + len(slot_state)
        if total == 0 or not 2.0 * matched / total >= threshold:  # C: 0/0 is NaN, never kept
            continue
        if not blocks:
            start, end = 0, len(pattern_bounds) - 1
        else:
            first_i, first_j, _ = blocks[0]
            last_i, _, last_size = blocks[-1]
            start = bisect_left(pattern_bounds, first_i)
            end = bisect_left(pattern_bounds, last_i + last_size, start)
            # Boundary adjustment (§4.8 step 4), membership by value.
            previous_event = pattern[pattern_bounds[start - 1] : pattern_bounds[start]]
            if start > 0 and slot_state[first_j] in previous_event:
                start -= 1
        survivors.append(_Survivor(slot, start, end, matched, len(blocks)))
        ensemble_frequency += frequencies[slot]
        for symbol in pattern[pattern_bounds[start] : pattern_bounds[end]]:
            if 0 <= symbol < n_symbols and symbol not in prob:
                prob[symbol] = member_frequency[symbol] / t_sip if t_sip > 0 else 0.0

    # The weighted state vector of §4.11, once per distinct state.
    state_vectors: dict[tuple[int, ...], tuple[Counter[int], list[float], float]] = {}

    def state_vector(codes: Codes) -> tuple[Counter[int], list[float], float]:
        key = tuple(codes)
        vector = state_vectors.get(key)
        if vector is None:
            counts = Counter(codes)
            weights = [prob.get(symbol, 0.0) * count for symbol, count in counts.items()]
            vector = state_vectors[key] = (counts, weights, _norm(weights))
        return vector

    # Pass 2: itfdf_similarity (§4.11) and potential (§4.12).
    for survivor in survivors:
        pattern, pattern_bounds = pattern_of(survivor.slot)
        slot_state = state_of(survivor.slot)
        state_counts, state_weights, state_norm = state_vector(slot_state)
        present = pattern[pattern_bounds[survivor.start] : pattern_bounds[survivor.end]]
        itfdf = 0.0
        if ensemble_frequency > 0:
            present_counts = Counter(present)
            present_norm = _norm(
                [prob.get(symbol, 0.0) * count for symbol, count in present_counts.items()]
            )
            if state_norm == 0 or present_norm == 0:
                distance = 1.0
            else:
                dot = 0.0
                for weight, symbol in zip(state_weights, state_counts, strict=True):
                    count = present_counts.get(symbol)
                    other = prob.get(symbol, 0.0) * count if count is not None else 0.0
                    dot += weight * other
                distance = 1 - dot / (state_norm * present_norm)
                if math.isnan(distance):
                    distance = 1.0
            itfdf = round(1 - distance * frequencies[survivor.slot] / ensemble_frequency, 12)
        matched, extras = survivor.matched, len(slot_state) - survivor.matched
        evidence = matched / len(pattern) if len(pattern) else 0.0
        confidence = matched / len(present) if len(present) else 0.0
        denominator = 2 * matched + extras
        snr = (2 * matched - extras) / denominator if denominator else 0.0
        phi = 1.0 / survivor.block_count if survivor.block_count else 0.0
        survivor.itfdf = itfdf
        survivor.potential = round((evidence + confidence) * snr + itfdf + phi, 12)

    # Best `keep` by potential, extended over ties with the last one: the caller breaks
    # ties by name (D4), which needs the whole tied group.
    survivors.sort(key=lambda survivor: -survivor.potential)
    returned = min(len(survivors), keep)
    while 0 < returned < len(survivors) and (
        survivors[returned].potential == survivors[returned - 1].potential
    ):
        returned += 1
    best = []
    for survivor in survivors[:returned]:
        pattern, pattern_bounds = pattern_of(survivor.slot)
        present = pattern[pattern_bounds[survivor.start] : pattern_bounds[survivor.end]]
        pattern_probability = frequencies[survivor.slot] / t_pf if t_pf else 0.0
        best.append(
            (
                survivor.slot,
                survivor.potential,
                survivor.itfdf,
                survivor.start,
                survivor.end,
                tuple(matching_blocks(pattern, state_of(survivor.slot))),
                *_information(present, prob, t_sym, pattern_probability),
            )
        )
    return best, len(survivors)
