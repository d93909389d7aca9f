"""Secure default: without authentication the service listens on loopback only.

``check_bind`` runs before the server binds. Auth mode ``none`` on a non-loopback address is
refused unless ``security.insecure`` (``kato serve --insecure``) is set, and then a warning is
logged. Host names other than ``localhost`` count as non-loopback: resolving them could change
between the check and the bind.
"""

from __future__ import annotations

import ipaddress
import logging

from kato.config import SecuritySettings
from kato.security import InsecureBindError

logger = logging.getLogger("kato.security")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, security: SecuritySettings) -> None:
    """Raise ``InsecureBindError`` for an unauthenticated network bind, warn when allowed."""
    if security.auth_mode != "none" or is_loopback(host):
        return
    if not security.insecure:
        raise InsecureBindError(
            f"Refusing to listen on {host!r} with auth_mode 'none': anyone on the network "
            "would be admin. Configure security.auth_mode, bind to 127.0.0.1, or pass "
            "--insecure to accept the risk.",
            host=host,
        )
    logger.warning(
        "INSECURE: listening on %s with authentication disabled; every client is admin", host
    )
