"""One contract suite for the ``KnowledgeBase`` port, run unchanged against every adapter.

Adapters: in-memory (the reference), SQLite (a real file), MongoDB through ``mongomock``,
and a real MongoDB when ``KATO_TEST_MONGO_URL`` is set (that parameter does not exist
otherwise). ``Backend.open`` gives a second handle on the same store, as another process
or a restarted one would have.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mongomock
import pymongo
import pytest

from kato.core.genes import Genes
from kato.core.hashing import pattern_hash
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.engine.node import Node
from kato.engine.ports import (
    ChangeSet,
    Events,
    KnowledgeBase,
    LearnItem,
    PatternRecord,
    SymbolStats,
    Totals,
    TrainingFigures,
)
from kato.engine.records import batch_increments
from kato.engine.session_state import SessionState
from kato.service import knowledge_base
from kato.storage import mongo_kb, sqlite_kb
from kato.storage.mongo_kb import MongoKnowledgeBase
from kato.storage.sqlite_db import SCHEMA_VERSION
from kato.storage.sqlite_kb import SQLiteKnowledgeBase
from tests.conformance_cases import GOLDEN, golden, prediction_mismatches, scenarios

MONGO_URL = os.environ.get("KATO_TEST_MONGO_URL")


@dataclass
class Backend:
    name: str
    open: Callable[[], KnowledgeBase]


def _memory(tmp_path: Path) -> Iterator[Backend]:
    shared = InMemoryKnowledgeBase()
    yield Backend("memory", lambda: shared)


def _sqlite(tmp_path: Path) -> Iterator[Backend]:
    path = tmp_path / "kato.sqlite3"
    yield Backend("sqlite", lambda: SQLiteKnowledgeBase(path, "node_kato"))


def _mongomock(tmp_path: Path) -> Iterator[Backend]:
    client: Any = mongomock.MongoClient()
    yield Backend("mongomock", lambda: MongoKnowledgeBase(client, "node_kato"))


def _mongodb(tmp_path: Path) -> Iterator[Backend]:
    assert MONGO_URL is not None
    kb_id = f"kato_test_{uuid.uuid4().hex[:12]}"
    opened: list[KnowledgeBase] = []

    def open_kb() -> KnowledgeBase:
        opened.append(MongoKnowledgeBase(MONGO_URL, kb_id))
        return opened[-1]

    yield Backend("mongodb", open_kb)
    for kb in opened:
        kb.close()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(MONGO_URL)
    client.drop_database(kb_id)
    client.close()


BACKENDS = {"memory": _memory, "sqlite": _sqlite, "mongomock": _mongomock}
if MONGO_URL:
    BACKENDS["mongodb"] = _mongodb


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    yield from BACKENDS[request.param](tmp_path)


@pytest.fixture(params=[name for name in BACKENDS if name != "memory"])
def persistent_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The adapters that outlive their handle (the in-memory one is process-local)."""
    yield from BACKENDS[request.param](tmp_path)


@pytest.fixture
def kb(backend: Backend) -> Iterator[KnowledgeBase]:
    knowledge_base = backend.open()
    yield knowledge_base
    knowledge_base.close()


def events_of(*events: str) -> Events:
    return tuple(tuple(event.split()) for event in events)


def name_of(events: Events) -> str:
    return hashlib.sha1(repr(events).encode()).hexdigest()


def learn(
    kb: KnowledgeBase, *events: str, emotives: dict[str, float] | None = None, persistence: int = 5
) -> PatternRecord:
    sequence = events_of(*events)
    return kb.learn(name_of(sequence), sequence, emotives, persistence)


def symbols_of(changes: ChangeSet) -> dict[str, tuple[int, int]]:
    return {s.name: (s.frequency, s.pattern_member_frequency) for s in changes.symbols}


def patterns_of(changes: ChangeSet) -> dict[str, PatternRecord]:
    return {p.name: p for p in changes.patterns}


# -- learn -------------------------------------------------------------------------------


def test_new_pattern_is_stored_with_frequency_one(kb: KnowledgeBase) -> None:
    record = learn(kb, "a b", "c", emotives={"joy": 0.5})
    assert record == PatternRecord(
        name_of(events_of("a b", "c")), (("a", "b"), ("c",)), 1, ({"joy": 0.5},)
    )
    assert kb.get_pattern(record.name) == record
    assert kb.pattern_count() == 1
    assert record.to_dict()["name"] == "PTRN|" + record.name


def test_relearn_increments_frequency_and_rolls_the_emotive_window(kb: KnowledgeBase) -> None:
    for value in range(1, 5):
        record = learn(kb, "a", "b", emotives={"joy": float(value)}, persistence=3)
    assert record.frequency == 4
    assert record.emotives == ({"joy": 2.0}, {"joy": 3.0}, {"joy": 4.0})
    assert kb.get_pattern(record.name) == record
    assert kb.pattern_count() == 1


def test_pattern_first_learned_without_emotives_stores_empty_list_then_appends(
    kb: KnowledgeBase,
) -> None:
    """Decision D7."""
    first = learn(kb, "a", "b")
    assert first.emotives == ()
    learn(kb, "a", "b", emotives=None)
    second = learn(kb, "a", "b", emotives={"fear": -1.0, "joy": 0.25})
    assert second.frequency == 3
    assert second.emotives == ({"fear": -1.0, "joy": 0.25},)


def test_symbol_statistics_and_totals_follow_semantics_3_3(kb: KnowledgeBase) -> None:
    learn(kb, "a b", "a c")  # a twice: frequency +2, member frequency +1
    learn(kb, "a b", "a c")
    learn(kb, "b", "d")
    symbols = symbols_of(kb.changes_since(-1))
    assert symbols == {"a": (4, 2), "b": (3, 3), "c": (2, 2), "d": (1, 1)}
    assert kb.totals() == Totals(
        pattern_frequencies=3, symbol_frequencies=10, symbols_in_patterns=8
    )
    assert kb.totals().symbols_in_patterns == sum(pmf for _, pmf in symbols.values())


def test_client_data_with_operator_like_names_round_trips(kb: KnowledgeBase) -> None:
    record = learn(kb, "$gt a.b", "{'$ne': 1}", emotives={"$where": 1.0, "x.y": -2.0})
    assert kb.get_pattern(record.name) == record
    assert record.events == (("$gt", "a.b"), ("{'$ne':", "1}"))
    assert record.emotives == ({"$where": 1.0, "x.y": -2.0},)
    assert set(symbols_of(kb.changes_since(-1))) == {"$gt", "a.b", "{'$ne':", "1}"}


# -- get / delete / update ---------------------------------------------------------------


def test_unknown_or_malformed_names_are_absent(kb: KnowledgeBase) -> None:
    learn(kb, "a", "b")
    revision = kb.revision()
    for name in ("0" * 40, "not-a-hash", "PTRN|" + "0" * 40):
        assert kb.get_pattern(name) is None
        assert kb.delete_pattern(name) is False
        assert kb.update_pattern(name, 3, []) is None
    assert kb.revision() == revision


def test_delete_removes_the_pattern_but_keeps_statistics(kb: KnowledgeBase) -> None:
    record = learn(kb, "a", "b")
    kept = learn(kb, "c", "d")
    totals = kb.totals()
    assert kb.delete_pattern(record.name) is True
    assert kb.get_pattern(record.name) is None
    assert kb.get_pattern(kept.name) == kept
    assert kb.pattern_count() == 1
    assert kb.totals() == totals
    assert symbols_of(kb.changes_since(-1))["a"] == (1, 1)
    assert kb.delete_pattern(record.name) is False


def test_relearn_after_delete_starts_a_new_record(kb: KnowledgeBase) -> None:
    record = learn(kb, "a", "b", emotives={"joy": 1.0})
    learn(kb, "a", "b")
    kb.delete_pattern(record.name)
    again = learn(kb, "a", "b")
    assert again.frequency == 1 and again.emotives == ()
    assert kb.pattern_count() == 1


def test_update_sets_frequency_and_emotives(kb: KnowledgeBase) -> None:
    record = learn(kb, "a", "b", emotives={"joy": 1.0})
    updated = kb.update_pattern(record.name, 7, [{"joy": 2.0}, {"calm": 0.5}])
    assert updated == PatternRecord(record.name, record.events, 7, ({"joy": 2.0}, {"calm": 0.5}))
    assert kb.get_pattern(record.name) == updated
    assert kb.totals().pattern_frequencies == 1  # an update is not a learn
    relearned = learn(kb, "a", "b", emotives={"joy": 3.0}, persistence=2)
    assert relearned.frequency == 8
    assert relearned.emotives == ({"calm": 0.5}, {"joy": 3.0})


# -- clear / archive ---------------------------------------------------------------------


def test_clear_removes_everything(kb: KnowledgeBase) -> None:
    record = learn(kb, "a", "b")
    kb.archive_predictions("obs-1", [{"name": record.name}])
    kb.clear()
    assert kb.get_pattern(record.name) is None
    assert kb.pattern_count() == 0
    assert kb.totals() == Totals()
    assert kb.archived_predictions("obs-1") == []
    everything = kb.changes_since(-1)
    assert everything.patterns == () and everything.symbols == ()
    assert learn(kb, "a", "b").frequency == 1
    assert symbols_of(kb.changes_since(-1)) == {"a": (1, 1), "b": (1, 1)}


def test_archive_round_trips_predictions_by_unique_id(kb: KnowledgeBase) -> None:
    predictions = [{"name": "x" * 40, "emotives": {"$gt": 1.5}, "past": [["a"]], "snr": 0.25}]
    kb.archive_predictions("obs-1", predictions)
    kb.archive_predictions("obs-2", [])
    assert kb.archived_predictions("obs-1") == [{"unique_id": "obs-1", "predictions": predictions}]
    assert kb.archived_predictions("obs-2") == [{"unique_id": "obs-2", "predictions": []}]
    assert kb.archived_predictions("obs-3") == []


# -- revisions and catch-up --------------------------------------------------------------


def test_revision_grows_on_every_change_and_only_then(kb: KnowledgeBase) -> None:
    seen = [kb.revision()]
    record = learn(kb, "a", "b")
    seen.append(kb.revision())
    learn(kb, "a", "b")
    seen.append(kb.revision())
    kb.update_pattern(record.name, 5, [])
    seen.append(kb.revision())
    kb.delete_pattern(record.name)
    seen.append(kb.revision())
    kb.clear()
    seen.append(kb.revision())
    assert seen == sorted(set(seen))
    kb.get_pattern(record.name)
    kb.changes_since(-1)
    kb.archive_predictions("obs-1", [])
    assert kb.revision() == seen[-1]


def test_changes_since_is_incremental(kb: KnowledgeBase) -> None:
    old = learn(kb, "a", "b")
    gone = learn(kb, "c", "d")
    before = kb.revision()
    new = learn(kb, "a", "e")
    kb.delete_pattern(gone.name)
    changes = kb.changes_since(before)
    assert changes.reset is False
    assert changes.revision == kb.revision()
    assert patterns_of(changes) == {new.name: new}
    assert changes.deleted == (gone.name,)
    assert symbols_of(changes) == {"a": (2, 2), "e": (1, 1)}
    assert changes.totals == kb.totals()
    assert old.name not in patterns_of(changes)
    nothing = kb.changes_since(kb.revision())
    assert (nothing.patterns, nothing.deleted, nothing.symbols) == ((), (), ())


def test_changes_since_reports_a_pattern_relearned_after_delete_as_present(
    kb: KnowledgeBase,
) -> None:
    record = learn(kb, "a", "b")
    before = kb.revision()
    kb.delete_pattern(record.name)
    learn(kb, "a", "b")
    changes = kb.changes_since(before)
    assert record.name in patterns_of(changes)
    assert record.name not in changes.deleted


def test_changes_since_a_revision_before_clear_is_a_reset(kb: KnowledgeBase) -> None:
    learn(kb, "a", "b")
    before = kb.revision()
    kb.clear()
    kept = learn(kb, "c", "d")
    changes = kb.changes_since(before)
    assert changes.reset is True
    assert patterns_of(changes) == {kept.name: kept}
    assert symbols_of(changes) == {"c": (1, 1), "d": (1, 1)}
    assert changes.totals == Totals(1, 2, 2)
    assert kb.changes_since(kb.revision()).reset is False
    assert kb.changes_since(-1).reset is True


def test_catching_up_step_by_step_equals_a_full_load(kb: KnowledgeBase) -> None:
    """A cache fed every ChangeSet ends where a cache loaded once ends."""
    cache: dict[str, Any] = {"revision": -1, "patterns": {}, "symbols": {}}

    def catch_up() -> None:
        changes = kb.changes_since(cache["revision"])
        if changes.reset:
            cache["patterns"], cache["symbols"] = {}, {}
        cache["patterns"].update(patterns_of(changes))
        for name in changes.deleted:
            cache["patterns"].pop(name)
        cache["symbols"].update(symbols_of(changes))
        cache["revision"] = changes.revision

    steps: list[Callable[[], object]] = [
        lambda: learn(kb, "a", "b"),
        lambda: learn(kb, "b", "c", emotives={"joy": 1.0}),
        lambda: learn(kb, "a", "b"),
        lambda: kb.delete_pattern(name_of(events_of("b", "c"))),
        lambda: kb.clear(),
        lambda: learn(kb, "x", "y"),
        lambda: kb.update_pattern(name_of(events_of("x", "y")), 9, [{"calm": 1.0}]),
        lambda: learn(kb, "y", "z"),
    ]
    for step in steps:
        step()
        catch_up()
    full = kb.changes_since(-1)
    assert cache["patterns"] == patterns_of(full)
    assert cache["symbols"] == symbols_of(full)
    assert cache["revision"] == kb.revision()


def test_a_second_handle_sees_changes_at_once(backend: Backend, kb: KnowledgeBase) -> None:
    other = backend.open()
    revision = other.revision()
    record = learn(kb, "a", "b")
    assert other.revision() > revision
    assert patterns_of(other.changes_since(revision)) == {record.name: record}
    other.close()


def test_durable_across_reopen(persistent_backend: Backend) -> None:
    backend = persistent_backend
    first = backend.open()
    record = learn(first, "a", "b", emotives={"joy": 1.0})
    first.archive_predictions("obs-1", [{"name": record.name}])
    revision, totals = first.revision(), first.totals()
    first.close()
    second = backend.open()
    assert second.get_pattern(record.name) == record
    assert second.revision() == revision
    assert second.totals() == totals
    assert second.archived_predictions("obs-1") == [
        {"unique_id": "obs-1", "predictions": [{"name": record.name}]}
    ]
    second.close()


# -- SQLite shared by real processes -----------------------------------------------------

TWO_PROCESS_LEARNS = 200


def _learn_many(path: str, start: Any, count: int) -> None:
    kb = SQLiteKnowledgeBase(path, "node_kato")
    start.wait(60)  # a partner that never comes fails this worker instead of hanging it
    for step in range(count):
        learn(kb, "a b", "c", emotives={"joy": float(step)}, persistence=3)
    kb.close()


@pytest.mark.slow
def test_sqlite_two_processes_learning_the_same_pattern_count_every_learn(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "kato.sqlite3")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    workers = [
        context.Process(target=_learn_many, args=(path, start, TWO_PROCESS_LEARNS))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(60)
    finally:  # a worker that failed leaves the other at the barrier: never wait on it at exit
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    assert [worker.exitcode for worker in workers] == [0, 0]
    kb = SQLiteKnowledgeBase(path, "node_kato")
    record = kb.get_pattern(name_of(events_of("a b", "c")))
    assert record is not None
    assert record.frequency == 2 * TWO_PROCESS_LEARNS
    assert len(record.emotives) == 3
    assert kb.totals() == Totals(
        2 * TWO_PROCESS_LEARNS, 6 * TWO_PROCESS_LEARNS, 6 * TWO_PROCESS_LEARNS
    )
    assert kb.revision() == 2 * TWO_PROCESS_LEARNS
    kb.close()


def _learn_one(path: str) -> None:
    kb = SQLiteKnowledgeBase(path, "node_kato")
    learn(kb, "from", "child")
    kb.close()


@pytest.mark.slow
def test_sqlite_pattern_learned_in_another_process_reaches_changes_since(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "kato.sqlite3")
    kb = SQLiteKnowledgeBase(path, "node_kato")
    learn(kb, "a", "b")
    seen = kb.changes_since(-1).revision
    child = multiprocessing.get_context("spawn").Process(target=_learn_one, args=(path,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert kb.revision() > seen
    changes = kb.changes_since(seen)
    assert list(patterns_of(changes)) == [name_of(events_of("from", "child"))]
    assert symbols_of(changes) == {"from": (1, 1), "child": (1, 1)}
    kb.close()


def test_sqlite_threads_of_one_process_share_the_file(tmp_path: Path) -> None:
    """The service calls the store from a thread pool: one connection per thread."""
    kb = SQLiteKnowledgeBase(tmp_path / "kato.sqlite3", "node_kato")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: learn(kb, "a", "b"), range(100)))
        revisions = set(pool.map(lambda _: kb.revision(), range(20)))
    record = kb.get_pattern(name_of(events_of("a", "b")))
    assert record is not None and record.frequency == 100
    assert revisions == {100}
    kb.close()


def test_sqlite_nodes_sharing_one_file_are_isolated(tmp_path: Path) -> None:
    path = tmp_path / "kato.sqlite3"
    alice, bob = SQLiteKnowledgeBase(path, "alice_kato"), SQLiteKnowledgeBase(path, "bob_kato")
    record = learn(alice, "a", "b")
    assert bob.get_pattern(record.name) is None
    assert (bob.revision(), bob.pattern_count(), bob.totals()) == (0, 0, Totals())
    bob.clear()
    assert alice.get_pattern(record.name) == record
    alice.close()
    bob.close()


# -- MongoDB: a learn in flight is never skipped by a catch-up ---------------------------


def test_mongo_catch_up_during_a_learn_in_flight_includes_it() -> None:
    """A reader catching up between a learn's revision bump and its stamp must still get
    the pattern (it is pending), or it would record the revision and miss it for good."""
    client: Any = mongomock.MongoClient()
    writer, reader = MongoKnowledgeBase(client, "n_kato"), MongoKnowledgeBase(client, "n_kato")
    seen_during: list[ChangeSet] = []
    bump = writer._next_revision

    def bump_then_let_the_reader_catch_up() -> int:
        revision = bump()
        seen_during.append(reader.changes_since(0))
        return revision

    writer._next_revision = bump_then_let_the_reader_catch_up  # type: ignore[method-assign]
    record = learn(writer, "a", "b")
    (during,) = seen_during
    assert during.revision == 1
    assert patterns_of(during) == {record.name: record}
    assert symbols_of(during) == {"a": (1, 1), "b": (1, 1)}
    after = reader.changes_since(during.revision)
    assert (after.patterns, after.symbols) == ((), ())  # stamped: no longer pending


# -- a node on a stored knowledge base predicts like a node in memory ---------------------


def _replay_in_lockstep(scenario: dict[str, Any], stored: KnowledgeBase) -> list[str]:
    """Run the scenario on a memory node and a node on ``stored``; list every difference
    between the two, and between the stored node and the golden expectation."""
    genes = Genes.from_mapping(golden()["genes"])
    reference, candidate = Node("c", InMemoryKnowledgeBase()), Node("c", stored)
    sessions = {id(reference): SessionState(), id(candidate): SessionState()}
    problems: list[str] = []
    for step, op in enumerate(scenario["ops"]):
        where = f"{scenario['id']} op {step} {op['op']}"
        results: list[Any] = []
        for node in (reference, candidate):
            session = sessions[id(node)]
            if op["op"] == "observe":
                observation = Observation.parse(op["strings"], op["vectors"], op["emotives"])
                results.append(node.observe(session, observation, genes).auto_learned_pattern)
            elif op["op"] == "learn" and session.stm:
                results.append(node.learn(session, genes))
            elif op["op"] == "clear_stm":
                node.clear_stm(session)
            elif op["op"] == "predictions":
                results.append(node.predictions(session, genes))
        if results and results[0] != results[1]:
            problems.append(f"{where}: stored node differs from memory node")
        if op["op"] == "predictions":
            expected = op["expect"]["predictions"]
            problems += [f"{where}: {p}" for p in prediction_mismatches(results[1], expected)]
    return problems


@pytest.mark.skipif(
    not GOLDEN.exists(), reason=f"conformance data not found at {GOLDEN} (../shared absent)"
)
@pytest.mark.parametrize("adapter", ["sqlite", "mongomock"])
def test_node_on_stored_knowledge_base_predicts_like_memory(adapter: str, tmp_path: Path) -> None:
    path, client = tmp_path / "kato.sqlite3", mongomock.MongoClient()  # type: ignore[var-annotated]
    problems: list[str] = []
    for number, scenario in enumerate(scenarios()):
        kb_id = f"scenario_{number}_kato"
        stored: KnowledgeBase = (
            SQLiteKnowledgeBase(path, kb_id)
            if adapter == "sqlite"
            else MongoKnowledgeBase(client, kb_id)
        )
        problems += _replay_in_lockstep(scenario, stored)
        stored.close()
    assert scenarios(), "no conformance scenarios loaded"
    assert problems == []


def test_the_first_node_id_to_claim_a_knowledge_base_owns_it(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    assert first.claim_owner("alice") == "alice"
    assert second.claim_owner("alice") == "alice"
    assert second.claim_owner("mallory") == "alice"
    first.close()
    second.close()


# -- issue 11: metadata, batch learning, browsing, replace, export / import ---------------

STATE_SCRIPT: list[tuple[str, dict[str, tuple[str, ...]], dict[str, float] | None]] = [
    ("a b|c", {"source": ("web",)}, {"joy": 0.5}),
    ("a|d", {}, None),
    ("a b|c", {"source": ("app", "web"), "user": ("7",)}, {"joy": 1.0}),
    ("x|y|x", {}, {"fear": -1.0}),
    ("a|d", {"user": ("8",)}, None),
]


def script_items() -> list[LearnItem]:
    items = []
    for text, metadata, emotives in STATE_SCRIPT:
        events = events_of(*text.split("|"))
        window = () if emotives is None else (emotives,)
        items.append(LearnItem(pattern_hash(events), events, window, metadata))
    return items


def state_of(kb: KnowledgeBase) -> tuple[Any, ...]:
    """Everything observable of a knowledge base, in a canonical order."""
    return (
        list(kb.iter_patterns()),
        list(kb.iter_symbols()),
        kb.totals(),
        kb.pattern_count(),
        kb.symbol_count(),
    )


def reference_state(operate: Callable[[KnowledgeBase], object]) -> tuple[Any, ...]:
    memory = InMemoryKnowledgeBase()
    operate(memory)
    return state_of(memory)


def test_metadata_is_unioned_on_relearn_and_empty_without(kb: KnowledgeBase) -> None:
    """Semantics §12.5: sorted distinct values per key; never part of the name."""
    events = events_of("a", "b")
    first = kb.learn(name_of(events), events, None, 5)
    assert first.metadata == {}
    kb.learn(name_of(events), events, None, 5, {"k": ("z", "b")})
    again = kb.learn(name_of(events), events, None, 5, {"k": ("a", "b"), "j": ("1",)})
    assert again.name == name_of(events)
    assert dict(again.metadata) == {"j": ("1",), "k": ("a", "b", "z")}
    assert kb.get_pattern(again.name) == again
    assert "metadata" not in again.to_dict()  # the v1/v2 pattern shape is unchanged
    assert again.to_record()["metadata"] == {"j": ["1"], "k": ["a", "b", "z"]}


def test_learn_many_equals_one_learn_at_a_time(kb: KnowledgeBase) -> None:
    items = script_items()
    records = kb.learn_many(items, persistence=5)
    assert [record.name for record in records] == [item.name for item in items]
    assert records[2].frequency == 2  # the same name twice in one batch counts twice

    def one_by_one(memory: KnowledgeBase) -> None:
        for item in items:
            memory.learn(
                item.name,
                item.events,
                item.emotives[0] if item.emotives else None,
                5,
                item.metadata,
            )

    assert state_of(kb) == reference_state(one_by_one)


def test_learn_many_given_the_counted_increments_stores_the_same(kb: KnowledgeBase) -> None:
    items = script_items()
    kb.learn_many(items, 5, batch_increments(items))  # as Node.learn_many hands them on
    assert state_of(kb) == reference_state(lambda memory: memory.learn_many(items, 5))


def test_learn_many_with_times_counts_as_that_many_learns(kb: KnowledgeBase) -> None:
    events = events_of("a a", "b")
    kb.learn_many([LearnItem(name_of(events), events, ({"joy": 1.0},), times=3)], 5)

    def three_learns(memory: KnowledgeBase) -> None:
        memory.learn(name_of(events), events, None, 5)
        memory.learn(name_of(events), events, None, 5)
        memory.learn(name_of(events), events, {"joy": 1.0}, 5)

    assert state_of(kb) == reference_state(three_learns)
    assert kb.totals() == Totals(3, 9, 6)


def test_update_and_delete_keep_statistics_and_totals_identically(kb: KnowledgeBase) -> None:
    items = script_items()

    def operate(target: KnowledgeBase) -> None:
        target.learn_many(items, 5)
        target.update_pattern(items[0].name, 9, [{"joy": 2.0}], {"tag": ("fixed",)})
        target.update_pattern(items[1].name, 0, [])  # metadata None: kept
        target.delete_pattern(items[3].name)

    operate(kb)
    assert state_of(kb) == reference_state(operate)
    assert dict(kb.get_pattern(items[0].name).metadata) == {"tag": ("fixed",)}  # type: ignore[union-attr]
    assert dict(kb.get_pattern(items[1].name).metadata) == {"user": ("8",)}  # type: ignore[union-attr]
    assert kb.totals() == Totals(5, 13, 12)  # as learned: edits never change totals (§5)


def test_iterators_order_and_resume_after_a_key(kb: KnowledgeBase) -> None:
    kb.learn_many(script_items(), 5)
    by_name = list(kb.iter_patterns("name"))
    assert [r.name for r in by_name] == sorted(r.name for r in by_name)
    by_frequency = list(kb.iter_patterns("frequency"))
    assert [(-r.frequency, r.name) for r in by_frequency] == sorted(
        (-r.frequency, r.name) for r in by_frequency
    )
    first = by_frequency[0]
    assert list(kb.iter_patterns("frequency", (first.frequency, first.name))) == by_frequency[1:]
    assert list(kb.iter_patterns("name", (0, by_name[0].name))) == by_name[1:]
    assert [r.frequency for r in kb.iter_patterns(min_frequency=2)] == [2, 2]
    symbols = list(kb.iter_symbols("frequency"))
    assert symbols[0] == kb.get_symbol("a") and kb.get_symbol("nope") is None
    assert list(kb.iter_symbols("name", (0, "b"))) == [s for s in kb.iter_symbols() if s.name > "b"]
    assert kb.symbol_count() == len(symbols) == 6


def test_iterators_read_past_one_chunk(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of 3 rows instead of 1,000: the same paging code, on a small knowledge base.
    monkeypatch.setattr(sqlite_kb, "_CHUNK", 3)
    monkeypatch.setattr(mongo_kb, "_CHUNK", 3)
    items = []
    for number in range(20):
        events = events_of(f"s{number}", f"t{number % 7}")
        items.append(LearnItem(pattern_hash(events), events, times=1 + number % 4))
    kb.learn_many(items, 5)
    names = [r.name for r in kb.iter_patterns()]
    assert names == sorted(item.name for item in items)
    by_frequency = [(-r.frequency, r.name) for r in kb.iter_patterns("frequency")]
    assert by_frequency == sorted((-item.times, item.name) for item in items)
    assert len(list(kb.iter_symbols("frequency"))) == 27
    assert [s.name for s in kb.iter_symbols()] == sorted(s.name for s in kb.iter_symbols())


def test_replace_swaps_everything_and_keeps_a_higher_revision(kb: KnowledgeBase) -> None:
    kb.learn_many(script_items(), 5)
    kb.archive_predictions("u1", [{"name": "x"}])
    events = events_of("p", "q")
    record = PatternRecord(name_of(events), events, 4, ({"joy": 1.0},), {"k": ("v",)})
    stats = [SymbolStats("p", 7, 4), SymbolStats("q", 5, 4)]
    assert kb.replace([record], stats, Totals(4, 12, 8), revision=1000) == 1
    assert state_of(kb) == ([record], stats, Totals(4, 12, 8), 1, 2)
    assert kb.archived_predictions("u1") == []
    assert kb.revision() >= 1000
    assert kb.changes_since(0).reset is True


def test_replace_that_fails_part_way_changes_nothing(kb: KnowledgeBase) -> None:
    kb.learn_many(script_items(), 5)
    before = state_of(kb)

    def failing() -> Iterator[PatternRecord]:
        yield from kb.iter_patterns()
        raise RuntimeError("bad line")

    with pytest.raises(RuntimeError):
        kb.replace(failing(), [], Totals())
    assert state_of(kb) == before


def test_export_then_import_gives_identical_state_and_predictions(
    backend: Backend, tmp_path: Path
) -> None:
    """The service's export/import (issue 11 req 2) on this adapter, against memory."""
    source = Node("kb-node", backend.open())
    target_kb = InMemoryKnowledgeBase()
    target = Node("kb-node", target_kb)
    source.knowledge_base.learn_many(script_items(), 5)
    source.knowledge_base.update_pattern(script_items()[1].name, 3, [])
    source.knowledge_base.delete_pattern(script_items()[3].name)
    exported = list(knowledge_base.export_lines(source))
    assert knowledge_base.import_lines(target, exported, "replace", 5, 1024) == 2
    assert list(knowledge_base.export_lines(target))[1:] == exported[1:]
    assert state_of(target_kb) == state_of(source.knowledge_base)
    genes = Genes()
    stm = SessionState()
    stm.stm = [["a"], ["b"]]
    assert target.predictions(stm, genes) == source.predictions(stm, genes)
    # Merge adds as learning would: frequencies double, windows append.
    knowledge_base.import_lines(target, exported, "merge", 5, 1024)
    merged = target_kb.get_pattern(script_items()[0].name)
    assert merged is not None and merged.frequency == 4 and len(merged.emotives) == 4


def test_sqlite_file_of_schema_1_is_migrated_and_reads_empty_metadata(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE kb_patterns (kb TEXT NOT NULL, name TEXT NOT NULL, events TEXT NOT NULL,"
        " frequency INTEGER NOT NULL, emotives TEXT NOT NULL, rev INTEGER NOT NULL,"
        " PRIMARY KEY (kb, name)) WITHOUT ROWID;"
        f"INSERT INTO kb_patterns VALUES ('n', '{'a' * 40}', '[[\"a\"],[\"b\"]]', 2, '[]', 1);"
        "PRAGMA user_version = 1;"
    )
    old.close()
    kb = SQLiteKnowledgeBase(path, "n")
    record = kb.get_pattern("a" * 40)
    assert record == PatternRecord("a" * 40, (("a",), ("b",)), 2, (), {})
    events = (("a",), ("b",))
    kb.learn("a" * 40, events, None, 5, {"k": ("v",)})
    assert dict(kb.get_pattern("a" * 40).metadata) == {"k": ("v",)}  # type: ignore[union-attr]
    kb.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert check.execute("SELECT count(*) FROM kb_training").fetchone()[0] == 0


def test_sqlite_file_of_schema_3_gets_the_rowid_patterns_table_with_its_rows(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "v3.sqlite3"
    SQLiteKnowledgeBase(path, "n").close()  # every other table as it is today
    old = sqlite3.connect(path)
    old.executescript(
        "DROP TABLE kb_patterns;"
        "CREATE TABLE kb_patterns (kb TEXT NOT NULL, name TEXT NOT NULL, events TEXT NOT NULL,"
        " frequency INTEGER NOT NULL, emotives TEXT NOT NULL, rev INTEGER NOT NULL,"
        " metadata TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (kb, name)) WITHOUT ROWID;"
        "CREATE INDEX kb_patterns_rev ON kb_patterns (kb, rev);"
        f"INSERT INTO kb_patterns VALUES ('n', '{'b' * 40}', '[[\"a\"],[\"b\"]]', 3,"
        ' \'[{"joy":1.0}]\', 2, \'{"k":["v"]}\');'
        f"INSERT INTO kb_patterns VALUES ('n', '{'a' * 40}', '[[\"c\",\"d\"]]', 1,"
        " '[]', 1, '{}');"
        "UPDATE kb_nodes SET revision = 2, pattern_count = 2;"
        "PRAGMA user_version = 3;"
    )
    old.close()
    kb = SQLiteKnowledgeBase(path, "n")
    assert kb.get_pattern("b" * 40) == PatternRecord(
        "b" * 40, (("a",), ("b",)), 3, ({"joy": 1.0},), {"k": ("v",)}
    )
    assert [r.name for r in kb.iter_patterns()] == ["a" * 40, "b" * 40]
    assert [r.name for r in kb.changes_since(1).patterns] == ["b" * 40]
    kb.learn("a" * 40, (("c", "d"),), None, 5)  # the unique (kb, name) key still upserts
    assert kb.get_pattern("a" * 40).frequency == 2  # type: ignore[union-attr]
    kb.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        table = check.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'kb_patterns'"
        ).fetchone()[0]
        assert "WITHOUT ROWID" not in table and "UNIQUE (kb, name)" in table
        indexes = {row[1] for row in check.execute("PRAGMA index_list(kb_patterns)")}
        assert "kb_patterns_rev" in indexes
        assert check.execute("SELECT count(*) FROM kb_patterns").fetchone()[0] == 2


# -- finalize-training figures (semantics §12.7) ------------------------------------------

FIGURES = TrainingFigures(1.5, 0.75, 0.123456789012345, {"a": 0.5, "$gt": 0.25, "b.c": 0.25})


def test_training_figures_round_trip_exactly_and_bump_the_revision(
    backend: Backend, kb: KnowledgeBase
) -> None:
    record = learn(kb, "a $gt", "a b.c")
    assert kb.training_figures(record.name) is None
    before = kb.revision()
    kb.store_training_figures({record.name: FIGURES})
    assert kb.revision() > before
    assert kb.training_figures(record.name) == FIGURES
    other = backend.open()  # every handle (process) reads the same figures
    assert other.training_figures(record.name) == FIGURES
    replaced = FIGURES._replace(entropy=2.0)
    kb.store_training_figures({record.name: replaced})
    assert kb.training_figures(record.name) == replaced


def test_training_figures_of_an_unknown_pattern_are_not_kept(kb: KnowledgeBase) -> None:
    kb.store_training_figures({"f" * 40: FIGURES})
    assert kb.training_figures("f" * 40) is None
    assert kb.training_figures("not-a-name") is None


def test_training_figures_go_with_delete_clear_and_replace(kb: KnowledgeBase) -> None:
    first, second = learn(kb, "a", "b"), learn(kb, "c", "d")
    kb.store_training_figures({first.name: FIGURES, second.name: FIGURES})
    assert kb.delete_pattern(first.name)
    assert kb.training_figures(first.name) is None
    assert kb.training_figures(second.name) == FIGURES
    learn(kb, "a", "b")  # re-learned after its delete: no figures until trained again
    assert kb.training_figures(first.name) is None
    kb.clear()
    assert kb.training_figures(second.name) is None
    third = learn(kb, "e", "f")
    kb.store_training_figures({third.name: FIGURES})
    kb.replace([third], [], kb.totals())
    assert kb.training_figures(third.name) is None
