"""JWT verification: HS256, RS256, ES256 and JWKS; exp, nbf, iss, aud, signature, claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from kato.config import SecuritySettings
from kato.security import UnauthorizedError
from kato.security.jwt_auth import JwtVerifier
from kato.security.roles import Role
from tests.security_helpers import (
    AUDIENCE,
    HS_SECRET,
    ISSUER,
    KeyPair,
    claims,
    hs256_token,
    write_jwks,
)


def _hs_verifier(**overrides) -> JwtVerifier:
    fields = {"jwt_secret": HS_SECRET, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    fields.update(overrides)
    return JwtVerifier(SecuritySettings(**fields))


def test_valid_hs256_token_gives_principal_with_claims():
    token = hs256_token(roles=["writer"], nodes=["n1", "n2"], session_id="session-1")
    principal = _hs_verifier().verify(token)
    assert principal.name == "jwt:alice"
    assert principal.roles == frozenset({Role.WRITER})
    assert principal.nodes == frozenset({"n1", "n2"})
    assert principal.session_id == "session-1"
    assert principal.auth_method == "jwt"


def test_roles_as_space_separated_string_and_unknown_roles_ignored():
    principal = _hs_verifier().verify(hs256_token(roles="reader other-app:admin"))
    assert principal.roles == frozenset({Role.READER})
    assert principal.nodes is None


@pytest.mark.parametrize(
    ("token_args", "message"),
    [
        # Factories: claims relative to "now" must be computed when the test runs, not when
        # the suite is collected (a long run would otherwise make the nbf token valid).
        (lambda: {"lifetime": -120}, "expired"),
        (lambda: {"not_before": time.time() + 120}, "not yet valid"),
        (lambda: {"audience": "someone-else"}, "audience"),
        (lambda: {"issuer": "https://evil.test"}, "issuer"),
        (lambda: {"secret": "a-different-secret-of-sufficient-length-000000"}, "Invalid token"),
    ],
    ids=["expired", "not-yet-valid", "audience", "issuer", "signature"],
)
def test_hs256_rejections(token_args, message):
    with pytest.raises(UnauthorizedError, match=message):
        _hs_verifier().verify(hs256_token(**token_args()))


def test_clock_skew_leeway_accepts_slightly_expired_and_early_tokens():
    verifier = _hs_verifier(jwt_clock_skew_seconds=60)
    assert verifier.verify(hs256_token(lifetime=-20)).name == "jwt:alice"
    assert verifier.verify(hs256_token(not_before=time.time() + 20)).name == "jwt:alice"
    strict = _hs_verifier(jwt_clock_skew_seconds=0)
    with pytest.raises(UnauthorizedError):
        strict.verify(hs256_token(lifetime=-20))


def test_token_without_exp_or_sub_is_rejected():
    no_exp = jwt.encode({"sub": "a", "iss": ISSUER, "aud": AUDIENCE}, HS_SECRET, "HS256")
    no_sub = jwt.encode(
        {"exp": int(time.time()) + 60, "iss": ISSUER, "aud": AUDIENCE}, HS_SECRET, "HS256"
    )
    for token in (no_exp, no_sub, "not.a.jwt", ""):
        with pytest.raises(UnauthorizedError):
            _hs_verifier().verify(token)


def test_alg_none_is_rejected():
    token = jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60, "iss": ISSUER, "aud": AUDIENCE},
        None,
        algorithm="none",
    )
    with pytest.raises(UnauthorizedError, match="algorithm"):
        _hs_verifier().verify(token)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_public_key_file(tmp_path, algorithm):
    pair = KeyPair(algorithm, tmp_path)
    verifier = JwtVerifier(
        SecuritySettings(
            jwt_algorithms=[algorithm],
            jwt_public_key_file=str(pair.public_key_file),
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
    )
    assert verifier.verify(pair.token(roles=["admin"])).roles == frozenset({Role.ADMIN})
    with pytest.raises(UnauthorizedError, match="expired"):
        verifier.verify(pair.token(lifetime=-120))
    with pytest.raises(UnauthorizedError, match="audience"):
        verifier.verify(pair.token(audience="other"))
    impostor = KeyPair(algorithm, tmp_path, kid="impostor")
    with pytest.raises(UnauthorizedError, match="Invalid token"):
        verifier.verify(impostor.token())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hmac_signed(payload: dict, secret: bytes) -> str:
    """HS256 by hand: pyjwt itself refuses a PEM as an HMAC secret."""
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}." + _b64(
        json.dumps(payload).encode()
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_hs256_token_signed_with_the_public_key_is_rejected(tmp_path):
    """Algorithm confusion: an RS256 verifier must not accept HS256 keyed by its public PEM."""
    pair = KeyPair("RS256", tmp_path)
    verifier = JwtVerifier(
        SecuritySettings(
            jwt_algorithms=["RS256"],
            jwt_public_key_file=str(pair.public_key_file),
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
    )
    forged = _hmac_signed(claims(), pair.public_key_file.read_bytes())
    with pytest.raises(UnauthorizedError):
        verifier.verify(forged)


def test_jwks_selects_key_by_kid(tmp_path):
    first = KeyPair("RS256", tmp_path, kid="k1")
    second = KeyPair("ES256", tmp_path, kid="k2")
    jwks = write_jwks(tmp_path / "jwks.json", first, second)
    verifier = JwtVerifier(
        SecuritySettings(
            jwt_algorithms=["RS256", "ES256"],
            jwt_jwks_file=str(jwks),
            jwt_issuer=ISSUER,
            jwt_audience=AUDIENCE,
        )
    )
    assert verifier.verify(first.token(kid="k1", sub="one")).name == "jwt:one"
    assert verifier.verify(second.token(kid="k2", sub="two")).name == "jwt:two"
    for bad in (first.token(kid="k2"), first.token(kid="unknown"), first.token()):
        with pytest.raises(UnauthorizedError):
            verifier.verify(bad)


def test_missing_key_material_is_a_configuration_error(tmp_path):
    with pytest.raises(ValueError, match="jwt_secret"):
        JwtVerifier(SecuritySettings(jwt_algorithms=["HS256"]))
    with pytest.raises(ValueError, match="public_key"):
        JwtVerifier(SecuritySettings(jwt_algorithms=["RS256"]))


@pytest.mark.parametrize(
    "bad_claims",
    [{"nodes": "n1"}, {"nodes": [1, 2]}, {"session_id": 5}, {"roles": {"admin": True}}],
)
def test_malformed_claims_are_rejected(bad_claims):
    payload = {
        "sub": "a",
        "exp": int(time.time()) + 60,
        "iss": ISSUER,
        "aud": AUDIENCE,
        **bad_claims,
    }
    with pytest.raises(UnauthorizedError, match="claims"):
        _hs_verifier().verify(jwt.encode(payload, HS_SECRET, "HS256"))
