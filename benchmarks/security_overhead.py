"""Cost of the security layer's per-request pieces, in microseconds per call.

Run: .venv/bin/python benchmarks/security_overhead.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kato.config import SecuritySettings
from kato.security.api_keys import ApiKeyStore
from kato.security.jwt_auth import JwtVerifier
from kato.security.rate_limit import RateLimiter

SECRET = "benchmark-secret-benchmark-secret-0123456789"


def per_call_us(function, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat * 1e6


def _claims() -> dict:
    return {"sub": "bench", "roles": ["writer"], "exp": int(time.time()) + 3600}


def _asymmetric(directory: Path, algorithm: str) -> float:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if algorithm == "RS256"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = directory / f"{algorithm}.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verifier = JwtVerifier(
        SecuritySettings(jwt_algorithms=[algorithm], jwt_public_key_file=str(pem))
    )
    token = jwt.encode(_claims(), key, algorithm=algorithm)
    return per_call_us(lambda: verifier.verify(token), 2000)


async def _rate_limit(strategy: str) -> float:
    limiter = RateLimiter(
        SecuritySettings(
            rate_limit_principal="1000000/second",
            rate_limit_session="1000000/second",
            rate_limit_global="1000000/second",
            rate_limit_strategy=strategy,
        )
    )
    repeat = 5000
    started = time.perf_counter()
    for _ in range(repeat):
        await limiter.check("bench", "session-1")
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store = ApiKeyStore(directory / "api_keys.json")
        key, _ = store.create("bench", ["writer"])
        first = per_call_us(lambda: ApiKeyStore(store.path).verify(key), 5)
        store.verify(key)
        cached = per_call_us(lambda: store.verify(key), 20000)
        hs = JwtVerifier(SecuritySettings(jwt_secret=SECRET))
        hs_token = jwt.encode(_claims(), SECRET, algorithm="HS256")
        rows = [
            ("API key, first use (scrypt)", first),
            ("API key, verified before (cache + file stat)", cached),
            ("JWT HS256", per_call_us(lambda: hs.verify(hs_token), 5000)),
            ("JWT RS256 (2048-bit)", _asymmetric(directory, "RS256")),
            ("JWT ES256", _asymmetric(directory, "ES256")),
            (
                "rate limit, moving window, 3 scopes, memory",
                asyncio.run(_rate_limit("moving-window")),
            ),
            (
                "rate limit, fixed window, 3 scopes, memory",
                asyncio.run(_rate_limit("fixed-window")),
            ),
        ]
    for name, micros in rows:
        print(f"{name:<48} {micros:10.1f} us/call")


if __name__ == "__main__":
    main()
