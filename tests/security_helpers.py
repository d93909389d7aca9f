"""Make credentials for security tests: JWTs (HS256, RS256, ES256, JWKS), API keys, settings,
and a throw-away real redis-server on a free port."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kato.config import SecuritySettings, Settings
from kato.security.api_keys import ApiKeyStore
from tests.servers import RedisServer

HS_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ISSUER = "https://issuer.test"
AUDIENCE = "kato-test"


def claims(
    sub: str = "alice",
    roles: list[str] | str | None = None,
    nodes: list[str] | None = None,
    session_id: str | None = None,
    lifetime: float = 300,
    not_before: float | None = None,
    issuer: str | None = ISSUER,
    audience: str | None = AUDIENCE,
) -> dict[str, Any]:
    now = time.time()
    payload: dict[str, Any] = {
        "sub": sub,
        "roles": ["reader"] if roles is None else roles,
        "iat": int(now),
        "exp": int(now + lifetime),
    }
    for name, value in (
        ("nodes", nodes),
        ("session_id", session_id),
        ("iss", issuer),
        ("aud", audience),
    ):
        if value is not None:
            payload[name] = value
    if not_before is not None:
        payload["nbf"] = int(not_before)
    return payload


def hs256_token(secret: str = HS_SECRET, **claim_args: Any) -> str:
    return jwt.encode(claims(**claim_args), secret, algorithm="HS256")


class KeyPair:
    """An asymmetric key pair generated for the test, with the public key written as PEM."""

    def __init__(self, algorithm: str, directory: Path, kid: str = "test-key") -> None:
        self.algorithm = algorithm
        self.kid = kid
        if algorithm.startswith("RS"):
            self.private_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            self.private_key = ec.generate_private_key(ec.SECP256R1())
        public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_file = directory / f"{kid}.pub.pem"
        self.public_key_file.write_bytes(public_pem)

    def token(self, kid: str | None = None, **claim_args: Any) -> str:
        headers = {"kid": kid} if kid else None
        return jwt.encode(
            claims(**claim_args), self.private_key, algorithm=self.algorithm, headers=headers
        )

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.get_default_algorithms()[self.algorithm]
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        data.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return data


def write_jwks(path: Path, *pairs: KeyPair) -> Path:
    path.write_text(json.dumps({"keys": [pair.jwk() for pair in pairs]}), encoding="utf-8")
    return path


def settings(tmp_path: Path, **security: Any) -> Settings:
    """Settings with a data dir under ``tmp_path`` and the given security fields."""
    base: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE}
    if "jwt" in security.get("auth_mode", "") and "jwt_algorithms" not in security:
        base["jwt_secret"] = HS_SECRET
    base.update(security)
    return Settings(
        service={"data_dir": str(tmp_path / "data")},  # type: ignore[arg-type]
        security=SecuritySettings(**base),
    )


def make_key(
    store: ApiKeyStore, name: str, roles: list[str], nodes: list[str] | None = None
) -> str:
    key, _ = store.create(name, roles, nodes)
    return key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A real redis-server on a free loopback port, no persistence; yields its URL."""
    with RedisServer() as server:
        yield server.url
