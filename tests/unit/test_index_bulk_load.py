"""The vectorised bulk load of the pattern index (issue 10 req 5) builds exactly what
appending the patterns one by one builds: same slots, symbol ids, flat arrays, bounds,
posting lists, and so the same predictions."""

from __future__ import annotations

import random

import numpy as np

from kato.core.hashing import pattern_hash
from kato.engine.index import _BULK, PatternIndex
from kato.engine.ports import ChangeSet, PatternRecord, SymbolStats, Totals


def _records(count: int, seed: int) -> list[PatternRecord]:
    rng = random.Random(seed)
    symbols = [f"s{index}" for index in range(40)] + ["é", "日本", ""]
    records = []
    for _ in range(count):
        events = tuple(
            tuple(sorted(rng.sample(symbols, rng.randint(1, 4)))) for _ in range(rng.randint(1, 6))
        )
        if sum(map(len, events)) < 2:
            events += (("pad",),)
        # Repeated symbols inside one pattern: a posting counts them.
        if rng.random() < 0.3:
            events += (events[0],)
        records.append(PatternRecord(pattern_hash(events), events, rng.randint(1, 9)))
    return list({record.name: record for record in records}.values())


def _state(index: PatternIndex) -> dict[str, object]:
    postings = [
        (bytes(entry.slots), bytes(entry.counts))
        for entry in index._postings  # noqa: SLF001
    ]
    return {
        "slots": dict(index._slot_of),  # noqa: SLF001
        "ids": dict(index._symbol_ids),  # noqa: SLF001
        "flat": bytes(index._flat),  # noqa: SLF001
        "flat_offsets": bytes(index._flat_offsets),  # noqa: SLF001
        "bounds": bytes(index._bounds),  # noqa: SLF001
        "bounds_offsets": bytes(index._bounds_offsets),  # noqa: SLF001
        "frequencies": bytes(index._frequencies),  # noqa: SLF001
        "lengths": index._lengths[: len(index._names)].tolist(),  # noqa: SLF001
        "live": index._live[: len(index._names)].tolist(),  # noqa: SLF001
        "postings": postings,
    }


def _changes(records: list[PatternRecord], revision: int, reset: bool = False) -> ChangeSet:
    return ChangeSet(
        revision=revision,
        reset=reset,
        patterns=tuple(records),
        deleted=(),
        # As a store reports them: the statistics of the symbols the patterns hold.
        symbols=tuple(
            SymbolStats(symbol, 1, 1)
            for symbol in dict.fromkeys(
                symbol for record in records for event in record.events for symbol in event
            )
        ),
        totals=Totals(len(records), 10, 5),
    )


def test_bulk_load_equals_one_by_one() -> None:
    records = _records(500, seed=3)
    assert len(records) >= _BULK
    bulk, single = PatternIndex(), PatternIndex()
    bulk.apply(_changes(records, 1, reset=True))  # one catch-up: the vectorised path
    for revision, record in enumerate(records, 1):  # catch-ups of one pattern each
        single.apply(_changes([record], revision))
    assert _state(bulk) == _state(single)
    for record in records[:20]:
        view = bulk.get(record.name)
        assert view is not None
        assert view.events == record.events
        assert view.flat == tuple(symbol for event in record.events for symbol in event)


def test_bulk_after_one_by_one_and_updates_in_the_same_catch_up() -> None:
    records = _records(300, seed=5)
    first, rest = records[:10], records[10:]
    bulk, single = PatternIndex(), PatternIndex()
    for index in (bulk, single):
        index.apply(_changes(first, 1))
    relearned = PatternRecord(first[0].name, first[0].events, first[0].frequency + 1)
    bulk.apply(_changes([relearned, *rest], 2))
    single.apply(_changes([relearned], 2))
    for record in rest:
        single.apply(_changes([record], 3))
    assert _state(bulk) == _state(single)
    assert bulk._frequencies[0] == first[0].frequency + 1  # noqa: SLF001
    view = bulk.get(first[0].name)
    assert view is not None and view.frequency == first[0].frequency + 1


def test_deleted_slots_are_not_candidates_after_a_bulk_load() -> None:
    records = _records(200, seed=9)
    index = PatternIndex()
    index.apply(_changes(records, 1, reset=True))
    gone = records[0]
    index.apply(
        ChangeSet(revision=2, reset=False, patterns=(), deleted=(gone.name,), symbols=(),
                  totals=Totals(1, 1, 1))
    )  # fmt: skip
    state = list(gone.events[0]) + list(gone.events[-1])
    assert 0 not in set(np.asarray(index.candidates(state, 0.01)).tolist())
    assert index.get(gone.name) is None
    assert index.pattern_count == len(records) - 1
