"""Session ownership and node scope (pure rules)."""

from __future__ import annotations

import pytest

from kato.security import ForbiddenError
from kato.security.ownership import (
    check_may_create_on_node,
    may_access_session,
    requested_session_id,
    session_owner_for,
)
from kato.security.principal import Principal
from kato.security.roles import Role
from kato.sessions.models import Session

ALICE = Principal("jwt:alice", frozenset({Role.WRITER}))
BOB = Principal("jwt:bob", frozenset({Role.WRITER}))
ADMIN = Principal("key:ops", frozenset({Role.ADMIN}))
SCOPED_ADMIN = Principal("key:ops-a", frozenset({Role.ADMIN}), nodes=frozenset({"a"}))
ALICE_ON_A = Principal("jwt:alice", frozenset({Role.WRITER}), nodes=frozenset({"a"}))


def _session(node: str = "a", owner: str | None = "jwt:alice") -> Session:
    return Session.new(node_id=node, ttl_seconds=60, owner=owner)


def test_owner_may_access_other_principal_may_not():
    session = _session(owner=session_owner_for(ALICE))
    assert may_access_session(ALICE, session)
    assert not may_access_session(BOB, session)


def test_admin_may_access_any_session_within_its_scope():
    assert may_access_session(ADMIN, _session("a"))
    assert may_access_session(ADMIN, _session("b"))
    assert may_access_session(SCOPED_ADMIN, _session("a"))
    assert not may_access_session(SCOPED_ADMIN, _session("b"))


def test_node_scope_hides_own_sessions_on_other_nodes():
    assert may_access_session(ALICE_ON_A, _session("a"))
    assert not may_access_session(ALICE_ON_A, _session("b"))


def test_unowned_shared_session_is_open_to_principals_scoped_to_its_node():
    shared = _session("a", owner=None)
    assert may_access_session(BOB, shared)
    assert may_access_session(ALICE_ON_A, shared)
    assert not may_access_session(ALICE_ON_A, _session("b", owner=None))


def test_create_on_foreign_node_is_forbidden():
    check_may_create_on_node(ALICE_ON_A, "a")
    check_may_create_on_node(ALICE, "anything")
    with pytest.raises(ForbiddenError) as raised:
        check_may_create_on_node(ALICE_ON_A, "b")
    assert raised.value.code == "KATO_FORBIDDEN" and raised.value.status_code == 403
    with pytest.raises(ForbiddenError):
        check_may_create_on_node(SCOPED_ADMIN, "b")


def test_session_id_from_header_else_from_token_claim():
    claimed = Principal("jwt:c", frozenset({Role.READER}), session_id="session-from-claim")
    assert requested_session_id(claimed, None) == "session-from-claim"
    assert requested_session_id(claimed, "session-header") == "session-header"
    assert requested_session_id(ALICE, None) is None
