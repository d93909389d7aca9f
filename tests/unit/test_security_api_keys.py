"""API key store: hashing, creation, listing, revocation, file permissions, CLI."""

from __future__ import annotations

import argparse
import io
import json
import stat

import pytest

from kato.security.api_keys import ApiKeyStore, split_key
from kato.security.cli import add_key_commands
from kato.security.roles import Role


@pytest.fixture
def store(tmp_path):
    return ApiKeyStore(tmp_path / "api_keys.json")


def test_created_key_verifies_to_its_principal(store):
    key, record = store.create("ingest", ["writer"], ["node-a"])
    principal = store.verify(key)
    assert principal is not None
    assert principal.name == "key:ingest"
    assert principal.roles == frozenset({Role.WRITER})
    assert principal.nodes == frozenset({"node-a"})
    assert principal.auth_method == "api_key"
    assert split_key(key) is not None and split_key(key)[0] == record.key_id


def test_file_holds_only_salted_hashes_and_is_private(store):
    key, record = store.create("svc", ["reader"])
    text = store.path.read_text()
    secret = split_key(key)[1]
    assert secret not in text and key not in text
    entry = json.loads(text)["keys"][record.key_id]
    assert set(entry) == {"name", "roles", "nodes", "created_at", "revoked_at", "salt", "hash"}
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_same_secret_under_two_salts_hashes_differently(store):
    store.create("a", ["reader"])
    store.create("b", ["reader"])
    entries = json.loads(store.path.read_text())["keys"].values()
    assert len({entry["hash"] for entry in entries}) == 2
    assert len({entry["salt"] for entry in entries}) == 2


@pytest.mark.parametrize(
    "presented",
    ["", "kato_", "not-a-key", "kato_000000000000_wrong", "Bearer kato_abc"],
)
def test_malformed_or_unknown_keys_are_rejected(store, presented):
    store.create("svc", ["reader"])
    assert store.verify(presented) is None


def test_right_id_wrong_secret_is_rejected(store):
    key, record = store.create("svc", ["admin"])
    assert store.verify(f"kato_{record.key_id}_{'x' * 43}") is None
    assert store.verify(key) is not None


def test_revoked_key_is_rejected_even_after_it_was_verified(store):
    key, record = store.create("svc", ["writer"])
    assert store.verify(key) is not None  # now in the verified cache
    assert store.revoke(record.key_id) is True
    assert store.verify(key) is None
    assert [r.revoked for r in store.list()] == [True]


def test_revocation_by_another_process_is_seen(tmp_path):
    server_view = ApiKeyStore(tmp_path / "keys.json")
    cli_view = ApiKeyStore(tmp_path / "keys.json")
    key, record = cli_view.create("svc", ["reader"])
    assert server_view.verify(key) is not None
    cli_view.revoke(record.key_id)
    assert server_view.verify(key) is None


def test_revoke_unknown_id_reports_false(store):
    assert store.revoke("ffffffffffff") is False


def test_create_rejects_unknown_roles_and_empty_names(store):
    with pytest.raises(ValueError):
        store.create("svc", ["superuser"])
    with pytest.raises(ValueError):
        store.create("svc", [])
    with pytest.raises(ValueError):
        store.create("  ", ["reader"])
    assert store.list() == []


def _run(argv, tmp_path):
    parser = argparse.ArgumentParser(prog="kato")
    add_key_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["keys", "--keys-file", str(tmp_path / "k.json"), *argv])
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        status = args.func(args)
    return status, out.getvalue()


def test_cli_create_list_revoke(tmp_path):
    status, out = _run(["create", "--name", "etl", "--role", "writer", "--node", "n1"], tmp_path)
    assert status == 0
    key = next(line.split()[-1] for line in out.splitlines() if line.startswith("key:"))
    key_id = split_key(key)[0]
    status, out = _run(["list", "--json"], tmp_path)
    listed = json.loads(out)
    assert status == 0 and listed[0]["key_id"] == key_id and listed[0]["nodes"] == ["n1"]
    assert key not in out
    assert _run(["revoke", key_id], tmp_path)[0] == 0
    assert ApiKeyStore(tmp_path / "k.json").verify(key) is None
    assert _run(["revoke", "000000000000"], tmp_path)[0] == 1
    status, out = _run(["list"], tmp_path)
    assert "revoked" in out and "etl" in out
