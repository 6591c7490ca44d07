"""Output-request routes (thin: parse, authorise, call the service, commit)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, status

from governance.auth.dependencies import DbSession, require, require_any
from governance.auth.principal import Principal
from governance.core import jobs
from governance.core.errors import NotFound
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT, TransitionBody
from governance.outputs import repository, reviews, service, views
from governance.outputs.schemas import (
    FileUpdate,
    OutputFileOut,
    OutputRequestCreate,
    OutputRequestOut,
    OutputRequestSummary,
    ReviewCreate,
    ReviewOut,
)

router = APIRouter(prefix="/api/v1/output-requests", tags=["outputs"])
READERS = ("read:outputs", "create:outputs")
RequestStatus = Literal[
    "draft",
    "submitted",
    "checking",
    "in_review",
    "approved",
    "released",
    "returned",
    "rejected",
    "withdrawn",
    "blocked",
    "recalled",
]


def _view(session: DbSession, principal: Principal, output_id: uuid.UUID) -> OutputRequestOut:
    session.expire_all()  # a job run after commit may have moved the request on
    return views.request_view(session, principal, repository.get_visible(session, principal, str(output_id)))


@router.get(
    "",
    summary="List output requests you can see",
    response_model=Page[OutputRequestSummary],
    responses=COMMON,
)
def list_output_requests(
    session: DbSession,
    principal: Principal = Depends(require_any(*READERS)),
    mine: bool = Query(False, description="Only requests you created"),
    reviewable: bool = Query(False, description="Only requests waiting for review that you may review"),
    project: str | None = Query(None, max_length=64, description="A project's slug or id"),
    status_: RequestStatus | None = Query(None, alias="status"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[OutputRequestSummary]:
    project_row = None
    if project:
        project_row = repository.project_by_ref(session, project)
        if project_row is None:
            return Page(items=[], next_cursor=None)
    rows, next_cursor = repository.list_requests(
        session,
        principal,
        mine=mine,
        reviewable=reviewable,
        project=project_row,
        status=status_,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=views.summaries(session, rows), next_cursor=next_cursor)


@router.post(
    "",
    summary="Start an output request (a draft) for a project you are a member of",
    status_code=status.HTTP_201_CREATED,
    response_model=OutputRequestOut,
    responses=WRITE,
)
def create_output_request(
    body: OutputRequestCreate, session: DbSession, principal: Principal = Depends(require("create:outputs"))
) -> OutputRequestOut:
    row = service.create_request(session, principal, body)
    return _view(session, principal, row.id)


@router.get(
    "/{output_id}",
    summary="Read an output request: status, files, check results and the votes you may see",
    response_model=OutputRequestOut,
    responses=READ,
)
def get_output_request(
    output_id: uuid.UUID, session: DbSession, principal: Principal = Depends(require_any(*READERS))
) -> OutputRequestOut:
    return views.request_view(session, principal, repository.get_visible(session, principal, str(output_id)))


@router.post(
    "/{output_id}/submit",
    summary="Submit the request for automated checks and review (the requester)",
    response_model=OutputRequestOut,
    responses=WRITE,
)
def submit_output_request(
    output_id: uuid.UUID, session: DbSession, principal: Principal = Depends(require("create:outputs"))
) -> OutputRequestOut:
    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    service.submit(session, principal, request)
    return _view(session, principal, output_id)


@router.post(
    "/{output_id}/withdraw",
    summary="Withdraw the request before it is approved (the requester)",
    response_model=OutputRequestOut,
    responses=WRITE,
)
def withdraw_output_request(
    output_id: uuid.UUID,
    session: DbSession,
    body: TransitionBody | None = None,
    principal: Principal = Depends(require("create:outputs")),
) -> OutputRequestOut:
    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    service.withdraw(session, principal, request, body.note if body else "")
    return _view(session, principal, output_id)


@router.patch(
    "/{output_id}/files/{file_id}",
    summary="Change a file's context, disclosure controls or contributions column (draft or returned)",
    response_model=OutputFileOut,
    responses=WRITE,
)
def update_output_file(
    output_id: uuid.UUID,
    file_id: uuid.UUID,
    body: FileUpdate,
    session: DbSession,
    principal: Principal = Depends(require("create:outputs")),
) -> OutputFileOut:
    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    file = repository.get_file(session, request, str(file_id))
    service.update_file(session, principal, request, file, body)
    return _file_view(session, principal, output_id, file_id)


@router.delete(
    "/{output_id}/files/{file_id}",
    summary="Remove a file from the request (draft or returned)",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE,
)
def remove_output_file(
    output_id: uuid.UUID,
    file_id: uuid.UUID,
    session: DbSession,
    principal: Principal = Depends(require("create:outputs")),
) -> None:
    from governance.outputs.runtime import output_store

    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    file = repository.get_file(session, request, str(file_id))
    service.remove_file(session, principal, request, file)
    jobs.after_commit(session, lambda: output_store().delete(file.storage_id))


@router.post(
    "/{output_id}/files/{file_id}/reviews",
    summary="Vote on a file: approve, request changes or reject (an independent output checker)",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewOut,
    responses=WRITE,
)
def review_output_file(
    output_id: uuid.UUID,
    file_id: uuid.UUID,
    body: ReviewCreate,
    session: DbSession,
    principal: Principal = Depends(require("review:outputs")),
) -> ReviewOut:
    request = repository.get_visible(session, principal, str(output_id), for_update=True)
    file = repository.get_file(session, request, str(file_id))
    vote = reviews.cast_vote(session, principal, request, file, body)
    return views.review_out(vote, principal.username)


def _file_view(
    session: DbSession, principal: Principal, output_id: uuid.UUID, file_id: uuid.UUID
) -> OutputFileOut:
    for file in _view(session, principal, output_id).files:
        if file.id == file_id:
            return file
    raise NotFound(f"no file {file_id} in this output request")
