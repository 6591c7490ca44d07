"""The SAML service provider's key pair: self-signed is enough (SAML trusts metadata, not CAs)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from governance.core.clock import utcnow


def self_signed_pair(common_name: str, *, days: int = 3650, key_size: int = 2048) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) of a new RSA key and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = utcnow()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def write_pair(directory: Path, common_name: str) -> tuple[Path, Path]:
    """Write sp-key.pem (mode 0600) and sp-cert.pem into `directory`, unless both exist already."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / "sp-key.pem", directory / "sp-cert.pem"
    if key_path.is_file() and cert_path.is_file():
        return key_path, cert_path
    key_pem, cert_pem = self_signed_pair(common_name)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    cert_path.write_bytes(cert_pem)
    return key_path, cert_path
