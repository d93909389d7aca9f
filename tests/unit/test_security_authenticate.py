"""Authenticator: which header is read in which mode."""

from __future__ import annotations

import pytest

from kato.security import UnauthorizedError
from kato.security.api_keys import ApiKeyStore
from kato.security.authenticate import Authenticator, api_keys_path
from kato.security.principal import ANONYMOUS_ADMIN
from kato.security.roles import Role
from tests.security_helpers import hs256_token, settings


def _key(config, roles=("writer",)) -> str:
    key, _ = ApiKeyStore(api_keys_path(config)).create("svc", list(roles))
    return key


def test_mode_none_ignores_headers_and_returns_anonymous_admin(tmp_path):
    auth = Authenticator(settings(tmp_path))
    assert auth.authenticate(None, None) is ANONYMOUS_ADMIN
    assert auth.authenticate("Bearer junk", "junk") is ANONYMOUS_ADMIN


def test_api_key_mode_reads_x_api_key_and_bearer(tmp_path):
    config = settings(tmp_path, auth_mode="api_key")
    key = _key(config)
    auth = Authenticator(config)
    assert auth.authenticate(None, key).name == "key:svc"
    assert auth.authenticate(f"Bearer {key}", None).roles == frozenset({Role.WRITER})
    assert auth.jwt is None
    for authorization, api_key in [
        (None, None),
        ("Basic dXNlcjpwdw==", None),
        ("Bearer", None),
        (f"Bearer {hs256_token()}", None),
        (None, "kato_000000000000_nope"),
    ]:
        with pytest.raises(UnauthorizedError):
            auth.authenticate(authorization, api_key)


def test_jwt_mode_rejects_api_keys(tmp_path):
    config = settings(tmp_path, auth_mode="jwt")
    auth = Authenticator(config)
    assert auth.authenticate(f"bearer {hs256_token(sub='t')}", None).name == "jwt:t"
    with pytest.raises(UnauthorizedError, match="not accepted"):
        auth.authenticate(None, "kato_000000000000_secret")


def test_both_modes_route_by_credential_shape(tmp_path):
    config = settings(tmp_path, auth_mode="api_key+jwt")
    key = _key(config, roles=("reader",))
    auth = Authenticator(config)
    assert auth.authenticate(f"Bearer {key}", None).auth_method == "api_key"
    assert auth.authenticate(f"Bearer {hs256_token()}", None).auth_method == "jwt"
    with pytest.raises(UnauthorizedError):
        auth.authenticate("Bearer kato_abc", None)  # neither a key nor a token


def test_key_file_defaults_to_data_dir_and_can_be_configured(tmp_path):
    assert api_keys_path(settings(tmp_path)) == tmp_path / "data" / "api_keys.json"
    custom = settings(tmp_path, api_keys_file=str(tmp_path / "k.json"))
    assert api_keys_path(custom) == tmp_path / "k.json"
