"""ACRO sessions uploaded as one ZIP of the folder `acro.finalise(folder, "json")` wrote.

Why a ZIP: the session is a unit (results.json, the outputs, checksums/ and config.json) and its
checksums are only meaningful together; one upload keeps them together and keeps the client simple.
The ZIP is a container, not an output: it is spooled to a private work directory, checked against
the risk profile's archive limits (members, expanded size, compression ratio, nesting, unsafe names),
unpacked with the same limits (every member's file name cleaned, or refused, by the rule a
direct upload's name follows: `names.clean_file_name`), read with our own ACRO reader (0.4.x and
1.x; every file verified against checksums/), and each output meant for release becomes a file of
the request with ACRO's record attached. The plaintext spool is removed before the response is sent.
Our own checks then run on every file as for any upload; ACRO's verdicts are shown to reviewers,
never trusted.
"""

from __future__ import annotations

import os
import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.errors import InvalidInput
from governance.models.outputs import OutputFile
from governance.models.projects import Project
from governance.outputs.checks.acro_ingest import AcroFile, AcroOutput, AcroSession, check_acro_session
from governance.outputs.checks.archive import inspect_archive, unsafe_member_name
from governance.outputs.names import UnsafeFileName, clean_file_name
from governance.outputs.risk_profile import RiskProfile
from governance.outputs.runtime import output_store, profile_for
from governance.outputs.storage import StoredFile
from governance.outputs.uploads import UploadPlan, record_file

ACRO_FIELDS = frozenset({"context", "controls"})
COPY_BYTES = 1024 * 1024
_IGNORED = ("__MACOSX/", ".DS_Store")


class SpoolWriter:
    """A private plaintext temp file for the uploaded ZIP, size-limited."""

    def __init__(self, path: Path, plan: UploadPlan, max_bytes: int) -> None:
        self.path, self.plan, self.max_bytes, self.size = path, plan, max_bytes, 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.abort()
            raise self.plan.too_large()
        self._out.write(data)

    def close(self) -> None:
        self._out.close()

    def abort(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


class SessionRejected(InvalidInput):
    code, title = "invalid-acro-session", "Not a usable ACRO session"


def _member_target(name: str, prefix: str) -> str | None:
    """Where a ZIP member goes inside the session folder: a plain name or checksums/<name>.

    The file name is cleaned by the rule direct uploads follow (`names.clean_file_name`): a name a
    direct upload could not have is refused with the same reason. None for any other layout.
    """
    relative = name[len(prefix) :] if prefix and name.startswith(prefix) else name
    parts = relative.split("/")
    try:
        if len(parts) == 1:
            return clean_file_name(parts[0])
        if len(parts) == 2 and parts[0] == "checksums":
            return f"checksums/{clean_file_name(parts[1])}"
    except UnsafeFileName as exc:
        raise SessionRejected(f"the ZIP member {name[:200]!r} cannot be kept under its name: {exc}") from None
    return None


def _common_prefix(names: list[str]) -> str:
    if "results.json" in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/results.json" in names:
            return f"{top}/"
    raise SessionRejected(
        "the ZIP has no results.json at its top level (or inside one folder): zip the folder that "
        'acro.finalise(folder, "json") wrote'
    )


def unpack(zip_path: Path, folder: Path, profile: RiskProfile) -> None:
    problems = inspect_archive(zip_path, "zip", profile.archive)
    if problems:
        raise SessionRejected(
            "the ZIP was refused: " + "; ".join(p.message for p in problems[:5]),
            problems=[{"code": p.code, "message": p.message, "member": p.member} for p in problems[:50]],
        )
    budget = profile.archive.max_total_uncompressed_bytes
    (folder / "checksums").mkdir(parents=True, mode=0o700)
    with zipfile.ZipFile(zip_path) as archive:
        infos = [
            i for i in archive.infolist() if not i.is_dir() and not any(x in i.filename for x in _IGNORED)
        ]
        prefix = _common_prefix([i.filename for i in infos])
        for info in infos:
            target = _member_target(info.filename, prefix)
            if target is None or unsafe_member_name(info.filename) or unsafe_member_name(target):
                raise SessionRejected(
                    f"the ZIP member {info.filename[:200]!r} is not part of an ACRO session folder "
                    "(expected results.json, config.json, the outputs and checksums/)"
                )
            destination = folder / target
            if destination.exists():
                raise SessionRejected(f"the ZIP holds {target!r} twice")
            written = 0
            with archive.open(info) as source, destination.open("xb") as out:
                while block := source.read(COPY_BYTES):
                    written += len(block)
                    budget -= len(block)
                    if budget < 0:
                        raise SessionRejected("the ZIP expands beyond the archive limit of this tier")
                    if written > profile.max_file_bytes:
                        raise SessionRejected(
                            f"{target!r} is larger than the per-file limit of "
                            f"{profile.max_file_bytes:,} bytes"
                        )
                    out.write(block)


def _file_record(session_id: str, acro: AcroSession, output: AcroOutput, item: AcroFile) -> dict[str, Any]:
    return {
        "session": session_id,
        "acro_version": acro.acro_version,
        "format_major": acro.format_major,
        "uid": output.uid,
        "status": output.status,
        "type": output.output_type,
        "method": output.method,
        "exception": output.exception,
        "comments": output.comments[:50],
        "command": output.command[:2000],
        "timestamp": output.timestamp,
        "summary": output.summary[:4000],
        "sdc": {
            "summary": item.sdc_summary,
            "cells": {
                check: [list(cell) for cell in cells[:1000]] for check, cells in item.sdc_cells.items()
            },
        },
        "suppressed": item.suppressed,
        "expected_sha256": item.expected_sha256,
        "results_checksum_ok": acro.results_checksum_ok,
        "session_problems": [{"code": c, "message": m} for c, m in acro.problems[:50]],
    }


def _store(path: Path, plan: UploadPlan, file_id: uuid.UUID) -> StoredFile:
    writer = output_store().open_writer(file_id.hex, max_bytes=plan.max_file_bytes)
    try:
        with path.open("rb") as handle:
            while block := handle.read(COPY_BYTES):
                writer.write(block)
        return writer.commit()
    except BaseException:
        writer.abort()
        raise


def ingest(
    session: Session,
    principal: Principal,
    plan: UploadPlan,
    zip_path: Path,
    fields: dict[str, str],
    stored_ids: list[str],
) -> tuple[AcroSession, list[OutputFile], list[str]]:
    """Unpack, verify and add the session's outputs to the request; `stored_ids` collects the blobs
    written so that the caller can remove them if the transaction does not commit."""
    profile = profile_for(_tier(session, plan))
    folder = zip_path.parent / "session"
    try:
        unpack(zip_path, folder, profile)
        acro, _result = check_acro_session(folder)
        if acro is None:
            raise SessionRejected(f"the ZIP is not an ACRO session: {_result.findings[0].message}")
        session_id = str(uuid.uuid4())
        rows: list[OutputFile] = []
        skipped: list[str] = []
        for output in acro.outputs:
            if not output.for_release:
                skipped.append(output.uid)
                continue
            for item in output.files:
                if not item.exists:
                    continue
                if item.path.stat().st_size > plan.max_file_bytes:
                    raise plan.too_large()
                file_id = uuid.uuid4()
                stored = _store(item.path, plan, file_id)
                stored_ids.append(stored.file_id)
                rows.append(
                    record_file(
                        session,
                        principal,
                        plan,
                        file_id,
                        item.name,
                        stored,
                        fields,
                        source="acro",
                        acro=_file_record(session_id, acro, output, item),
                    )
                )
        if not rows:
            raise SessionRejected("the ACRO session has no outputs for release")
        return acro, rows, skipped
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tier(session: Session, plan: UploadPlan) -> int:
    project = session.get(Project, plan.project_id)
    assert project is not None
    return project.tier
