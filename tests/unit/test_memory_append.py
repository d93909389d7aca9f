"""The memory store's one-step observe (``MemorySessionStore.append_observation``) against
the locked path: random sequences of requests on two services, one of them forced down the
locked path, answer the same and leave the same saved sessions.

The sequences mix observes (emotives of every kind, empty observations, metadata, symbols
that JSON escapes) with learns, STM clears, configuration changes, expiry (and a session of
the same id created again), and requests racing for the session's lock; the caps are small
so the STM and byte caps and auto-learning are reached again and again.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import pytest

from kato.config import ResilienceSettings, Settings
from kato.core.errors import KatoError
from kato.core.observation import Observation
from kato.engine.memory_kb import InMemoryKnowledgeBase
from kato.resilience import Resilience
from kato.resilience.session_store import BreakerGuardedSessionStore
from kato.service.fast_observe import fast_change
from kato.service.kato_service import KatoService
from kato.sessions.memory_store import MemorySessionStore
from kato.sessions.models import Session
from kato.sessions.redis_observe import AppendedObservation, AppendOutcome, ObservationLimits

NODE = "node-diff"
SESSION_ID = "session-diff"
SYMBOLS = ["a", "b", "c", "d", "long-symbol-" * 3, 'q"uote', "back\\slash", "ünï", "\U0001f600"]
TIMESTAMPS = ("created_at", "expires_at", "last_accessed")


@dataclass
class Side:
    service: KatoService
    store: MemorySessionStore
    applied: int = 0  # one-step observes applied


def side(settings: Settings, one_step: bool) -> Side:
    bases: dict[str, InMemoryKnowledgeBase] = {}

    def open_storage(node_id: str) -> tuple[InMemoryKnowledgeBase, None]:
        return bases.setdefault(node_id, InMemoryKnowledgeBase()), None

    store = MemorySessionStore()
    service = KatoService(settings, store, open_storage)
    result = Side(service, store)
    if not one_step:
        service._appender = None
        return result
    assert service._appender is store
    append = store.append_observation

    async def counting(
        session_id: str, change: AppendedObservation, limits: ObservationLimits
    ) -> AppendOutcome:
        outcome = await append(session_id, change, limits)
        result.applied += outcome.applied
        bound = store._size_bounds.get(session_id)
        stored = store._sessions.get(session_id)
        if bound is not None and stored is not None:  # the bound stays an upper bound
            assert bound.size >= stored.encoded_size()
        return outcome

    store.append_observation = counting  # type: ignore[method-assign]
    return result


def random_observation(rng: random.Random) -> Observation:
    strings = rng.sample(SYMBOLS, rng.choice([0, 1, 1, 2, 3]))
    emotives: dict[str, Any] = {}
    for _ in range(rng.choice([0, 0, 1, 2])):
        emotives[rng.choice(["joy", "fear", "ça"])] = rng.choice(
            [rng.uniform(-1, 1), rng.randint(-5, 5), 1e-300 * rng.random(), 12345.678]
        )
    observation = Observation.parse(strings, None, emotives)
    if rng.random() < 0.1:
        return Observation(observation.strings, (), observation.emotives, {"k": rng.random()})
    return observation


async def apply(side: Side, operation: tuple[Any, ...]) -> Any:
    """The answer of one operation (an error as its type and message)."""
    service = side.service
    kind = operation[0]
    try:
        if kind == "observe":
            _, outcome = await service.observe(SESSION_ID, operation[1], "obs-1")
            return ("observe", outcome)
        if kind == "learn":
            return (await service.learn(SESSION_ID))[1]
        if kind == "clear-stm":
            await service.clear_stm(SESSION_ID)
            return "cleared"
        if kind == "config":
            return (await service.update_config(SESSION_ID, operation[1])).model_dump()
        if kind == "race":  # a learn holds the lock while the observe arrives
            learned, (_, outcome) = await asyncio.gather(
                service.learn(SESSION_ID), service.observe(SESSION_ID, operation[1], "obs-2")
            )
            return ("race", learned[1], outcome)
        if kind == "expire":  # as if the clock had passed its expiry
            session = side.store._sessions.get(SESSION_ID)
            if session is None:
                return "absent"
            session.expires_at = time.time() - 1
            return "expired"
        if kind == "create":
            await service.create_session(NODE, ttl_seconds=3600, session_id=SESSION_ID)
            return "created"
    except KatoError as error:
        return (type(error).__name__, str(error))
    raise AssertionError(kind)


def random_operation(rng: random.Random) -> tuple[Any, ...]:
    roll = rng.random()
    if roll < 0.8:
        return ("observe", random_observation(rng))
    if roll < 0.85:
        return ("learn",)
    if roll < 0.9:
        return ("clear-stm",)
    if roll < 0.93:
        return ("race", random_observation(rng))
    if roll < 0.96:
        return ("config", {"max_pattern_length": rng.choice([0, 0, 3, 5])})
    if roll < 0.98:
        return ("expire",)
    return ("create",)


def stored(side: Side) -> dict[str, Any] | None:
    session: Session | None = side.store._sessions.get(SESSION_ID)
    if session is None:
        return None
    fields = session.to_dict()
    for name in TIMESTAMPS:
        del fields[name]
    return fields


SETTINGS = [
    {},
    {"session": {"max_stm_size": 5, "stm_overflow": "trim"}},
    {"session": {"max_stm_size": 5, "stm_overflow": "reject", "max_session_bytes": 1500}},
    {"session": {"max_session_bytes": 1024}},
    {"session": {"max_session_bytes": 2000}, "genes": {"max_pattern_length": 4}},
    {"genes": {"max_pattern_length": 3, "stm_mode": "ROLLING"}},
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "sections", SETTINGS, ids=["defaults", "trim", "reject", "bytes", "bytes-learn", "rolling"]
)
async def test_one_step_and_locked_observes_answer_and_store_the_same(
    sections: dict[str, Any], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One clock for both sides: a timestamp's JSON width counts towards the byte cap.
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.5)
    settings = Settings.model_validate(sections)
    locked, one_step = side(settings, one_step=False), side(settings, one_step=True)
    rng = random.Random(seed)
    for each in (locked, one_step):
        await apply(each, ("create",))
    try:
        for step in range(300):
            operation = random_operation(rng)
            answers = [await apply(each, operation) for each in (locked, one_step)]
            assert answers[0] == answers[1], (step, operation)
            assert stored(locked) == stored(one_step), (step, operation)
        assert await locked.store.stats() == await one_step.store.stats()
        # Taken (often, but for the smallest caps and auto-learning every few events).
        assert one_step.applied >= 3
    finally:
        for each in (locked, one_step):
            await each.service.close()


async def test_a_busy_lock_or_another_identity_declines_without_a_change() -> None:
    settings = Settings()
    one_step = side(settings, one_step=True)
    service, store = one_step.service, one_step.store
    session = await service.create_session(NODE, owner="alice")
    session_id = session.session_id
    await service.observe(session_id, Observation.parse(["a"]))  # locked: identity learned
    identity = service._identities.get(session_id)
    assert identity is not None
    limits = service._observation_limits
    node = service.nodes.get(NODE)
    change = fast_change(node, Observation.parse(["b"]), settings.genes, identity)
    assert change is not None
    before = stored_copy(store, session_id)
    async with store.lock(session_id):
        assert await store.append_observation(session_id, change, limits) == AppendOutcome(
            False, True
        )
    other = AppendedObservation(NODE, "mallory", change.change, change.last_accessed)
    assert await store.append_observation(session_id, other, limits) == AppendOutcome(False, False)
    assert await store.append_observation("session-unknown", change, limits) == AppendOutcome(
        False, False
    )
    assert stored_copy(store, session_id) == before
    applied = await store.append_observation(session_id, change, limits)
    assert applied == AppendOutcome(True, True, 2, 2)
    assert store._sessions[session_id].state.stm == [["a"], ["b"]]
    assert (await store.stats())["total_stm_events"] == 2
    await service.close()


def stored_copy(store: MemorySessionStore, session_id: str) -> dict[str, Any]:
    return store._sessions[session_id].to_dict()


async def test_the_breaker_wrapper_passes_the_step_through() -> None:
    settings = Settings()
    bases: dict[str, InMemoryKnowledgeBase] = {}
    store = BreakerGuardedSessionStore(MemorySessionStore(), Resilience(ResilienceSettings()))
    service = KatoService(
        settings, store, lambda node_id: (bases.setdefault(node_id, InMemoryKnowledgeBase()), None)
    )
    assert service._appender is store
    session = await service.create_session(NODE)
    for symbol in "abc":
        await service.observe(session.session_id, Observation.parse([symbol]))
    inner = store.inner
    assert isinstance(inner, MemorySessionStore)
    assert inner._size_bounds  # the second and third observes took the step
    assert inner._sessions[session.session_id].state.stm == [["a"], ["b"], ["c"]]
    await service.close()
