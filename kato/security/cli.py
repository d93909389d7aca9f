"""``kato keys create|list|revoke`` — API-key administration for the ``kato`` CLI.

The CLI entry point calls ``add_key_commands(subparsers)``; each subcommand sets
``args.func(args) -> int`` (exit status). The key file is ``--keys-file`` when given, else the
``security.api_keys_file`` / ``<service.data_dir>/api_keys.json`` of the settings returned by
the ``load_settings`` callback (the CLI's own ``--config``/``--data-dir`` handling), else
the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from kato.config import Settings

# The key store imports the roles (FastAPI) and the authenticator (PyJWT), a quarter of a
# second: imported by the keys commands that use it, not by every kato command's parser.
if TYPE_CHECKING:
    from kato.security.api_keys import ApiKeyStore

SettingsLoader = Callable[[argparse.Namespace], Settings]


def add_key_commands(
    subparsers: Any,  # argparse's _SubParsersAction (private type)
    load_settings: SettingsLoader | None = None,
) -> argparse.ArgumentParser:
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys")
    keys.add_argument("--keys-file", help="API key file (default: from settings)")
    keys.add_argument("--config", help="YAML configuration file (KATO_CONFIG_FILE)")
    keys.add_argument("--data-dir", help="data directory (KATO_DATA_DIR)")
    actions = keys.add_subparsers(dest="keys_command", required=True)

    create = actions.add_parser("create", help="create a key; prints it once")
    create.add_argument("--name", required=True, help="service account name (the principal)")
    create.add_argument(
        "--role",
        dest="roles",
        action="append",
        required=True,
        choices=["reader", "writer", "admin"],
        help="role to grant (repeatable)",
    )
    create.add_argument(
        "--node", dest="nodes", action="append", help="restrict to this node id (repeatable)"
    )
    create.set_defaults(func=lambda args: run_create(_store(args, load_settings), args))

    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="JSON output")
    listing.set_defaults(func=lambda args: run_list(_store(args, load_settings), args))

    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=lambda args: run_revoke(_store(args, load_settings), args))
    return keys


def _store(args: argparse.Namespace, load_settings: SettingsLoader | None) -> ApiKeyStore:
    from kato.security.api_keys import ApiKeyStore
    from kato.security.authenticate import api_keys_path

    if args.keys_file:
        return ApiKeyStore(args.keys_file)
    settings = load_settings(args) if load_settings else Settings()
    return ApiKeyStore(api_keys_path(settings))


def run_create(store: ApiKeyStore, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        key, record = store.create(args.name, args.roles, args.nodes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"key id: {record.key_id}", file=out)
    print(f"roles:  {', '.join(record.roles)}", file=out)
    print(f"nodes:  {', '.join(record.nodes) if record.nodes else 'all'}", file=out)
    print(f"key:    {key}", file=out)
    print("Store the key now: it is not saved and cannot be shown again.", file=out)
    return 0


def run_list(store: ApiKeyStore, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    records = store.list()
    if args.json:
        print(json.dumps([record.public_view() for record in records], indent=2), file=out)
        return 0
    print(f"{'KEY ID':<14}{'NAME':<24}{'ROLES':<22}{'NODES':<20}{'CREATED':<22}STATUS", file=out)
    for record in records:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created_at))
        nodes = ",".join(record.nodes) if record.nodes else "all"
        status = "revoked" if record.revoked else "active"
        print(
            f"{record.key_id:<14}{record.name:<24}{','.join(record.roles):<22}"
            f"{nodes:<20}{created:<22}{status}",
            file=out,
        )
    return 0


def run_revoke(store: ApiKeyStore, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not store.revoke(args.key_id):
        print(f"error: no key with id {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}", file=out)
    return 0
