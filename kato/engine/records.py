"""Pure record arithmetic shared by every knowledge-base adapter (semantics §3.3, D7)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, NamedTuple

from kato.core.errors import ValidationError
from kato.core.observation import EMOTIVE_MAGNITUDE_LIMIT, is_emotive_value
from kato.core.tally import tally
from kato.engine.ports import Events, LearnItem, Metadata, PatternRecord, Totals, symbol_counts


def learned_record(
    existing: PatternRecord | None,
    name: str,
    events: Events,
    emotives: Mapping[str, float] | None,
    persistence: int,
    metadata: Metadata | None = None,
) -> PatternRecord:
    """The pattern record after one learn: frequency + 1, the emotive window rolled, metadata
    unioned (the session learn path: no ``LearnItem`` built)."""
    window: tuple[Mapping[str, float], ...] = existing.emotives if existing else ()
    if emotives is not None:
        window = (*window, dict(emotives))[-persistence:]
    stored: Metadata = existing.metadata if existing else {}
    return PatternRecord(
        name,
        events,
        existing.frequency + 1 if existing else 1,
        window,
        union_metadata(stored, metadata) if metadata else stored,
    )


def learned_many(
    existing: PatternRecord | None, item: LearnItem, persistence: int
) -> PatternRecord:
    """The pattern record after ``item.times`` learns: frequency grows by that, the window
    gains the item's entries (the last ``persistence`` kept), metadata is unioned."""
    window: tuple[Mapping[str, float], ...] = existing.emotives if existing else ()
    if item.emotives:
        window = (*window, *(dict(entry) for entry in item.emotives))[-persistence:]
    frequency = (existing.frequency if existing else 0) + item.times
    metadata = union_metadata(existing.metadata if existing else {}, item.metadata)
    return PatternRecord(item.name, item.events, frequency, window, metadata)


def union_metadata(stored: Metadata, new: Metadata) -> Metadata:
    """§12.5: per key, the sorted distinct union of the stored and the new values."""
    if not new:
        return stored
    merged = {key: set(values) for key, values in stored.items()}
    for key, values in new.items():
        merged.setdefault(key, set()).update(values)
    return {key: tuple(sorted(merged[key])) for key in sorted(merged)}


def merged_metadata(observed: Iterable[Mapping[str, Any]]) -> Metadata:
    """§12.5: the metadata objects a session accumulated since its last learn, as the one
    pattern metadata a learn unions into the stored pattern's."""
    merged: Metadata = {}
    for metadata in observed:
        merged = union_metadata(merged, metadata_values(metadata))
    return merged


def metadata_values(metadata: Mapping[str, Any]) -> Metadata:
    """Client metadata ``{key: value}`` as pattern metadata ``{key: sorted distinct strings}``
    (§12.5). A string is kept as it is, a list contributes each element, any other JSON value
    its compact JSON text (``true``, ``1.5``), so the stored text does not depend on Python."""
    result: dict[str, tuple[str, ...]] = {}
    for key in sorted(metadata):
        value = metadata[key]
        items = value if isinstance(value, list) else [value]
        result[key] = tuple(sorted({_text(item) for item in items}))
    return result


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def check_metadata(metadata: object) -> Metadata:
    """Validate stored-shape metadata (PATCH, import): ``{str: [str, ...]}``; answers it
    normalised (keys and values sorted, values distinct)."""
    if not isinstance(metadata, Mapping) or not all(
        isinstance(key, str)
        and isinstance(values, list | tuple)
        and all(isinstance(value, str) for value in values)
        for key, values in metadata.items()
    ):
        raise ValidationError("metadata must map names to lists of strings", field="metadata")
    return {key: tuple(sorted(set(metadata[key]))) for key in sorted(metadata)}


def stats_increments(
    item: LearnItem,
) -> tuple[dict[str, int], Totals]:
    """Symbol-frequency increments and totals increments of ``item.times`` learns (§3.3):
    per symbol ``times × count``; totals ``T_pf += times``, ``+ times × length``,
    ``T_sip += times × distinct``. Pattern-member frequencies grow by ``times`` per symbol."""
    counts = symbol_counts(item.events)
    times = item.times
    return (
        {symbol: count * times for symbol, count in counts.items()},
        Totals(times, times * sum(counts.values()), times * len(counts)),
    )


class BatchIncrements(NamedTuple):
    """What a batch of learns adds to the symbol statistics and totals, as ``stats_increments``
    of each item in turn would (same sums, symbols in the same first-touch order)."""

    frequencies: dict[str, int]  # symbol -> frequency increment, first-touch order
    members: dict[str, int]  # symbol -> pattern-member-frequency increment, same order
    totals: Totals
    # symbol -> index of the last item holding it, in the order those items touch them (an
    # adapter that stamps a revision per item needs it).
    last_item: dict[str, int]


def batch_increments(items: Sequence[LearnItem]) -> BatchIncrements:
    """``stats_increments`` of a whole batch, counted by one ``tally`` (compiled when built):
    per item and symbol in Python, this was the batch path's hot spot."""
    frequencies, members, last_item = tally([item.events for item in items])
    for item in items:
        if item.times != 1:  # counted once by the tally; the other times - 1 learns here
            extra = item.times - 1
            for symbol in chain.from_iterable(item.events):
                frequencies[symbol] += extra
            for symbol in dict.fromkeys(chain.from_iterable(item.events)):
                members[symbol] += extra
    totals = Totals(
        sum(item.times for item in items), sum(frequencies.values()), sum(members.values())
    )
    return BatchIncrements(frequencies, members, totals, last_item)


def add_totals(totals: Totals, more: Totals) -> Totals:
    return Totals(
        totals.pattern_frequencies + more.pattern_frequencies,
        totals.symbol_frequencies + more.symbol_frequencies,
        totals.symbols_in_patterns + more.symbols_in_patterns,
    )


def derived_statistics(
    patterns: Iterable[PatternRecord],
) -> tuple[dict[str, tuple[int, int]], Totals]:
    """Symbol statistics and totals as learning each pattern ``frequency`` times gives."""
    symbols: dict[str, tuple[int, int]] = {}
    totals = Totals()
    for record in patterns:
        item = LearnItem(record.name, record.events, times=record.frequency)
        increments, more = stats_increments(item)
        for symbol, frequency in increments.items():
            old = symbols.get(symbol, (0, 0))
            symbols[symbol] = (old[0] + frequency, old[1] + item.times)
        totals = add_totals(totals, more)
    return symbols, totals


def check_update(
    frequency: int, emotives: Sequence[Mapping[str, float]], persistence: int
) -> tuple[Mapping[str, float], ...]:
    """Validate an update-pattern request (§5): frequency ≥ 0, window ≤ persistence."""
    if isinstance(frequency, bool) or not isinstance(frequency, int) or frequency < 0:
        raise ValidationError("frequency must be an integer ≥ 0", field="frequency")
    if len(emotives) > persistence:
        raise ValidationError(
            f"emotives list has {len(emotives)} entries, more than persistence {persistence}",
            field="emotives",
        )
    for position, item in enumerate(emotives):
        if not isinstance(item, Mapping) or not all(
            _is_emotive(name, value) for name, value in item.items()
        ):
            raise ValidationError(
                f"emotives[{position}] must map non-empty names to finite numbers"
                f" within ±{EMOTIVE_MAGNITUDE_LIMIT:g}",
                field="emotives",
            )
    return tuple(dict(item) for item in emotives)


def _is_emotive(name: object, value: object) -> bool:
    # Same rule as observed emotives (§2.1).
    return isinstance(name, str) and bool(name) and is_emotive_value(value)
