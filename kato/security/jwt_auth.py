"""JWT verification (pyjwt).

HS256/384/512 verify with the shared secret; RS*/ES*/PS* with a PEM public key file or a JWKS
file (key chosen by the token's ``kid``). The accepted algorithms are exactly
``security.jwt_algorithms`` — the token's own ``alg`` header never widens them, and a secret is
never used for an asymmetric algorithm nor a public key for HMAC (algorithm confusion).

Checked: signature, ``exp`` (required), ``nbf``, ``iss`` and ``aud`` when configured, with
``jwt_clock_skew_seconds`` of leeway. Claims read: ``sub`` (required), ``roles`` (list or
space-separated string), ``nodes`` (list; absent = every node), ``session_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from kato.config import SecuritySettings
from kato.security import UnauthorizedError
from kato.security.principal import Principal
from kato.security.roles import Role

_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})


class JwtVerifier:
    def __init__(self, settings: SecuritySettings) -> None:
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_clock_skew_seconds
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._public_key: Any = None
        self._jwks: jwt.PyJWKSet | None = None
        if settings.jwt_public_key_file:
            self._public_key = load_pem_public_key(Path(settings.jwt_public_key_file).read_bytes())
        if settings.jwt_jwks_file:
            self._jwks = jwt.PyJWKSet.from_json(Path(settings.jwt_jwks_file).read_text("utf-8"))
        wants_hmac = any(alg in _HMAC_ALGORITHMS for alg in self._algorithms)
        wants_asymmetric = any(alg not in _HMAC_ALGORITHMS for alg in self._algorithms)
        if wants_hmac and not self._secret:
            raise ValueError("security.jwt_secret is required for HS* algorithms")
        if wants_asymmetric and self._public_key is None and self._jwks is None:
            raise ValueError("jwt_public_key_file or jwt_jwks_file is required for RS*/ES*")

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; ``UnauthorizedError`` for any defect."""
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self._algorithms:
                raise UnauthorizedError("Token algorithm not accepted")
            claims = jwt.decode(
                token,
                key=self._key_for(algorithm, header.get("kid")),
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise UnauthorizedError("Token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise UnauthorizedError("Token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise UnauthorizedError("Token audience not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise UnauthorizedError("Token issuer not accepted") from exc
        except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
            raise UnauthorizedError("Invalid token") from exc
        return _principal_from_claims(claims)

    def _key_for(self, algorithm: str, kid: str | None) -> Any:
        if algorithm in _HMAC_ALGORITHMS:
            return self._secret
        if self._jwks is not None:
            if kid is None and len(self._jwks.keys) == 1:
                return self._jwks.keys[0].key
            if kid is not None:
                return self._jwks[kid].key  # KeyError -> invalid token
            raise UnauthorizedError("Token has no key id (kid)")
        return self._public_key


def _principal_from_claims(claims: dict[str, Any]) -> Principal:
    subject = claims["sub"]
    raw_roles = claims.get("roles", [])
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    nodes = claims.get("nodes")
    session_id = claims.get("session_id")
    if not isinstance(subject, str) or not isinstance(raw_roles, list):
        raise UnauthorizedError("Invalid token claims")
    if nodes is not None and not (
        isinstance(nodes, list) and all(isinstance(node, str) for node in nodes)
    ):
        raise UnauthorizedError("Invalid token claims")
    if session_id is not None and not isinstance(session_id, str):
        raise UnauthorizedError("Invalid token claims")
    return Principal(
        name=f"jwt:{subject}",
        roles=Role.parse_many(str(role) for role in raw_roles),
        nodes=None if nodes is None else frozenset(nodes),
        session_id=session_id,
        auth_method="jwt",
    )
