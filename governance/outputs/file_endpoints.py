"""Output-request routes that move bytes (uploads, downloads) or release them."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, status
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core import jobs
from governance.core.errors import InvalidInput
from governance.core.problems import problem_response
from governance.core.responses import READ, WRITE, _problem
from governance.outputs import acro_upload, multipart, releases, repository, transitions, uploads, views
from governance.outputs.auth import OutputsCreate, OutputsRead, OutputsRelease
from governance.outputs.endpoints import _file_view, router

__all__ = ["router"]
from governance.outputs.runtime import output_store, work_dir
from governance.outputs.schemas import AcroSessionOut, FindingOut, OutputFileOut, OutputRequestOut

UPLOAD_RESPONSES = WRITE | {
    413: _problem("Payload too large", 413, "payload-too-large", "files may be at most …")
}


def _form(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": required, "properties": fields},
                }
            },
        }
    }


_TEXT = {"type": "string", "maxLength": multipart.MAX_FIELD_CHARS}
FILE_FORM = _form(
    {
        "file": {"type": "string", "format": "binary", "description": "The output file (one per upload)"},
        "context": {**_TEXT, "description": "What the file is and how it was produced (needed to submit)"},
        "controls": {**_TEXT, "description": "The disclosure controls applied (needed to submit)"},
        "contributions_column": {
            "type": "string",
            "maxLength": 200,
            "description": "Column with individual contributions, for the dominance rules",
        },
    },
    ["file"],
)
ACRO_FORM = _form(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": 'A ZIP of the folder written by acro.finalise(folder, "json")',
        },
        "context": {**_TEXT, "description": "What the outputs are (applied to every file of the session)"},
        "controls": {**_TEXT, "description": "The disclosure controls applied"},
    },
    ["file"],
)


RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "request", "project", "datasets", "files", "risk_profile"],
    "properties": {
        "format": {"type": "string", "const": releases.RECORD_FORMAT},
        "format_version": {"type": "integer"},
        "released_at": {"type": "string", "format": "date-time"},
        "released_by": {"type": "object"},
        "request": {"type": "object"},
        "project": {"type": "object"},
        "datasets": {"type": "array", "items": {"type": "object"}},
        "risk_profile": {"type": "object"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "name, sha256, size, checks (version, parameters, result), votes",
            },
        },
        "exceptions": {"type": "array", "items": {"type": "object"}},
        "redacted": {
            "type": "boolean",
            "description": "Present (true) in the project's copy: no reviewer or releaser is named, no "
            "private comment or value in a finding is shown, nor the full record's hash (X-Record-SHA256 is "
            "then the hash of this copy)",
        },
    },
}


def _refuse_long_body(request: Request, limit: int, plan: uploads.UploadPlan) -> None:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + multipart.FIELD_OVERHEAD_BYTES:
        raise plan.too_large()


def _record(
    session: DbSession,
    principal: Principal,
    plan: uploads.UploadPlan,
    file_id: uuid.UUID,
    upload: multipart.Upload[uploads.LimitedWriter],
    stored: Any,
) -> OutputFileOut:
    uploads.record_file(session, principal, plan, file_id, upload.filename, stored, upload.fields)
    session.flush()
    return _file_view(session, principal, plan.request_id, file_id)


@router.post(
    "/{output_id}/files",
    summary="Add a file (multipart: file, context, controls), streamed and encrypted as it arrives",
    status_code=status.HTTP_201_CREATED,
    response_model=OutputFileOut,
    responses=UPLOAD_RESPONSES,
    openapi_extra=FILE_FORM,
)
async def upload_output_file(
    output_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: OutputsCreate,
) -> OutputFileOut:
    plan = await run_in_threadpool(uploads.plan_upload, session, principal, str(output_id))
    _refuse_long_body(request, plan.max_bytes, plan)
    file_id = uuid.uuid4()
    upload = await multipart.receive(
        request, lambda _name: uploads.open_writer(plan, file_id), allowed_fields=uploads.FILE_FIELDS
    )
    try:
        if upload.size == 0:
            raise InvalidInput(f"the file {upload.filename!r} is empty; there is nothing to check or release")
        stored = await run_in_threadpool(upload.sink.commit)
    except BaseException:
        await run_in_threadpool(upload.sink.abort)
        raise
    # Stored before its row exists: if the request's transaction does not commit, the blob goes too.
    jobs.on_rollback(session, lambda: output_store().delete(stored.file_id))
    return await run_in_threadpool(_record, session, principal, plan, file_id, upload, stored)


def _ingest(
    session: DbSession,
    principal: Principal,
    plan: uploads.UploadPlan,
    zip_path: Path,
    fields: dict[str, str],
    stored_ids: list[str],
) -> AcroSessionOut:
    acro, rows, skipped = acro_upload.ingest(session, principal, plan, zip_path, fields, stored_ids)
    session.flush()
    request = repository.get_visible(session, principal, str(plan.request_id))
    project = repository.project_of(session, request)
    return AcroSessionOut(
        acro_version=acro.acro_version,
        outputs=len(acro.outputs),
        problems=[FindingOut(code=c, message=m) for c, m in acro.problems],
        skipped=skipped,
        files=views.file_views(session, principal, request, project, rows),
    )


@router.post(
    "/{output_id}/acro-sessions",
    summary="Add the outputs of an ACRO session (a ZIP of its folder); our own checks re-run on each",
    status_code=status.HTTP_201_CREATED,
    response_model=AcroSessionOut,
    responses=UPLOAD_RESPONSES,
    openapi_extra=ACRO_FORM,
)
async def upload_acro_session(
    output_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: OutputsCreate,
) -> AcroSessionOut:
    plan = await run_in_threadpool(uploads.plan_upload, session, principal, str(output_id))
    limit = min(plan.remaining_request_bytes, plan.max_archive_bytes)
    _refuse_long_body(request, limit, plan)
    spool = Path(tempfile.mkdtemp(dir=work_dir(), prefix="acro-"))
    zip_path = spool / "session.zip"
    try:
        upload = await multipart.receive(
            request,
            lambda _name: acro_upload.SpoolWriter(zip_path, plan, limit),
            allowed_fields=acro_upload.ACRO_FIELDS,
        )
        upload.sink.close()
        if upload.size == 0:
            raise InvalidInput("the uploaded ZIP is empty")
        stored_ids: list[str] = []  # filled as blobs are stored; removed if the transaction rolls back
        jobs.on_rollback(session, lambda: [output_store().delete(i) for i in stored_ids])
        return await run_in_threadpool(_ingest, session, principal, plan, zip_path, upload.fields, stored_ids)
    finally:
        await run_in_threadpool(shutil.rmtree, spool, True)


@router.get(
    "/{output_id}/files/{file_id}/content",
    summary="Download a file (decrypted as it streams; every download is audited)",
    response_class=StreamingResponse,
    responses=READ | {200: {"content": {"application/octet-stream": {}}, "description": "The file"}},
)
def download_output_file(
    output_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: OutputsRead,
) -> StreamingResponse:
    request = repository.get_visible(session, principal, str(output_id))
    file = repository.get_file(session, request, str(file_id))
    chunks = releases.open_download(session, principal, request, file)
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={
            "Content-Length": str(file.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file.name, safe='')}",
            "X-Content-SHA256": file.sha256,
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/{output_id}/release",
    summary="Release an approved request (an independent output checker): hashes re-verified, record written",
    response_model=OutputRequestOut,
    responses=WRITE,
)
def release_output_request(
    output_id: uuid.UUID,
    http_request: Request,
    session: DbSession,
    principal: OutputsRelease,
) -> OutputRequestOut | Response:
    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    broken = transitions.release(session, principal, request)
    if broken:
        # The block must be committed with its audit event, so the refusal is a response, not a raise.
        return problem_response(http_request, releases.FilesChanged(broken))
    return views.request_view(session, principal, request)


@router.get(
    "/{output_id}/release-record",
    summary="The machine-readable release record (JSON)",
    response_class=Response,
    responses=READ
    | {
        200: {
            "content": {"application/json": {"schema": RECORD_SCHEMA}},
            "description": "The release record, canonical JSON whose SHA-256 is in X-Record-SHA256 (the "
            "stored record's for the full copy; the project's redacted copy has its own)",
        }
    },
)
def get_release_record(output_id: uuid.UUID, session: DbSession, principal: OutputsRead) -> Response:
    request = repository.get_visible(session, principal, str(output_id))
    row = releases.release_record(session, request)
    copy = releases.record_for(session, principal, request, repository.project_of(session, request), row)
    return Response(
        copy.body,
        media_type="application/json",
        headers={
            # The SHA-256 of the bytes returned: the stored record's for the full copy; the redacted copy
            # has its own (the full record's would confirm a guess of the reviewers), and says so in its
            # body ("redacted": true).
            "X-Record-SHA256": copy.sha256,
            "X-Record-Redacted": "true" if copy.redacted else "false",
            "Content-Disposition": f'attachment; filename="release-record-{request.id}.json"',
        },
    )
