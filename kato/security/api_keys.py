"""API keys for service accounts, stored hashed in one JSON file.

Key format: ``kato_<key id>_<secret>``. The key id (12 hex characters) is public — it is what
``kato keys list`` shows and ``kato keys revoke`` takes — and makes lookup O(1). The secret is
32 random bytes (URL-safe base64). Only ``scrypt(secret, salt)`` is stored, never the key.

Verifying scrypt costs tens of milliseconds by design, so a verified key is remembered in
process (by the SHA-256 of the presented key, never the key itself) until the file changes.
The file's modification time is checked on every lookup: a ``kato keys revoke`` run by another
process takes effect on the next request of every server process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kato.security.principal import Principal
from kato.security.roles import Role

KEY_PREFIX = "kato_"
_FILE_VERSION = 1
# scrypt cost: 16 MiB memory, ~50 ms per verification; OWASP's minimum for scrypt.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """One stored key, without its secret."""

    key_id: str
    name: str
    roles: tuple[str, ...]
    nodes: tuple[str, ...] | None
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def public_view(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "roles": list(self.roles),
            "nodes": None if self.nodes is None else list(self.nodes),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def split_key(presented: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key, else None."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = presented[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != 12 or not secret:
        return None
    return key_id, secret


def looks_like_api_key(credential: str) -> bool:
    return split_key(credential) is not None


class ApiKeyStore:
    """Create, list, revoke and verify keys kept in ``path`` (JSON, mode 0600)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._loaded_stamp: tuple[int, int] | None = None
        self._verified: dict[str, str] = {}  # sha256(presented key) -> key id

    # -- administration (CLI) ------------------------------------------------------------

    def create(
        self, name: str, roles: list[str], nodes: list[str] | None = None
    ) -> tuple[str, ApiKeyRecord]:
        """Store a new key; returns ``(plaintext key, record)``. The plaintext is shown once."""
        unknown = set(roles) - {role.value for role in Role}
        if unknown or not roles:
            raise ValueError(f"roles must be some of reader, writer, admin (got {roles})")
        if not name.strip():
            raise ValueError("a key needs a non-empty name")
        with self._lock:
            entries = self._read_file()
            key_id = secrets.token_hex(6)
            while key_id in entries:
                key_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            entries[key_id] = {
                "name": name,
                "roles": sorted(set(roles)),
                "nodes": None if nodes is None else sorted(set(nodes)),
                "created_at": time.time(),
                "revoked_at": None,
                "salt": salt.hex(),
                "hash": _scrypt(secret, salt).hex(),
            }
            self._write_file(entries)
        return f"{KEY_PREFIX}{key_id}_{secret}", self._record(key_id, entries[key_id])

    def list(self) -> list[ApiKeyRecord]:
        with self._lock:
            entries = self._read_file()
        return sorted(
            (self._record(key_id, entry) for key_id, entry in entries.items()),
            key=lambda record: record.created_at,
        )

    def revoke(self, key_id: str) -> bool:
        """Mark a key revoked (kept for the audit trail). False when the id is unknown."""
        with self._lock:
            entries = self._read_file()
            entry = entries.get(key_id)
            if entry is None:
                return False
            if entry["revoked_at"] is None:
                entry["revoked_at"] = time.time()
                self._write_file(entries)
            self._verified.clear()
        return True

    # -- request path --------------------------------------------------------------------

    def verify(self, presented: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        fingerprint = hashlib.sha256(presented.encode("utf-8")).hexdigest()
        with self._lock:
            self._refresh()
            entry = self._entries.get(key_id)
            if entry is None or entry["revoked_at"] is not None:
                return None
            known_good = self._verified.get(fingerprint) == key_id
        if not known_good:
            # Outside the lock: a slow scrypt must not stall lookups of already-verified keys.
            actual = _scrypt(secret, bytes.fromhex(entry["salt"]))
            if not hmac.compare_digest(bytes.fromhex(entry["hash"]), actual):
                return None
            with self._lock:
                self._verified[fingerprint] = key_id
        nodes = entry["nodes"]
        return Principal(
            name=f"key:{entry['name']}",
            roles=Role.parse_many(entry["roles"]),
            nodes=None if nodes is None else frozenset(nodes),
            auth_method="api_key",
        )

    # -- file handling -------------------------------------------------------------------

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._entries, self._loaded_stamp = {}, None
            self._verified.clear()
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._loaded_stamp:
            self._entries = self._read_file()
            self._loaded_stamp = stamp
            self._verified.clear()

    def _read_file(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if data.get("version") != _FILE_VERSION:
            raise ValueError(f"{self.path}: unsupported API key file version")
        entries: dict[str, dict[str, Any]] = data["keys"]
        return entries

    def _write_file(self, entries: dict[str, dict[str, Any]]) -> None:
        """Atomic replace, owner-only permissions: readers never see a half-written file."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # owner-only
        fd, tmp = tempfile.mkstemp(prefix=".api_keys.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"version": _FILE_VERSION, "keys": entries}, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @staticmethod
    def _record(key_id: str, entry: dict[str, Any]) -> ApiKeyRecord:
        nodes = entry["nodes"]
        return ApiKeyRecord(
            key_id=key_id,
            name=entry["name"],
            roles=tuple(entry["roles"]),
            nodes=None if nodes is None else tuple(nodes),
            created_at=entry["created_at"],
            revoked_at=entry["revoked_at"],
        )
