"""Public keys an auditor trusts, given as a file or text: the JSON published at
/api/v1/audit/checkpoints/keys (or one entry of it), or an Ed25519 public key in PEM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.audit.checkpoints import parse_public_key, publish_public_key

_FIELDS = ("key_id", "algorithm", "public_key")


def _entry(value: object, n: int) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(f), str) for f in _FIELDS):
        raise ValueError(f"public key {n} needs the text fields key_id, algorithm and public_key")
    entry = {f: value[f] for f in _FIELDS}
    try:
        parse_public_key(entry)
    except ValueError as exc:
        raise ValueError(f"public key {n}: {exc}") from None
    return entry


def _from_pem(text: str) -> list[dict[str, str]]:
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the PEM public key is not an Ed25519 key")
    return [publish_public_key(key)]


def load_trusted_keys(value: str) -> list[dict[str, str]]:
    """Published key entries from a path or the text itself; ValueError says what is wrong."""
    text = value
    path = Path(value)
    if len(value) < 4096 and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the public key file {path}: {exc}") from None
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return _from_pem(text)
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise ValueError(
            "the public keys are neither JSON (as published at /api/v1/audit/checkpoints/keys) nor PEM"
        ) from None
    if isinstance(data, dict) and "keys" in data:
        data = data["keys"]
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise ValueError("no public key given")
    return [_entry(item, n) for n, item in enumerate(entries, 1)]
