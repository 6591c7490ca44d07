"""What the output workflow needs from the settings: the encrypted store and the risk profiles.

Key-encryption keys come from GOVERNANCE_KEK_KEYS ({"version": "<base64 of 32 bytes>"}) and the KEK file
that `governance keys rotate` writes (see governance/keys/kek_file.py); the current one wraps new data
keys, the others still unwrap older files. Outside production a stable development key is derived from
the secret key when none is configured; production refuses to store or read files without keys.
"""

from __future__ import annotations

import threading
from pathlib import Path

from governance.config import Settings, get_settings
from governance.core.errors import ServiceUnavailable
from governance.keys.kek_file import DEV_KEK_VERSION as DEV_KEK_VERSION
from governance.keys.kek_file import file_stamp as kek_file_stamp
from governance.outputs.check_process import ProcessLimits
from governance.outputs.checks.base import CheckContext
from governance.outputs.risk_profile import RiskProfile, RiskProfileError, RiskProfiles, load_risk_profiles
from governance.outputs.storage import EncryptedStore, KeyRing

_lock = threading.Lock()
_stores: dict[tuple[object, ...], EncryptedStore] = {}
_profiles: dict[tuple[str, int], RiskProfiles] = {}


class OutputsMisconfigured(ServiceUnavailable):
    code, title = "outputs-misconfigured", "Output checking is not configured"


def keyring_from_settings(settings: Settings) -> KeyRing:
    # The sources (GOVERNANCE_KEK_KEYS, the KEK file that `governance keys rotate` writes, the dev key)
    # are described in governance/keys/kek_file.py.
    from governance.keys.kek_file import KekConfigError, load_kek_sources

    try:
        sources = load_kek_sources(settings)
    except KekConfigError as exc:
        raise OutputsMisconfigured(str(exc)) from None
    return KeyRing(sources.keys, sources.current)


def output_store(settings: Settings | None = None) -> EncryptedStore:
    settings = settings or get_settings()
    cache_key = (
        str(settings.output_store_dir),
        tuple(sorted(settings.kek_keys.items())),
        settings.kek_current,
        settings.env,
        settings.secret_key,
        kek_file_stamp(settings),  # a rotation is picked up at the next file operation
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


def check_limits(settings: Settings | None = None) -> ProcessLimits:
    """The memory and time the child process that checks one file may use."""
    settings = settings or get_settings()
    return ProcessLimits(settings.output_check_memory_bytes, settings.output_check_timeout_seconds)
