"""Resolve the calling ``Principal`` from request headers, per ``security.auth_mode``.

* ``none`` — everybody is the anonymous admin; safe only because ``bind_guard`` keeps the
  service on loopback unless ``--insecure`` was given.
* ``api_key`` — ``X-API-Key: kato_…`` or ``Authorization: Bearer kato_…``.
* ``jwt`` — ``Authorization: Bearer <jwt>``.
* ``api_key+jwt`` — either; a bearer credential shaped like an API key is treated as one.

Every failure is a ``UnauthorizedError`` with a generic message: the response never says
whether a key id exists or which check a token failed beyond expired/not-yet-valid/audience.
"""

from __future__ import annotations

from pathlib import Path

from kato.config import Settings
from kato.security import UnauthorizedError
from kato.security.api_keys import ApiKeyStore, looks_like_api_key
from kato.security.jwt_auth import JwtVerifier
from kato.security.principal import ANONYMOUS_ADMIN, Principal


def api_keys_path(settings: Settings) -> Path:
    configured = settings.security.api_keys_file
    return Path(configured) if configured else Path(settings.service.data_dir) / "api_keys.json"


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self.mode = settings.security.auth_mode
        self.key_store = ApiKeyStore(api_keys_path(settings)) if "api_key" in self.mode else None
        self.jwt = JwtVerifier(settings.security) if "jwt" in self.mode else None

    def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The principal for these header values; may run scrypt, so call it off the loop."""
        if self.mode == "none":
            return ANONYMOUS_ADMIN
        if api_key is not None:
            return self._verify_key(api_key)
        if not authorization:
            raise UnauthorizedError("Authentication required")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise UnauthorizedError("Use 'Authorization: Bearer <credential>'")
        if self.key_store is not None and (self.jwt is None or looks_like_api_key(credential)):
            return self._verify_key(credential)
        if self.jwt is not None:
            return self.jwt.verify(credential)
        raise UnauthorizedError("Authentication required")

    def _verify_key(self, presented: str) -> Principal:
        if self.key_store is None:
            raise UnauthorizedError("API keys are not accepted (auth_mode is jwt)")
        principal = self.key_store.verify(presented.strip())
        if principal is None:
            raise UnauthorizedError("Invalid or revoked API key")
        return principal
