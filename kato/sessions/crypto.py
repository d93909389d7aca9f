"""Encryption at rest for session records (issue 4 req 1).

``cryptography``'s MultiFernet: the first configured key encrypts, every key decrypts, so a
key is rotated by putting the new one first and dropping the old one once nothing written
with it remains (docs/SESSIONS.md, "Encryption and key rotation"). Fernet authenticates as
well as encrypts: a record altered in Redis is refused, not decoded.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from kato.sessions.errors import SessionStoreError


class SessionDecryptError(SessionStoreError):
    """A stored record that none of the configured keys can decrypt."""

    code = "KATO_SESSION_UNREADABLE"


class SessionCipher:
    def __init__(self, keys: Sequence[str | SecretStr]) -> None:
        if not keys:
            raise ValueError("session encryption needs at least one key")
        fernets = []
        for position, key in enumerate(keys, start=1):
            raw = key.get_secret_value() if isinstance(key, SecretStr) else key
            try:
                fernets.append(Fernet(raw))
            except ValueError:
                # Never echo the key itself: it may be a real secret with a typo.
                raise ValueError(
                    f"session.encryption_keys[{position}] is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; make one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`)"
                ) from None
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes, session_id: str) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SessionDecryptError(
                f"Session {session_id} cannot be decrypted with the configured keys "
                "(was a key removed before its records expired or were rotated?)",
                session_id=session_id,
            ) from None

    def rotate(self, token: bytes, session_id: str) -> bytes:
        """The same record re-encrypted under the first key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise SessionDecryptError(
                f"Session {session_id} cannot be decrypted with the configured keys",
                session_id=session_id,
            ) from None
