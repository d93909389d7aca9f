"""The ``kato`` command.

``kato serve`` validates the configuration in the parent process: every problem found before
serving — a bad value, settings that do not fit together, a data directory that cannot be
created, a key file, JWT setting, rate-limit string or audit log the security layer cannot be
built with — is one line on stderr naming what to fix, and the exit status is 2. Then it runs
uvicorn with the app *factory import string*, so ``--workers N`` starts N processes that each
build their own app. Command-line options reach the workers as environment variables, the
same ones an operator would set.

Files are created owner-only (umask 077): the data directory holds the knowledge base and the
API key hashes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from functools import partial

from kato.cli_data import add_data_commands
from kato.config import Settings
from kato.security.cli import add_key_commands
from kato.service.settings_loader import load_settings

APP_FACTORY = "kato.api.app:create_app"

# option name → environment variable read by the settings loader
_OPTION_VARIABLES = {
    "host": "KATO_HOST",
    "port": "KATO_PORT",
    "workers": "KATO_WORKERS",
    "data_dir": "KATO_DATA_DIR",
    "config": "KATO_CONFIG_FILE",
}


def _serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", help="bind address (default 127.0.0.1, KATO_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000, KATO_PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--data-dir", help="data directory (default ./kato-data, KATO_DATA_DIR)")
    serve.add_argument("--config", help="YAML configuration file (KATO_CONFIG_FILE)")
    serve.add_argument("--ssl-certfile", help="TLS certificate (PEM)")
    serve.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback bind without authentication",
    )
    serve.set_defaults(func=serve_command)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Export the options as environment variables, then load and validate the settings."""
    for option, variable in _OPTION_VARIABLES.items():
        value = getattr(args, option, None)
        if value is not None:
            os.environ[variable] = str(value)
    if getattr(args, "insecure", False):
        os.environ["KATO_SECURITY__INSECURE"] = "true"
    return load_settings()


def _check_shared_sessions(settings: Settings) -> None:
    """Workers must share sessions: the in-process store is private to each process, so a
    session created through one worker would be unknown (404) to the others."""
    # Imported here, as serve_command imports its own: only serve needs the session factory.
    from kato.sessions.factory import session_backend

    workers = settings.service.workers
    if workers > 1 and session_backend(settings) == "memory":
        raise ValueError(
            f"{workers} worker processes cannot share the in-process session store; set "
            "REDIS_URL (database.redis.url) to keep sessions in Redis, or run one worker"
        )


def serve_command(args: argparse.Namespace) -> int:
    import uvicorn
    from limits.errors import ConfigurationError as RateLimitConfigurationError

    from kato.core import matcher
    from kato.observability.metrics import prepare_multiprocess_dir
    from kato.resilience.slow_clients import HeaderTimeoutProtocol
    from kato.security import InsecureBindError
    from kato.security.bind_guard import check_bind
    from kato.security.layer import SecurityLayer
    from kato.storage.factory import (
        StorageConfigurationError,
        check_process_model,
        prepare_data_dir,
    )

    try:
        settings = settings_from_args(args)
        check_process_model(settings, settings.service.workers)
        _check_shared_sessions(settings)
    except (ValueError, StorageConfigurationError) as exc:  # ConfigError is a ValueError
        print(f"kato: {exc}", file=sys.stderr)
        return 2
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("kato: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    service = settings.service
    try:
        check_bind(service.host, settings.security)  # no auth → loopback only (issue 6)
    except InsecureBindError as exc:
        print(f"kato: {exc.message}", file=sys.stderr)
        return 2
    try:
        prepare_data_dir(settings)
        # What the workers' apps are wired with and can refuse: key files, JWT settings,
        # rate-limit strings and storage, the audit log. Built here to be refused here.
        SecurityLayer(settings)
    except (ValueError, OSError, StorageConfigurationError, RateLimitConfigurationError) as exc:
        print(f"kato: cannot start: {exc}", file=sys.stderr)
        return 2
    # Several workers share their metrics through files (docs/OBSERVABILITY.md).
    prepare_multiprocess_dir(service.workers)
    print(f"kato: prediction core: {matcher.describe()}", file=sys.stderr)
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=service.host,
        port=service.port,
        workers=service.workers,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        timeout_graceful_shutdown=int(service.shutdown_grace_seconds),
        # uvicorn has no request-header timeout: this protocol adds one (slow clients).
        http=partial(  # type: ignore[arg-type]  # built like a class; pickles to the workers
            HeaderTimeoutProtocol,
            header_read_timeout=settings.limits.header_read_timeout_seconds,
        ),
        log_level=settings.monitoring.log_level.lower(),
        access_log=False,  # the JSON request log (kato.observability) has one line per request
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kato", description="KATO sequence memory service")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _serve_parser(subparsers)
    add_key_commands(subparsers, load_settings=settings_from_args)
    add_data_commands(subparsers, load_settings=settings_from_args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o077)  # owner-only files and directories (see the module docstring)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
