"""Output-request routes (thin: parse, authorise, call the service or perform a declared move).

The request's session commits after the handler returns, before the response is sent; jobs asked for
(the checks of a submitted request) run after that commit, so a response to ``submit`` shows
"submitted" and a later read shows what the checks found.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core import jobs
from governance.core.errors import NotFound
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.core.transition_routes import add_transition_routes
from governance.core.transitions import perform
from governance.models.outputs import OutputRequest, OutputReview
from governance.outputs import repository, service, views
from governance.outputs.auth import OutputsCreate, OutputsRead, OutputsReview
from governance.outputs.lifecycle import FILE_REVIEW_LIFECYCLE, OUTPUT_LIFECYCLE
from governance.outputs.schemas import (
    FileUpdate,
    OutputFileOut,
    OutputRequestCreate,
    OutputRequestOut,
    OutputRequestSummary,
    ReviewCreate,
    ReviewOut,
)
from governance.outputs.states import OutputRequestStatus

router = APIRouter(prefix="/api/v1/output-requests", tags=["outputs"])


def _view(session: Session, principal: Principal, output_id: uuid.UUID) -> OutputRequestOut:
    return views.request_view(session, principal, repository.get_visible(session, principal, str(output_id)))


@router.get(
    "",
    summary="List output requests you can see",
    response_model=Page[OutputRequestSummary],
    responses=COMMON,
)
def list_output_requests(
    session: DbSession,
    principal: OutputsRead,
    mine: bool = Query(False, description="Only requests you created"),
    reviewable: bool = Query(False, description="Only requests waiting for review that you may review"),
    project: str | None = Query(None, max_length=64, description="A project's slug or id"),
    status_: OutputRequestStatus | None = Query(None, alias="status"),
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
    return Page(items=views.summaries(session, principal, rows), next_cursor=next_cursor)


@router.post(
    "",
    summary="Start an output request (a draft) for a project you are a member of",
    status_code=status.HTTP_201_CREATED,
    response_model=OutputRequestOut,
    responses=WRITE,
)
def create_output_request(
    body: OutputRequestCreate, session: DbSession, principal: OutputsCreate
) -> OutputRequestOut:
    row = service.create_request(session, principal, body)
    return views.request_view(session, principal, row)


@router.get(
    "/{output_id}",
    summary="Read an output request: status, files, check results and the votes you may see",
    response_model=OutputRequestOut,
    responses=READ,
)
def get_output_request(output_id: uuid.UUID, session: DbSession, principal: OutputsRead) -> OutputRequestOut:
    return _view(session, principal, output_id)


def _load_request(session: Session, principal: Principal, output_id: uuid.UUID) -> OutputRequest:
    return repository.get_visible(session, principal, str(output_id), for_update=True)


add_transition_routes(
    router,
    OUTPUT_LIFECYCLE,
    path="/{output_id}",
    params=[("output_id", uuid.UUID)],
    load=_load_request,
    render=views.request_view,
    response_model=OutputRequestOut,
    operation_prefix="output_request",
)


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
    principal: OutputsCreate,
) -> OutputFileOut:
    request = _load_request(session, principal, output_id)
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
    principal: OutputsCreate,
) -> None:
    from governance.outputs.runtime import output_store

    request = _load_request(session, principal, output_id)
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
    principal: OutputsReview,
) -> ReviewOut:
    request = _load_request(session, principal, output_id)
    file = repository.get_file(session, request, str(file_id))
    perform(session, principal, FILE_REVIEW_LIFECYCLE, file, body.vote, body)
    vote = session.scalar(
        select(OutputReview).where(
            OutputReview.file_id == file.id,
            OutputReview.reviewer_id == principal.user_id,
            OutputReview.round == request.round,
        )
    )
    assert vote is not None  # the move just stored it
    return views.review_out(vote, principal.username)


def _file_view(
    session: Session, principal: Principal, output_id: uuid.UUID, file_id: uuid.UUID
) -> OutputFileOut:
    for file in _view(session, principal, output_id).files:
        if file.id == file_id:
            return file
    raise NotFound(f"no file {file_id} in this output request")
