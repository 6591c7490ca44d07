"""Signed checkpoints: an Ed25519 signature over the chain head at a given index.

The signed message (version 1) is ASCII text, one item per line:
``five-safes-audit-checkpoint/1``, chain index (decimal), head hash (hex), created_at (RFC 3339 UTC
with microseconds), key id, each followed by a newline. A key id is the first 16 hex digits of
SHA-256 over the 32 raw public key bytes. Signatures and keys are standard base64 with padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from governance.audit.chain import format_timestamp, is_hash

ALGORITHM: Final = "Ed25519"
_MESSAGE_TAG: Final = "five-safes-audit-checkpoint/1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    chain_index: int  # the last event covered
    hash: str  # the chain head at chain_index
    created_at: datetime
    key_id: str
    signature: str  # base64

    def message(self) -> bytes:
        return (
            f"{_MESSAGE_TAG}\n{self.chain_index}\n{self.hash}\n{format_timestamp(self.created_at)}\n{self.key_id}\n"
        ).encode("ascii")

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_index": self.chain_index,
            "hash": self.hash,
            "created_at": format_timestamp(self.created_at),
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        """Parse the JSON form; ValueError says what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("a checkpoint must be a JSON object")
        expected = {"chain_index", "hash", "created_at", "key_id", "signature"}
        if set(data) != expected:
            raise ValueError(f"a checkpoint has exactly the fields {sorted(expected)}")
        index, head, created = data["chain_index"], data["hash"], data["created_at"]
        key_id, signature = data["key_id"], data["signature"]
        if type(index) is not int or index < 0:
            raise ValueError("checkpoint chain_index must be a non-negative integer")
        if not is_hash(head):
            raise ValueError("checkpoint hash must be 64 lowercase hex digits")
        if not isinstance(key_id, str) or not isinstance(signature, str) or not isinstance(created, str):
            raise ValueError("checkpoint key_id, signature and created_at must be text")
        at = parse_timestamp(created)
        return cls(chain_index=index, hash=head, created_at=at, key_id=key_id, signature=signature)


def parse_timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {text[:40]!r}") from None
    if value.tzinfo is None or format_timestamp(value) != text:
        raise ValueError(f"timestamp not in the canonical UTC form: {text[:40]!r}")
    return value


def strict_b64decode(text: str) -> bytes:
    """Standard base64 whose re-encoding gives the same text (so no two spellings of the same bytes)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("base64 not in canonical form")
    return raw


def key_id_for(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_checkpoint(
    private_key: Ed25519PrivateKey, key_id: str, chain_index: int, head_hash: str, created_at: datetime
) -> Checkpoint:
    if not is_hash(head_hash):
        raise ValueError("head_hash must be 64 lowercase hex digits")
    if chain_index < 0:
        raise ValueError("chain_index must not be negative")
    unsigned = Checkpoint(chain_index, head_hash, created_at, key_id, "")
    signature = base64.b64encode(private_key.sign(unsigned.message())).decode("ascii")
    return Checkpoint(chain_index, head_hash, created_at, key_id, signature)


def checkpoint_problem(public_keys: Mapping[str, Ed25519PublicKey], cp: Checkpoint) -> str | None:
    """None when the signature holds, else a sentence naming what is wrong."""
    key = public_keys.get(cp.key_id)
    if key is None:
        return f"checkpoint at {cp.chain_index} is signed by unknown key id {cp.key_id!r}"
    try:
        key.verify(strict_b64decode(cp.signature), cp.message())
    except (InvalidSignature, ValueError):
        return f"checkpoint at {cp.chain_index} has a bad signature"
    return None


def verify_checkpoint(public_keys: Mapping[str, Ed25519PublicKey], cp: Checkpoint) -> bool:
    return checkpoint_problem(public_keys, cp) is None


def generate_private_key_text() -> str:
    """A new signing key as the settings string (base64 of the 32 raw bytes)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


def load_private_key(text: str) -> Ed25519PrivateKey:
    """From a settings string: base64 of the 32 raw bytes, or an unencrypted PKCS#8 PEM."""
    value = text.strip()
    if value.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(value.encode("ascii"), password=None)
        except (ValueError, TypeError, UnicodeEncodeError):
            raise ValueError("the audit signing key is not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ValueError("the audit signing key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError("the audit signing key must be 32 bytes (base64) or PEM")
    return Ed25519PrivateKey.from_private_bytes(raw)


def publish_public_key(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "key_id": key_id_for(public_key),
        "algorithm": ALGORITHM,
        "public_key": base64.b64encode(raw).decode(),
    }


def parse_public_key(entry: object) -> tuple[str, Ed25519PublicKey]:
    """One published key; ValueError when malformed or when the key id does not belong to the key."""
    if not isinstance(entry, Mapping) or set(entry) != {"key_id", "algorithm", "public_key"}:
        raise ValueError("a public key entry has exactly the fields key_id, algorithm, public_key")
    if entry["algorithm"] != ALGORITHM:
        raise ValueError(f"unsupported key algorithm {entry['algorithm']!r}")
    text = entry["public_key"]
    if not isinstance(text, str):
        raise ValueError("public_key must be base64 text")
    raw = strict_b64decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    key = Ed25519PublicKey.from_public_bytes(raw)
    if entry["key_id"] != key_id_for(key):
        raise ValueError(f"key id {str(entry['key_id'])[:32]!r} does not match its public key")
    return key_id_for(key), key


def parse_public_keys(entries: Iterable[object]) -> dict[str, Ed25519PublicKey]:
    return dict(parse_public_key(entry) for entry in entries)


def should_checkpoint(
    events_since_last: int, seconds_since_last: float, every_n: int, every_seconds: float
) -> bool:
    """Sign a new head after every_n events, or after every_seconds when anything new was sealed."""
    if events_since_last <= 0:
        return False
    return (
        events_since_last >= every_n or math.isnan(seconds_since_last) or seconds_since_last >= every_seconds
    )
