"""Release: re-verify every file, the machine-readable release record (full, and as members see it),
downloads. The moves themselves (release, recall) are declared in lifecycle.py."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import Conflict, NotFound
from governance.models.datasets import Dataset, Grant
from governance.models.outputs import OutputFile, OutputRelease, OutputRequest
from governance.models.projects import Project
from governance.outputs import repository
from governance.outputs.access import (
    coordinates_only,
    download_refusal,
    independent_checker,
    sees_reviewers,
)
from governance.outputs.outcomes import file_outcome, ordered
from governance.outputs.runtime import output_store, risk_profiles
from governance.outputs.storage import StorageError
from governance.outputs.suite import expected_checks

RECORD_FORMAT = "five-safes-governance/release-record"
RECORD_VERSION = 1


class IntegrityFailure(Conflict):
    code, title = "integrity-failure", "A file no longer matches its hash"


def verify_files(files: list[OutputFile]) -> list[str]:
    """Names (with the reason) of files whose stored bytes no longer match the recorded SHA-256."""
    store = output_store()
    broken = []
    for file in files:
        try:
            size, digest = store.verify(file.storage_id, file.wrapped_key, file.kek_version)
        except (StorageError, FileNotFoundError) as exc:
            broken.append(f"{file.name}: {exc}")
            continue
        if size != file.size or digest != file.sha256:
            broken.append(f"{file.name}: SHA-256 {digest[:12]}… does not match {file.sha256[:12]}…")
    return broken


class FilesChanged(IntegrityFailure):
    """Raised by the release move when files no longer match their hashes (the request is then blocked)."""

    def __init__(self, broken: list[str]) -> None:
        super().__init__(
            "files no longer match the hashes taken at upload, so nothing was released and the request is "
            "now blocked: " + "; ".join(broken[:5]),
            files=broken,
        )
        self.broken = broken


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _user(names: dict[uuid.UUID, str], user_id: uuid.UUID | None) -> dict[str, str] | None:
    if user_id is None:
        return None
    return {"id": str(user_id), "username": names.get(user_id, "")}


def build_record(
    session: Session,
    request: OutputRequest,
    project: Project,
    files: list[OutputFile],
    releaser: Principal,
    now: Any,
) -> dict[str, Any]:
    """Everything a later reader needs to know what left, why it was judged safe, and by whom."""
    results = repository.results_of(session, [f.id for f in files])
    votes = [v for v in repository.reviews_of(session, request.id) if v.round == request.round]
    user_ids = {request.requester_id, releaser.user_id} | {v.reviewer_id for v in votes}
    names = repository.usernames(session, user_ids)
    grants = session.execute(
        select(Grant, Dataset)
        .join(Dataset, Grant.dataset_id == Dataset.id)
        .where(
            Grant.project_id == project.id,
            Grant.revoked_at.is_(None),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
        .order_by(Dataset.slug)
    ).all()
    profiles = risk_profiles()
    profile = profiles.for_tier(request.tier)
    exceptions: list[dict[str, Any]] = []
    file_entries = []
    for file in files:
        keys = set(expected_checks(file))
        checks = [r for r in results if r.file_id == file.id and (r.check_name, r.check_version) in keys]
        file_votes = ordered(v for v in votes if v.file_id == file.id)
        if file.acro and file.acro.get("exception"):
            exceptions.append(
                {"file": file.name, "acro_output": file.acro.get("uid"), "request": file.acro["exception"]}
            )
        file_entries.append(
            {
                "id": str(file.id),
                "name": file.name,
                "sha256": file.sha256,
                "size": file.size,
                "media_type": file.media_type,
                "source": file.source,
                "context": file.context,
                "controls": file.controls,
                "acro": file.acro,
                "checks": [
                    {
                        "name": r.check_name,
                        "version": r.check_version,
                        "status": r.status,
                        "parameters": r.parameters,
                        "findings": r.findings,
                        "counts": r.counts,
                        "checked_at": r.created_at.isoformat(),
                    }
                    for r in checks
                ],
                "votes": [
                    {
                        "reviewer": _user(names, v.reviewer_id),
                        "vote": v.vote,
                        "comment": v.comment if v.visibility == "public" else None,
                        "visibility": v.visibility,
                        "justification": v.justification,
                        "at": v.created_at.isoformat(),
                    }
                    for v in file_votes
                ],
                "outcome": file_outcome(file_votes, request.reviewers_required),
                "justifications": [
                    {"reviewer": names.get(v.reviewer_id, ""), "justification": v.justification}
                    for v in file_votes
                    if v.justification
                ],
            }
        )
    return {
        "format": RECORD_FORMAT,
        "format_version": RECORD_VERSION,
        "released_at": now.isoformat(),
        "released_by": _user(names, releaser.user_id),
        "request": {
            "id": str(request.id),
            "title": request.title,
            "requester": _user(names, request.requester_id),
            "round": request.round,
            "submitted_at": request.submitted_at.isoformat() if request.submitted_at else None,
            "tier": request.tier,
            "reviewers_required": request.reviewers_required,
        },
        "project": {
            "id": str(project.id),
            "slug": project.slug,
            "title": project.title,
            "tier": project.tier,
        },
        "datasets": [
            {"id": str(d.id), "slug": d.slug, "title": d.title, "tier": d.tier, "grant_id": str(g.id)}
            for g, d in grants
        ],
        "risk_profile": {
            "version": request.profile_version or profiles.version,
            "tier": request.tier,
            "criteria": profile.thresholds(),
        },
        "files": file_entries,
        "exceptions": exceptions,
    }


def release_of(session: Session, request: OutputRequest) -> OutputRelease | None:
    return session.scalar(select(OutputRelease).where(OutputRelease.request_id == request.id))


def release_record(session: Session, request: OutputRequest) -> OutputRelease:
    row = release_of(session, request)
    if row is None:
        raise NotFound("this request has not been released, so it has no release record")
    return row


def _redacted_file(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        "checks": [
            {**check, "findings": [coordinates_only(f) for f in check.get("findings", [])]}
            for check in entry.get("checks", [])
        ],
        "votes": [
            {
                "vote": v.get("vote"),
                "comment": v.get("comment") if v.get("visibility") == "public" else None,
                "visibility": v.get("visibility"),
                "justification": v.get("justification", ""),
                "at": v.get("at"),
            }
            for v in entry.get("votes", [])
        ],
        "justifications": [
            {"justification": j.get("justification", "")} for j in entry.get("justifications", [])
        ],
    }


def redacted_record(content: dict[str, Any]) -> dict[str, Any]:
    """The release record as the project's members see it: what left, why it was judged safe, by which
    checks and votes — never who reviewed or released it, no private comments, no values in findings.

    Nor the full record's SHA-256: hashing this copy with guessed names put back would confirm the guess.
    The copy has its own hash (of the bytes returned, see ``copy_of``); the stored
    record (and its SHA-256) stay the full one, which auditors and checkers read.
    """
    return {
        **content,
        "redacted": True,
        "redaction": "reviewer and releaser identities, private comments and check findings' values are "
        "left out of the project's copy; the full record is kept for auditors",
        "released_by": None,
        "files": [_redacted_file(entry) for entry in content.get("files", [])],
    }


@dataclass(frozen=True)
class RecordCopy:
    """A release record as one caller may read it: its JSON, its canonical bytes and their SHA-256."""

    content: dict[str, Any]
    body: bytes
    sha256: str  # of ``body``: the stored record's hash for the full copy, the copy's own otherwise

    @property
    def redacted(self) -> bool:
        return bool(self.content.get("redacted"))


def copy_of(row: OutputRelease, *, full: bool) -> RecordCopy:
    if full:
        return RecordCopy(row.record, canonical(row.record), row.record_sha256)
    content = redacted_record(row.record)
    body = canonical(content)
    return RecordCopy(content, body, hashlib.sha256(body).hexdigest())


def record_for(
    session: Session, principal: Principal, request: OutputRequest, project: Project, row: OutputRelease
) -> RecordCopy:
    """The full record for those who may know the reviewers (see access.sees_reviewers); otherwise the
    redacted one, with its own hash."""
    return copy_of(row, full=sees_reviewers(session, principal, request, project))


def open_download(
    session: Session, principal: Principal, request: OutputRequest, file: OutputFile
) -> Iterator[bytes]:
    """Authorise and audit a download (the request's session commits before the chunks stream)."""
    project = repository.project_of(session, request)
    refusal = download_refusal(session, principal, request, project)
    if refusal is not None:
        raise refusal.error()
    try:
        chunks = output_store().open_reader(file.storage_id, file.wrapped_key, file.kek_version)
    except (StorageError, FileNotFoundError) as exc:
        raise IntegrityFailure(f"the stored file {file.name!r} cannot be read ({exc})") from None
    checker = independent_checker(session, principal, request, project)
    record(
        session,
        principal,
        "output_file.download",
        "output_file",
        file.id,
        project_id=request.project_id,
        summary={
            "request_id": request.id,
            "name": file.name,
            "size": file.size,
            "sha256": file.sha256,
            "status": request.status,
            "round": request.round,
            # A checker's download: its actor is hidden from the project's members (blinding).
            "checker": checker,
        },
    )
    return chunks
