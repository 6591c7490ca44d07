"""The checkpoint signing key from the settings, and the public keys the service publishes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.checkpoints import (
    ALGORITHM,
    key_id_for,
    load_private_key,
    parse_public_key,
    publish_public_key,
)
from governance.config import Settings
from governance.core.clock import utcnow
from governance.core.errors import ServiceUnavailable
from governance.models.audit import AuditSigningKey


class AuditMisconfigured(ServiceUnavailable):
    code, title = "audit-misconfigured", "The audit log is not configured"


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey
    key_id: str

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def __repr__(self) -> str:  # never print key material
        return f"Signer(key_id={self.key_id!r})"


@lru_cache(maxsize=4)
def _signer(text: str, env: str, secret_key: str) -> Signer:
    if text.strip():
        try:
            key = load_private_key(text)
        except ValueError as exc:
            raise AuditMisconfigured(f"GOVERNANCE_AUDIT_SIGNING_KEY: {exc}") from None
    elif env == "production":
        raise AuditMisconfigured("GOVERNANCE_AUDIT_SIGNING_KEY is not set: checkpoints cannot be signed")
    else:  # dev and test: stable across restarts, different for every secret key
        seed = hashlib.sha256(f"five-safes-governance/dev-audit-signing-key|{secret_key}".encode()).digest()
        key = Ed25519PrivateKey.from_private_bytes(seed)
    return Signer(key, key_id_for(key.public_key()))


def signer_from_settings(settings: Settings) -> Signer:
    return _signer(settings.audit_signing_key, settings.env, settings.secret_key)


def register_key(session: Session, signer: Signer) -> None:
    """Record the public key the first time it signs (rows are never removed: retired keys stay)."""
    if session.get(AuditSigningKey, signer.key_id) is None:
        entry = publish_public_key(signer.public_key)
        session.add(
            AuditSigningKey(
                key_id=signer.key_id,
                algorithm=ALGORITHM,
                public_key=entry["public_key"],
                first_used_at=utcnow(),
            )
        )
        session.flush()


def published_keys(session: Session, settings: Settings) -> list[tuple[dict[str, str], bool]]:
    """Every key that signed a checkpoint, plus the current one: (published entry, is current)."""
    current = signer_from_settings(settings)
    rows = session.scalars(select(AuditSigningKey).order_by(AuditSigningKey.first_used_at)).all()
    entries: list[tuple[dict[str, str], bool]] = []
    for row in rows:
        entry = {"key_id": row.key_id, "algorithm": row.algorithm, "public_key": row.public_key}
        entries.append((entry, row.key_id == current.key_id))
    if all(entry["key_id"] != current.key_id for entry, _ in entries):
        entries.append((publish_public_key(current.public_key), True))
    return entries


def verification_keys(session: Session, settings: Settings) -> tuple[dict[str, Ed25519PublicKey], str]:
    """Public keys to check checkpoints with, and the id of the one this service holds privately.

    Keys read back from the table are parsed strictly: an entry whose id does not match its key is
    left out, so a checkpoint it signed fails as signed by an unknown key.
    """
    current = signer_from_settings(settings)
    keys: dict[str, Ed25519PublicKey] = {}
    for entry, _ in published_keys(session, settings):
        try:
            key_id, key = parse_public_key(entry)
        except ValueError:
            continue
        keys[key_id] = key
    keys[current.key_id] = current.public_key
    return keys, current.key_id
