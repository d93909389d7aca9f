"""``kato serve`` as a real process: TLS with a self-signed certificate made here, the bind
guard refusing an unauthenticated network bind, and ``kato keys`` end to end."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kato.security.api_keys import ApiKeyStore
from tests.security_helpers import free_port
from tests.servers import spawn_logged, wait_until_ready

KATO = [sys.executable, "-m", "kato.cli"]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KATO_")}
    env["KATO_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.mark.slow
def test_tls_handshake_and_https_only(tmp_path):
    cert_file, key_file = _self_signed(tmp_path)
    port = free_port()
    log_path = tmp_path / "serve.log"
    process = spawn_logged(
        [
            *KATO,
            "serve",
            "--port",
            str(port),
            "--ssl-certfile",
            str(cert_file),
            "--ssl-keyfile",
            str(key_file),
        ],
        log_path,
        env=_environment(tmp_path),
    )
    context = ssl.create_default_context(cafile=str(cert_file))

    def answers_https() -> bool:
        try:
            httpx.get(f"https://127.0.0.1:{port}/health", verify=context, timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_until_ready(process, answers_https, log_path, "kato serve (TLS)")
    try:
        response = httpx.get(f"https://127.0.0.1:{port}/health", verify=context)
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.http_version == "HTTP/1.1"
        # Untrusted certificate: verification fails, so the chain really is the one made here.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{port}/health")
        # Plain HTTP on the TLS port gets no HTTP answer.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/health")
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_serve_refuses_unauthenticated_network_bind(tmp_path):
    result = subprocess.run(
        [*KATO, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr


def test_keys_commands_through_the_kato_entry_point(tmp_path):
    env = _environment(tmp_path)
    created = subprocess.run(
        [*KATO, "keys", "create", "--name", "etl", "--role", "writer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = next(line.split()[-1] for line in created.stdout.splitlines() if line.startswith("key:"))
    store = ApiKeyStore(tmp_path / "data" / "api_keys.json")
    assert store.verify(key) is not None
    key_id = store.list()[0].key_id
    subprocess.run([*KATO, "keys", "revoke", key_id], env=env, check=True, timeout=60)
    assert store.verify(key) is None
