"""Where the key-encryption keys (KEKs) live, and the key ring the service builds from them.

Three sources, merged into one key ring:

* ``GOVERNANCE_KEK_KEYS`` -- ``{"version": "<base64 of 32 bytes>"}`` from the environment (read-only here).
* the KEK file (``GOVERNANCE_KEK_FILE``; with ``GOVERNANCE_ENV=dev`` it defaults to ``var/keys/kek.json``)
  that ``governance keys rotate`` writes and ``governance keys retire`` prunes. JSON, mode 0600::

      {"format": "five-safes-kek/1", "current": "2",
       "keys": {"2": {"key": "<base64 of 32 bytes>", "created_at": "..."}},
       "retired": {"1": "<when>"}}

* outside production, when ``GOVERNANCE_KEK_KEYS`` is empty, the stable development key ``dev`` derived
  from the secret key (so a dev store survives restarts).

The current version wraps new data keys: ``GOVERNANCE_KEK_CURRENT`` when set, else the file's
``current`` (the last rotation), else the highest version. A version listed under ``retired`` is left
out of the ring whatever its source. The server notices a changed file at the next file operation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from governance.config import Settings

FORMAT: Final = "five-safes-kek/1"
DEV_KEK_VERSION: Final = "dev"
KEY_BYTES: Final = 32


class KekConfigError(ValueError):
    """The key-encryption keys are missing or malformed; the message says which and how to fix it."""


@dataclass
class KekFile:
    current: str | None = None
    keys: dict[str, dict[str, str]] = field(default_factory=dict)  # version -> {"key", "created_at"}
    retired: dict[str, str] = field(default_factory=dict)  # version -> when

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "current": self.current, "keys": self.keys, "retired": self.retired}


@dataclass(frozen=True)
class KekSources:
    keys: dict[str, bytes]
    origin: dict[str, str]  # version -> "env" | "file" | "dev"
    current: str
    file: KekFile
    path: Path | None

    def __repr__(self) -> str:  # never print key material
        return f"KekSources(versions={sorted(self.keys)}, current={self.current!r}, path={self.path})"


def read_kek_file(path: Path | None) -> KekFile:
    if path is None or not path.exists():
        return KekFile()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KekConfigError(f"the KEK file {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise KekConfigError(f"the KEK file {path} is not a {FORMAT} file")
    keys, retired, current = data.get("keys", {}), data.get("retired", {}), data.get("current")
    if (
        not isinstance(keys, dict)
        or not isinstance(retired, dict)
        or not (current is None or isinstance(current, str))
    ):
        raise KekConfigError(f"the KEK file {path} is malformed")
    for version, entry in keys.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            raise KekConfigError(f"the KEK file {path}: version {version!r} has no key")
    return KekFile(current=current, keys=keys, retired={str(k): str(v) for k, v in retired.items()})


def write_kek_file(path: Path, content: KekFile) -> None:
    """Atomically replace the file (readable by its owner only)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            json.dump(content.to_json(), fp, indent=2, sort_keys=True)
            fp.flush()
            os.fsync(fp.fileno())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def file_stamp(settings: Settings) -> tuple[str, int, int] | None:
    """Changes whenever the KEK file does (for caches of the key ring)."""
    path = settings.kek_file_path
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return (str(path), 0, 0)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def decode_key(encoded: str, where: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KekConfigError(f"{where} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KekConfigError(f"{where} must decode to {KEY_BYTES} bytes")
    return key


def dev_key(settings: Settings) -> bytes:
    return hashlib.sha256(f"five-safes-governance/dev-kek|{settings.secret_key}".encode()).digest()


def version_order(version: str) -> tuple[int, str]:
    return (len(version), version)


def load_kek_sources(settings: Settings) -> KekSources:
    path = settings.kek_file_path
    stored = read_kek_file(path)
    keys: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    if not settings.kek_keys and settings.env != "production" and DEV_KEK_VERSION not in stored.retired:
        keys[DEV_KEK_VERSION], origin[DEV_KEK_VERSION] = dev_key(settings), "dev"
    for version, encoded in settings.kek_keys.items():
        if str(version) not in stored.retired:
            keys[str(version)] = decode_key(encoded, f"GOVERNANCE_KEK_KEYS: key {version!r}")
            origin[str(version)] = "env"
    for version, entry in stored.keys.items():
        key = decode_key(entry["key"], f"the KEK file {path}: key {version!r}")
        if version in keys and keys[version] != key:
            raise KekConfigError(
                f"KEK version {version!r} is defined twice with different keys (env and {path})"
            )
        if version not in stored.retired:
            keys[version] = key
            origin.setdefault(version, "file")
    if not keys:
        if settings.env == "production" and not stored.keys:
            raise KekConfigError(
                "GOVERNANCE_KEK_KEYS is not set: output files cannot be stored or read without "
                'key-encryption keys ({"1": "<base64 of 32 random bytes>"}, or a GOVERNANCE_KEK_FILE '
                "written by `governance keys rotate`)"
            )
        raise KekConfigError("every key-encryption key is retired: run `governance keys rotate`")
    current = settings.kek_current or stored.current or max(keys, key=version_order)
    if current not in keys:
        source = "GOVERNANCE_KEK_CURRENT" if settings.kek_current else f"the KEK file {path}"
        raise KekConfigError(f"{source} names {current!r} as current, which is not a KEK version in use")
    return KekSources(keys, origin, current, stored, path)


def next_version(existing: set[str]) -> str:
    numbers = [int(v) for v in existing if v.isdigit()]
    return str(max(numbers, default=0) + 1)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
