"""`governance serve` terminates TLS itself when given a certificate, and answers with HSTS."""

from __future__ import annotations

import ipaddress
import os
import ssl
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness.ports import free_port
from tests.harness.process import ServiceProcess


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file


def test_serve_answers_over_https_with_hsts(db_url: str, tmp_path: Path) -> None:
    cert_file, key_file = self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "GOVERNANCE_DATABASE_URL": db_url,
        "GOVERNANCE_ENV": "test",
        "GOVERNANCE_TLS_CERT_FILE": str(cert_file),
        "GOVERNANCE_TLS_KEY_FILE": str(key_file),
        "GOVERNANCE_BASE_URL": f"https://127.0.0.1:{port}",
    }
    governance = str(Path(sys.executable).with_name("governance"))
    server = ServiceProcess(
        "governance-tls", [governance, "serve", "--port", str(port)], log_path=tmp_path / "serve.log", env=env
    )
    trust = ssl.create_default_context(cafile=str(cert_file))
    url = f"https://127.0.0.1:{port}"
    server.start()
    try:
        server.wait_ready(
            lambda: httpx.get(f"{url}/healthz", verify=trust).status_code == 200, timeout=60, what="healthz"
        )
        r = httpx.get(f"{url}/api/v1/audit/checkpoints/keys", verify=trust)
        assert r.status_code == 200 and r.json()["keys"]
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert r.headers["x-content-type-options"] == "nosniff"
        with pytest.raises(httpx.HTTPError):  # the port speaks TLS only
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError):  # and the certificate is checked
            httpx.get(f"{url}/healthz", verify=ssl.create_default_context())
    finally:
        server.stop()
