"""Adding files to a request: limits from the risk profile, streaming into the encrypted store, and a
row that is written only once the file is safely stored (and removed again if the row cannot be)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import DuplicateError, InvalidInput, PayloadTooLarge
from governance.models.outputs import OutputFile, OutputRequest
from governance.outputs import repository
from governance.outputs.runtime import output_store, profile_for
from governance.outputs.service import require_editable
from governance.outputs.storage import EncryptedWriter, FileTooLarge, StoredFile

FILE_FIELDS = frozenset({"context", "controls", "contributions_column"})


@dataclass(frozen=True)
class UploadPlan:
    request_id: uuid.UUID
    project_id: uuid.UUID
    max_file_bytes: int
    remaining_request_bytes: int
    max_archive_bytes: int

    @property
    def max_bytes(self) -> int:
        return min(self.max_file_bytes, self.remaining_request_bytes)

    def too_large(self, size: int | None = None) -> PayloadTooLarge:
        if self.remaining_request_bytes < self.max_file_bytes:
            return PayloadTooLarge(
                f"the request may hold {self.remaining_request_bytes:,} more bytes (its files are limited "
                "in total at this tier); remove a file or start another request",
                limit_bytes=self.remaining_request_bytes,
            )
        return PayloadTooLarge(
            f"files may be at most {self.max_file_bytes:,} bytes at this tier",
            limit_bytes=self.max_file_bytes,
        )


def stored_bytes(session: Session, request_id: uuid.UUID) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(OutputFile.size), 0)).where(
            OutputFile.request_id == request_id, OutputFile.removed_at.is_(None)
        )
    )
    return int(total or 0)


def plan_upload(session: Session, principal: Principal, request_ref: str) -> UploadPlan:
    """Who may upload, and how much; ends the transaction so none is held open during the upload."""
    try:
        request = repository.get_visible(session, principal, request_ref)
        project = require_editable(session, principal, request, "add files to")
        profile = profile_for(project.tier)
        plan = UploadPlan(
            request.id,
            project.id,
            profile.max_file_bytes,
            profile.max_request_bytes - stored_bytes(session, request.id),
            profile.archive.max_total_uncompressed_bytes,
        )
    finally:
        session.rollback()
    if plan.remaining_request_bytes <= 0:
        raise plan.too_large()
    return plan


class LimitedWriter:
    """The store's writer, reporting a limit as the problem the caller should see."""

    def __init__(self, writer: EncryptedWriter, plan: UploadPlan) -> None:
        self.writer, self.plan = writer, plan

    def write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
        except FileTooLarge:
            raise self.plan.too_large() from None

    def abort(self) -> None:
        self.writer.abort()

    def commit(self) -> StoredFile:
        return self.writer.commit()


def open_writer(plan: UploadPlan, file_id: uuid.UUID) -> LimitedWriter:
    return LimitedWriter(output_store().open_writer(file_id.hex, max_bytes=plan.max_bytes), plan)


def record_file(
    session: Session,
    principal: Principal,
    plan: UploadPlan,
    file_id: uuid.UUID,
    name: str,
    stored: StoredFile,
    fields: dict[str, str],
    *,
    source: str = "upload",
    acro: dict[str, Any] | None = None,
) -> OutputFile:
    """Add the row for a stored file after re-checking, under the request's lock, what may have
    changed during the upload (state, quota, a file of the same name)."""
    if stored.size == 0:
        raise InvalidInput(f"the file {name!r} is empty; there is nothing to check or release")
    request = session.scalar(
        select(OutputRequest).where(OutputRequest.id == plan.request_id).with_for_update()
    )
    assert request is not None
    require_editable(session, principal, request, "add files to")
    if stored_bytes(session, request.id) + stored.size > profile_for(request.tier).max_request_bytes:
        raise plan.too_large()
    taken = session.scalar(
        select(OutputFile.id).where(
            OutputFile.request_id == request.id, OutputFile.name == name, OutputFile.removed_at.is_(None)
        )
    )
    if taken is not None:
        raise DuplicateError(f"the request already has a file called {name!r}; remove it first to replace it")
    contributions = fields.get("contributions_column") or None
    row = OutputFile(
        id=file_id,
        request_id=request.id,
        name=name,
        context=fields.get("context", ""),
        controls=fields.get("controls", ""),
        contributions_column=contributions[:200] if contributions else None,
        size=stored.size,
        sha256=stored.sha256,
        storage_id=stored.file_id,
        wrapped_key=stored.wrapped_key,
        kek_version=stored.kek_version,
        source=source,
        acro=acro,
        uploaded_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "output_file.add",
        "output_file",
        row.id,
        project_id=request.project_id,
        summary={
            "request_id": request.id,
            "name": name,
            "size": stored.size,
            "sha256": stored.sha256,
            "source": source,
        },
    )
    return row
