"""What the output workflow needs from the settings: the encrypted store and the risk profiles.

Key-encryption keys come from GOVERNANCE_KEK_KEYS ({"version": "<base64 of 32 bytes>"}); the current
one (GOVERNANCE_KEK_CURRENT, default the highest version) wraps new data keys, the others still unwrap
older files. Outside production a stable development key is derived from the secret key when none is
configured; production refuses to store or read files without configured keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from pathlib import Path

from governance.config import Settings, get_settings
from governance.core.errors import ServiceUnavailable
from governance.outputs.checks.base import CheckContext
from governance.outputs.risk_profile import RiskProfile, RiskProfileError, RiskProfiles, load_risk_profiles
from governance.outputs.storage import KEY_BYTES, EncryptedStore, KeyRing

DEV_KEK_VERSION = "dev"
_lock = threading.Lock()
_stores: dict[tuple[object, ...], EncryptedStore] = {}
_profiles: dict[tuple[str, int], RiskProfiles] = {}


class OutputsMisconfigured(ServiceUnavailable):
    code, title = "outputs-misconfigured", "Output checking is not configured"


def keyring_from_settings(settings: Settings) -> KeyRing:
    if not settings.kek_keys:
        if settings.env == "production":
            raise OutputsMisconfigured(
                "GOVERNANCE_KEK_KEYS is not set: output files cannot be stored or read without "
                'key-encryption keys ({"1": "<base64 of 32 random bytes>"})'
            )
        seed = f"five-safes-governance/dev-kek|{settings.secret_key}".encode()
        return KeyRing({DEV_KEK_VERSION: hashlib.sha256(seed).digest()}, DEV_KEK_VERSION)
    keys: dict[str, bytes] = {}
    for version, encoded in settings.kek_keys.items():
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise OutputsMisconfigured(f"GOVERNANCE_KEK_KEYS: key {version!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise OutputsMisconfigured(f"GOVERNANCE_KEK_KEYS: key {version!r} must decode to {KEY_BYTES} bytes")
        keys[str(version)] = key
    current = settings.kek_current or max(keys, key=lambda v: (len(v), v))
    if current not in keys:
        raise OutputsMisconfigured(f"GOVERNANCE_KEK_CURRENT {current!r} is not a version in GOVERNANCE_KEK_KEYS")
    return KeyRing(keys, current)


def output_store(settings: Settings | None = None) -> EncryptedStore:
    settings = settings or get_settings()
    cache_key = (
        str(settings.output_store_dir),
        tuple(sorted(settings.kek_keys.items())),
        settings.kek_current,
        settings.env,
        settings.secret_key,
    )
    with _lock:
        store = _stores.get(cache_key)
        if store is None:
            store = EncryptedStore(Path(settings.output_store_dir), keyring_from_settings(settings))
            _stores[cache_key] = store
        return store


def work_dir(settings: Settings | None = None) -> Path:
    """A private directory for transient plaintext (checks, ACRO unpacking); swept by the retry job."""
    settings = settings or get_settings()
    path = Path(settings.output_store_dir) / ".work"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def risk_profiles(settings: Settings | None = None) -> RiskProfiles:
    settings = settings or get_settings()
    path = Path(settings.risk_profile_file)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise OutputsMisconfigured(f"the risk-profile file {path} cannot be read") from None
    with _lock:
        cached = _profiles.get((str(path), mtime))
    if cached is not None:
        return cached
    try:
        loaded = load_risk_profiles(path)
    except RiskProfileError as exc:
        raise OutputsMisconfigured(str(exc)) from None
    with _lock:
        _profiles[(str(path), mtime)] = loaded
    return loaded


def profile_for(tier: int, settings: Settings | None = None) -> RiskProfile:
    return risk_profiles(settings).for_tier(tier)


def check_context(file_name: str, profile: RiskProfile, settings: Settings | None = None) -> CheckContext:
    settings = settings or get_settings()
    return CheckContext(
        file_name=file_name,
        profile=profile,
        clamd_address=settings.clamd_address or None,
        clamd_timeout_seconds=settings.clamd_timeout_seconds,
        clamd_max_stream_bytes=settings.clamd_max_stream_bytes,
    )
