"""Knowledge-base ids: §1.11 where it is unambiguous, injective everywhere (issue 9 req 1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kato.core.node_ids import knowledge_base_id

BASE = "primary-v2"


def test_plain_ids_keep_their_semantics_id() -> None:
    assert knowledge_base_id("alice", BASE) == "alice_primary_v2"
    assert knowledge_base_id("alice_smith", BASE) == "alice_smith_primary_v2"


def test_look_alike_ids_get_distinct_knowledge_bases() -> None:
    ids = ["alice-smith", "alice.smith", "alice_smith", "alice smith", "acme-prod", "acme.prod"]
    storage = [knowledge_base_id(node_id, BASE) for node_id in ids]
    assert len(set(storage)) == len(ids)


def test_long_ids_are_not_cut_to_a_32_bit_tag() -> None:
    long_id = "test_test_observe_single_string_1726248130123_ab12cd34"
    other = long_id[:-1] + "5"
    assert knowledge_base_id(long_id, BASE) != knowledge_base_id(other, BASE)
    assert len(knowledge_base_id(long_id, BASE)) <= 60


@given(st.text(min_size=1, max_size=80), st.text(min_size=1, max_size=80))
def test_mapping_is_injective(first: str, second: str) -> None:
    if first != second:
        assert knowledge_base_id(first, BASE) != knowledge_base_id(second, BASE)
