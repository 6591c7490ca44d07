"""Rotating key-encryption keys: add a version, re-wrap every output file's data key under it (the files
themselves are not re-encrypted), and retire versions nothing uses any more."""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select

from governance.audit.record import record
from governance.config import Settings
from governance.core.db import transaction
from governance.keys.kek_file import (
    KEY_BYTES,
    KekConfigError,
    load_kek_sources,
    next_version,
    now_text,
    version_order,
    write_kek_file,
)
from governance.models.outputs import OutputFile
from governance.outputs.storage import StorageError

REWRAP_BATCH = 500
MAX_PASSES = 5


class KeyInUse(KekConfigError):
    """A version still wraps some data keys."""


@dataclass
class RewrapReport:
    to_version: str
    rewrapped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file id, why)
    by_version: Counter[str] = field(default_factory=Counter)  # the versions re-wrapped from


@dataclass(frozen=True)
class KekVersion:
    version: str
    origin: str  # "env" | "file" | "dev"
    current: bool
    files: int  # output files whose data key it wraps


def list_versions(settings: Settings) -> list[KekVersion]:
    sources = load_kek_sources(settings)
    with transaction() as session:
        rows = session.execute(select(OutputFile.kek_version, func.count()).group_by(OutputFile.kek_version))
        counts = {version: int(n) for version, n in rows}
    versions = sorted(set(sources.keys) | set(counts), key=version_order)
    return [
        KekVersion(v, sources.origin.get(v, "missing"), v == sources.current, int(counts.get(v, 0)))
        for v in versions
    ]


def add_version(settings: Settings) -> str:
    """Write a new random KEK to the KEK file and make it current; returns its version."""
    path = settings.kek_file_path
    if path is None:
        raise KekConfigError(
            "set GOVERNANCE_KEK_FILE to the key file the service reads, so the new version reaches it"
        )
    if settings.kek_current:
        raise KekConfigError(
            f"GOVERNANCE_KEK_CURRENT pins version {settings.kek_current!r}: unset it, or the rotated key "
            "would never wrap new files"
        )
    sources = load_kek_sources(settings)
    stored = sources.file
    version = next_version(set(sources.keys) | set(stored.keys) | set(stored.retired))
    key = base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
    stored.keys[version] = {"key": key, "created_at": now_text()}
    stored.current = version
    write_kek_file(path, stored)
    with transaction() as session:
        record(
            session, None, "kek.rotate", "kek", version, summary={"previous": sources.current}, source="cli"
        )
    return version


def files_to_rewrap(settings: Settings) -> int:
    current = load_kek_sources(settings).current
    with transaction() as session:
        return int(session.scalar(select(func.count()).where(OutputFile.kek_version != current)) or 0)


def rewrap_all(settings: Settings, progress: Callable[[int], None] | None = None) -> RewrapReport:
    """Re-wrap every data key not under the current version, a batch per transaction (one audit event
    each). Files stored meanwhile under an older version are caught by the next pass."""
    from governance.outputs.runtime import output_store

    store = output_store(settings)
    current = store.keyring.current
    report = RewrapReport(current)
    failed_ids: set[str] = set()
    for _ in range(MAX_PASSES):
        after = None
        touched = 0
        while True:
            with transaction() as session:
                stmt = select(OutputFile).where(OutputFile.kek_version != current)
                if after is not None:
                    stmt = stmt.where(OutputFile.id > after)
                rows = session.scalars(stmt.order_by(OutputFile.id).limit(REWRAP_BATCH)).all()
                if not rows:
                    break
                moved: Counter[str] = Counter()
                for row in rows:
                    after = row.id
                    if str(row.id) in failed_ids:
                        continue
                    try:
                        row.wrapped_key = store.rewrap(row.wrapped_key, row.kek_version, current)
                    except StorageError as exc:
                        failed_ids.add(str(row.id))
                        report.failed.append((str(row.id), str(exc)))
                        continue
                    moved[row.kek_version] += 1
                    row.kek_version = current
                if moved:
                    record(
                        session,
                        None,
                        "kek.rewrap",
                        "kek",
                        current,
                        summary={"files": sum(moved.values()), "from": dict(moved)},
                        source="cli",
                    )
            done = sum(moved.values())
            report.rewrapped += done
            report.by_version.update(moved)
            touched += done
            if progress is not None:
                progress(len(rows))
        if not touched:
            break
    return report


def retire(settings: Settings, version: str) -> str:
    """Drop a version from the key ring; refused while it is current or wraps any data key.
    Returns the version's origin ("env" means the operator must also remove it from the environment)."""
    path = settings.kek_file_path
    sources = load_kek_sources(settings)
    if version not in sources.keys:
        known = ", ".join(sorted(sources.keys, key=version_order))
        raise KekConfigError(f"there is no KEK version {version!r} in use (versions: {known})")
    if version == sources.current:
        raise KekConfigError(
            f"KEK version {version!r} is current: rotate to a new version before retiring it"
        )
    with transaction() as session:
        in_use = int(session.scalar(select(func.count()).where(OutputFile.kek_version == version)) or 0)
    if in_use:
        raise KeyInUse(
            f"KEK version {version!r} still wraps the data keys of {in_use} output file(s): run "
            "`governance keys rewrap` (or `rotate`) first"
        )
    if path is None:
        raise KekConfigError("set GOVERNANCE_KEK_FILE: retired versions are recorded in the key file")
    stored = sources.file
    stored.keys.pop(version, None)
    stored.retired[version] = now_text()
    write_kek_file(path, stored)
    with transaction() as session:
        record(
            session,
            None,
            "kek.retire",
            "kek",
            version,
            summary={"origin": sources.origin[version]},
            source="cli",
        )
    return sources.origin[version]
