"""Background jobs of the output workflow.

`outputs.run_checks(request_id)` runs every automated check on every file of a submitted request and
moves it on: checking → in_review, or blocked (malware, or a file that no longer matches its hash),
or held in checking with an "error" result (e.g. the malware scanner is configured but unreachable).
It is idempotent: a (file, check, check version) that already has a result is skipped ("error"
results are re-run), and a duplicate insert from a concurrent run is swallowed by the UNIQUE key, so
a worker killed mid-check (acks_late) leaves nothing half-done and the re-run completes the work.

`outputs.retry_held()` (beat) re-runs held requests and those whose check run went silent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from governance.audit.record import record
from governance.config import Settings, get_settings
from governance.core import jobs
from governance.core.clock import as_utc, utcnow
from governance.core.db import transaction
from governance.core.ids import parse_uuid
from governance.models.outputs import OutputCheckResult, OutputFile, OutputRequest
from governance.outputs import repository
from governance.outputs.acro_check import acro_result
from governance.outputs.check_process import CheckProcess
from governance.outputs.checks.base import CheckResult, Finding
from governance.outputs.checks.detect import TABLE_KINDS
from governance.outputs.lifecycle import Details
from governance.outputs.runtime import check_context, check_limits, output_store, profile_for, work_dir
from governance.outputs.service import RUN_CHECKS_TASK
from governance.outputs.storage import StorageError, UnknownKeyVersion
from governance.outputs.suite import ACRO_CHECK, CONTENT_CHECKS, INTEGRITY_CHECK, expected_checks
from governance.outputs.transitions import perform_if

log = logging.getLogger(__name__)
MAX_PREVIOUS_TABLES = 20
MAX_PREVIOUS_BYTES = 256 * 1024 * 1024
COPY_BYTES = 1024 * 1024
LEFTOVER_SECONDS = 24 * 3600
Key = tuple[str, str]


@dataclass(frozen=True)
class FileJob:
    id: uuid.UUID
    name: str
    storage_id: str
    wrapped_key: bytes
    kek_version: str
    sha256: str
    size: int
    acro: dict[str, Any] | None
    contributions_column: str | None

    @classmethod
    def of(cls, row: OutputFile) -> FileJob:
        return cls(
            row.id,
            row.name,
            row.storage_id,
            row.wrapped_key,
            row.kek_version,
            row.sha256,
            row.size,
            row.acro,
            row.contributions_column,
        )


@jobs.job("outputs.run_checks")
def run_checks(request_id: str) -> str:
    rid = parse_uuid(str(request_id))
    if rid is None:
        return "not a request id"
    settings = get_settings()
    with transaction() as s:
        request = s.get(OutputRequest, rid)
        if request is None:
            return "no such request"
        if request.status == "submitted":
            perform_if(s, request, "start_checks")
        if request.status != "checking":
            return f"nothing to do: the request is {request.status}"
        request.checks_heartbeat_at = utcnow()
        rows = repository.active_files(s, rid)
        done = {
            (r.file_id, r.check_name, r.check_version): r.status
            for r in repository.results_of(s, [f.id for f in rows])
        }
        tier, project_id = request.tier, request.project_id
        files = [FileJob.of(f) for f in rows]
        keys_of = {f.id: expected_checks(f) for f in rows}
    todo = [(f, [k for k in keys_of[f.id] if done.get((f.id, *k)) in (None, "error")]) for f in files]
    todo = [(f, keys) for f, keys in todo if keys]
    if todo:
        profile = profile_for(tier, settings)
        with (
            tempfile.TemporaryDirectory(dir=work_dir(settings), prefix="checks-") as tmp,
            CheckProcess(check_limits(settings)) as checker,
        ):
            previous: list[Path] | None = None
            for job, keys in todo:
                if previous is None and ("differencing", dict(CONTENT_CHECKS)["differencing"]) in keys:
                    previous = _previous_release_tables(project_id, rid, Path(tmp) / "previous")
                _check_file(job, keys, profile, Path(tmp), previous or [], settings, checker)
                _heartbeat(rid)
    return finalise(rid)


class Unreadable(Exception):
    """The file cannot be judged now (e.g. its key-encryption key is not configured here): hold, retry."""


def _decrypt_to(job: FileJob, path: Path) -> str | None:
    """Write the plaintext to `path`; a sentence when the stored file is damaged or not the one uploaded.

    Raises Unreadable when the fault is in this deployment's configuration, not in the file.
    """
    digest, size = hashlib.sha256(), 0
    try:
        # private to this user (0600) inside the private work directory; removed by the caller
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            for chunk in output_store().open_reader(job.storage_id, job.wrapped_key, job.kek_version):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
    except UnknownKeyVersion as exc:
        raise Unreadable(str(exc)) from None
    except (StorageError, FileNotFoundError) as exc:
        return f"The stored file cannot be read back intact ({exc})."
    if size != job.size or digest.hexdigest() != job.sha256:
        return (
            f"The stored file no longer matches the SHA-256 recorded at upload ({job.sha256[:12]}…, "
            f"{job.size:,} bytes); it now has {digest.hexdigest()[:12]}…, {size:,} bytes."
        )
    return None


def _integrity(job: FileJob, problem: str | None, *, error: bool = False) -> CheckResult:
    name, version = INTEGRITY_CHECK
    if error:
        message = f"The file could not be decrypted here ({problem}); it will be checked again."
        return CheckResult(
            name, version, "error", [Finding("key_unavailable", message)], {}, {"key_unavailable": 1}
        )
    findings = [Finding("hash_mismatch", problem)] if problem else []
    return CheckResult(
        name,
        version,
        "fail" if problem else "pass",
        findings,
        {"sha256": job.sha256, "size": job.size},
        {"hash_mismatch": 1} if problem else {},
    )


def _check_file(
    job: FileJob,
    keys: list[Key],
    profile: Any,
    tmp: Path,
    previous: list[Path],
    settings: Settings,
    checker: CheckProcess,
) -> None:
    folder = tmp / job.id.hex
    folder.mkdir(mode=0o700)
    try:
        path = folder / job.name
        try:
            problem = _decrypt_to(job, path)
        except Unreadable as exc:
            store_result(job.id, _integrity(job, str(exc), error=True), 0, replace=True)
            return
        if problem or INTEGRITY_CHECK in keys:
            store_result(job.id, _integrity(job, problem), 0, replace=problem is not None)
        if problem:
            return
        ctx = check_context(job.name, profile, settings)
        ctx.previous_release_tables = previous
        ctx.contributions_column = job.contributions_column
        wanted = [key for key in CONTENT_CHECKS if key in keys]
        if wanted:
            # In a child process with memory and time limits (check_process.py); each result is stored
            # here, under its idempotency key, as soon as it arrives.
            checker.run(
                path,
                ctx,
                wanted,
                lambda result, duration_ms: _store_content_result(job.id, result, duration_ms),
                delay_seconds=settings.output_check_delay_seconds,
            )
        if ACRO_CHECK in keys and job.acro is not None:
            store_result(job.id, acro_result(job.acro, job.sha256), 0)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _store_content_result(file_id: uuid.UUID, result: CheckResult, duration_ms: int) -> None:
    store_result(file_id, result, duration_ms)


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite numbers become text, unknown types their string form."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json(value: Any) -> Any:
    return _plain(json.loads(json.dumps(_plain(value), default=str)))


def store_result(file_id: uuid.UUID, result: CheckResult, duration_ms: int, *, replace: bool = False) -> bool:
    """Store one result under its idempotency key; False when another run already stored it."""
    data = result.to_dict()
    try:
        with transaction() as s:
            existing = s.scalar(
                select(OutputCheckResult).where(
                    OutputCheckResult.file_id == file_id,
                    OutputCheckResult.check_name == result.name,
                    OutputCheckResult.check_version == result.version,
                )
            )
            if existing is not None:
                if not (replace or existing.status == "error"):
                    return False
                s.delete(existing)
                s.flush()
            s.add(
                OutputCheckResult(
                    id=uuid.uuid4(),
                    file_id=file_id,
                    check_name=result.name,
                    check_version=result.version,
                    status=result.status,
                    findings=_json(data["findings"]),
                    counts=_json(data["counts"]),
                    parameters=_json(data["parameters"]),
                    duration_ms=duration_ms,
                )
            )
            if result.name == "filetype" and isinstance(result.parameters.get("detected_type"), str):
                s.execute(
                    update(OutputFile)
                    .where(OutputFile.id == file_id)
                    .values(media_type=result.parameters["detected_type"][:32])
                )
    except DbIntegrityError:
        log.info("check %s of file %s was stored by a concurrent run", result.name, file_id)
        return False
    return True


def _heartbeat(request_id: uuid.UUID) -> None:
    with transaction() as s:
        s.execute(
            update(OutputRequest).where(OutputRequest.id == request_id).values(checks_heartbeat_at=utcnow())
        )


def _previous_release_tables(project_id: uuid.UUID, exclude: uuid.UUID, folder: Path) -> list[Path]:
    """This project's released (and not recalled) tables, decrypted for the differencing check."""
    with transaction() as s:
        rows = [
            FileJob.of(row)
            for row in s.scalars(
                select(OutputFile)
                .join(OutputRequest, OutputFile.request_id == OutputRequest.id)
                .where(
                    OutputRequest.project_id == project_id,
                    OutputRequest.status == "released",
                    OutputRequest.id != exclude,
                    OutputFile.removed_at.is_(None),
                    OutputFile.media_type.in_(sorted(TABLE_KINDS)),
                )
                .order_by(OutputFile.created_at.desc())
                .limit(MAX_PREVIOUS_TABLES)
            )
        ]
    paths: list[Path] = []
    budget = MAX_PREVIOUS_BYTES
    for job in rows:
        if job.size > budget:
            continue
        target = folder / job.id.hex
        target.mkdir(parents=True, mode=0o700)
        path = target / job.name
        with contextlib.suppress(Unreadable):
            if _decrypt_to(job, path) is None:
                paths.append(path)
                budget -= job.size
    return paths


def finalise(request_id: uuid.UUID) -> str:
    """Move a request whose checks are complete; exactly one concurrent caller succeeds."""
    with transaction() as s:
        request = s.get(OutputRequest, request_id)
        if request is None or request.status != "checking":
            return "nothing to do"
        files = repository.active_files(s, request_id)
        results = repository.results_of(s, [f.id for f in files])
        by_key = {(r.file_id, r.check_name, r.check_version): r for r in results}
        blocked: list[str] = []
        errors: list[str] = []
        missing = 0
        for file in files:
            for key in expected_checks(file):
                result = by_key.get((file.id, *key))
                if result is None:
                    missing += 1
                elif key == INTEGRITY_CHECK and result.status == "fail":
                    blocked.append(f"{file.name}: the stored file no longer matches its hash")
                elif key[0] == "malware" and result.status == "fail":
                    blocked.append(f"{file.name}: malware found ({_signature(result)})")
                elif result.status == "error":
                    errors.append(f"{file.name}: {key[0]}")
        if blocked:
            details = Details({"reasons": blocked[:20]}, hold_reason="; ".join(blocked))
            perform_if(s, request, "block", details)
            return "blocked"
        if errors:  # before "missing": checks skipped after a file could not be read count as held too
            reason = "automated checks could not complete and will be retried: " + ", ".join(errors[:20])
            if request.hold_reason != reason:
                request.hold_reason = reason
                record(
                    s,
                    None,
                    "output_request.hold",
                    "output_request",
                    request.id,
                    project_id=request.project_id,
                    summary={"errors": errors[:50]},
                    source="worker",
                )
            return "held"
        if missing:
            return "incomplete"
        statuses = Counter(r.status for r in results if (r.check_name, r.check_version) != INTEGRITY_CHECK)
        perform_if(s, request, "finish_checks", Details({"files": len(files), "results": dict(statuses)}))
        return "in_review"


def _signature(result: OutputCheckResult) -> str:
    for finding in result.findings:
        location = finding.get("location") or {}
        if isinstance(location, dict) and location.get("signature"):
            return str(location["signature"])
    return "see the malware check"


# Re-runs the checks of requests held (scanner unreachable) or whose check run went silent.
@jobs.job("outputs.retry_held", every=lambda settings: settings.output_retry_seconds)
def retry_held() -> int:
    """Re-run the checks of held requests and of runs that went silent; sweep leftovers. (beat)"""
    settings = get_settings()
    now = utcnow()
    queued = 0
    with transaction() as s:
        rows = s.execute(
            select(
                OutputRequest.id,
                OutputRequest.status,
                OutputRequest.hold_reason,
                OutputRequest.checks_heartbeat_at,
                OutputRequest.submitted_at,
            ).where(OutputRequest.status.in_(("submitted", "checking")))
        ).all()
        for request_id, status, hold_reason, heartbeat, submitted in rows:
            last = as_utc(heartbeat) or as_utc(submitted) or now
            silent = (now - last).total_seconds()
            due = silent >= settings.output_stale_seconds or (
                status == "checking" and bool(hold_reason) and silent >= settings.output_retry_seconds
            )
            if due:
                jobs.enqueue(s, RUN_CHECKS_TASK, str(request_id))
                queued += 1
    _sweep(settings)
    return queued


def _sweep(settings: Settings) -> None:
    try:
        output_store(settings).sweep_temporary(LEFTOVER_SECONDS)
        cutoff = time.time() - LEFTOVER_SECONDS
        for leftover in work_dir(settings).iterdir():
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
    except OSError:
        log.exception("could not sweep the output work directory")
