"""Remembered writes (kato/sessions/idempotency.py): the window and the record format."""

from __future__ import annotations

import json

import pytest

from kato.core.observation import Observation
from kato.sessions.idempotency import (
    AppliedWrites,
    IdempotencyKeyReusedError,
    NamedWrite,
    Window,
)
from kato.sessions.models import Session

A = Observation(strings=("a",))


def test_a_write_is_answered_for_its_window_of_seconds_only() -> None:
    window = Window(count=10, seconds=60)
    write = NamedWrite.observe("u1", A)
    writes = AppliedWrites(window, {}, now=1000.0)
    writes.remember(write, {"time": 1})
    stored = writes.store()

    assert AppliedWrites(window, stored, now=1059.0).answer_to(write) == {"time": 1}
    assert AppliedWrites(window, stored, now=1060.0).answer_to(write) is None
    assert AppliedWrites(window, stored, now=1060.0).store() == {}  # aged out, dropped


def test_the_newest_writes_are_kept_and_all_of_the_last_request() -> None:
    window = Window(count=2, seconds=60)
    writes = AppliedWrites(window, {}, now=0.0)
    for number in range(3):
        writes.remember(NamedWrite.observe(f"u{number}", A), {})
    # One request (an observe-sequence) remembers all of its observations...
    assert list(writes.store()) == ["observe:u0", "observe:u1", "observe:u2"]
    later = AppliedWrites(window, writes.store(), now=1.0)
    later.remember(NamedWrite.keyed("k", "learn"), {})
    # ...and the next request trims back to the window.
    assert list(later.store()) == ["observe:u2", "key:k"]


def test_the_same_name_for_another_request_is_refused() -> None:
    writes = AppliedWrites(Window(10, 60), {}, now=0.0)
    writes.remember(NamedWrite.observe("u1", A), {})
    writes.remember(NamedWrite.keyed("k", "learn"), {})
    with pytest.raises(IdempotencyKeyReusedError) as other_content:
        writes.answer_to(NamedWrite.observe("u1", Observation(strings=("b",))))
    assert other_content.value.details == {"unique_id": "u1"}
    with pytest.raises(IdempotencyKeyReusedError) as other_operation:
        writes.answer_to(NamedWrite.keyed("k", "clear-stm"))
    assert other_operation.value.details == {"idempotency_key": "k"}
    # A key and a unique_id of the same text are different names.
    assert writes.answer_to(NamedWrite.keyed("u1", "learn")) is None


def test_remembered_writes_are_stored_but_not_counted_by_the_byte_cap() -> None:
    session = Session.new("node", 60)
    plain_json, plain_size = session.to_json(), session.encoded_size()
    assert "applied_writes" not in plain_json  # records of sessions without keyed writes

    session.applied_writes = {"observe:u1": {"op": "observe", "fp": "", "at": 0, "answer": {}}}

    assert json.loads(session.to_json())["applied_writes"] == session.applied_writes
    assert session.encoded_size() == plain_size == len(plain_json)
    assert session.encoded_size_bound() >= session.encoded_size()
    assert Session.from_dict(json.loads(session.to_json())).applied_writes == (
        session.applied_writes
    )
