"""Access-request and grant routes (thin: parse, authorise, call the service, commit)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession, require
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT, Ref
from governance.datasets import access_requests, grants, repository
from governance.datasets.lifecycle import ACCESS_REQUEST_LIFECYCLE, GRANT_LIFECYCLE
from governance.datasets.schemas import (
    AccessApprove,
    AccessReject,
    AccessRequestCreate,
    AccessRequestOut,
    AccessRequestStatus,
    GrantOut,
    GrantRevoke,
)
from governance.models.datasets import AccessRequest, Grant

access_requests_router = APIRouter(prefix="/api/v1/access-requests", tags=["access requests"])
grants_router = APIRouter(prefix="/api/v1/grants", tags=["grants"])


def _request_out(
    session: Session, row: AccessRequest, grants: dict[uuid.UUID, uuid.UUID] | None = None
) -> AccessRequestOut:
    out = AccessRequestOut.model_validate(row)
    out.allowed_actions = ACCESS_REQUEST_LIFECYCLE.allowed_actions(row.status)
    if row.status == "approved":
        if grants is None:
            grant = repository.grant_of_request(session, row.id)
            out.grant_id = grant.id if grant else None
        else:
            out.grant_id = grants.get(row.id)
    return out


def _grants_by_request(session: Session, rows: Sequence[AccessRequest]) -> dict[uuid.UUID, uuid.UUID]:
    """The grant of every approved request on a page, in one query."""
    approved = [r.id for r in rows if r.status == "approved"]
    if not approved:
        return {}
    pairs = session.execute(
        select(Grant.access_request_id, Grant.id).where(Grant.access_request_id.in_(approved))
    ).all()
    return {request_id: grant_id for request_id, grant_id in pairs if request_id is not None}


def _grant_out(row: Grant) -> GrantOut:
    out = GrantOut.model_validate(row)
    out.status = repository.grant_state(row)
    out.allowed_actions = GRANT_LIFECYCLE.allowed_actions(out.status)
    return out


@access_requests_router.get(
    "",
    summary="List access requests (your projects', those for data in your custody, or all with read:all)",
    response_model=Page[AccessRequestOut],
    responses=COMMON,
)
def list_access_requests(
    session: DbSession,
    principal: Principal = Depends(require("read:datasets")),
    project: Ref | None = Query(None, description="Project id or slug"),
    dataset: Ref | None = Query(None, description="Dataset id or slug"),
    status_: AccessRequestStatus | None = Query(None, alias="status"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[AccessRequestOut]:
    rows, next_cursor = repository.list_access_requests(
        session, principal, project=project, dataset=dataset, status=status_, limit=limit, cursor=cursor
    )
    grants = _grants_by_request(session, rows)
    return Page(items=[_request_out(session, r, grants) for r in rows], next_cursor=next_cursor)


@access_requests_router.post(
    "",
    summary="Ask for a project's access to a dataset (the lead or an approved researcher)",
    status_code=status.HTTP_201_CREATED,
    response_model=AccessRequestOut,
    responses=WRITE,
)
def create_access_request(
    body: AccessRequestCreate,
    session: DbSession,
    principal: Principal = Depends(require("create:access-requests")),
) -> AccessRequestOut:
    row = access_requests.create_request(session, principal, body)
    return _request_out(session, row)


@access_requests_router.get(
    "/{request_id}", summary="Read an access request", response_model=AccessRequestOut, responses=READ
)
def get_access_request(
    request_id: str, session: DbSession, principal: Principal = Depends(require("read:datasets"))
) -> AccessRequestOut:
    return _request_out(session, repository.get_visible_access_request(session, principal, request_id))


@access_requests_router.post(
    "/{request_id}/approve",
    summary="Approve an access request and grant the access (the custodian or an independent steward)",
    response_model=AccessRequestOut,
    responses=WRITE,
)
def approve_access_request(
    request_id: str,
    session: DbSession,
    body: AccessApprove | None = None,
    principal: Principal = Depends(require("approve:access-requests")),
) -> AccessRequestOut:
    row = repository.get_visible_access_request(session, principal, request_id, for_update=True)
    access_requests.approve(session, principal, row, body or AccessApprove())
    return _request_out(session, row)


@access_requests_router.post(
    "/{request_id}/reject",
    summary="Reject an access request, saying why (the custodian or a steward independent of the project)",
    response_model=AccessRequestOut,
    responses=WRITE,
)
def reject_access_request(
    request_id: str,
    body: AccessReject,
    session: DbSession,
    principal: Principal = Depends(require("approve:access-requests")),
) -> AccessRequestOut:
    row = repository.get_visible_access_request(session, principal, request_id, for_update=True)
    access_requests.reject(session, principal, row, body.note)
    return _request_out(session, row)


@grants_router.get(
    "",
    summary="List dataset grants (your projects', those for data in your custody, or all with read:all)",
    response_model=Page[GrantOut],
    responses=COMMON,
)
def list_grants(
    session: DbSession,
    principal: Principal = Depends(require("read:datasets")),
    project: Ref | None = Query(None, description="Project id or slug"),
    dataset: Ref | None = Query(None, description="Dataset id or slug"),
    active: bool | None = Query(
        None, description="Only grants in force (true) or no longer in force (false)"
    ),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[GrantOut]:
    rows, next_cursor = repository.list_grants(
        session, principal, project=project, dataset=dataset, active=active, limit=limit, cursor=cursor
    )
    return Page(items=[_grant_out(g) for g in rows], next_cursor=next_cursor)


@grants_router.get("/{grant_id}", summary="Read a grant", response_model=GrantOut, responses=READ)
def get_grant(
    grant_id: str, session: DbSession, principal: Principal = Depends(require("read:datasets"))
) -> GrantOut:
    return _grant_out(repository.get_visible_grant(session, principal, grant_id))


@grants_router.post(
    "/{grant_id}/revoke",
    summary="Revoke a grant, saying why (servers using the data are stopped)",
    response_model=GrantOut,
    responses=WRITE,
)
def revoke_grant(
    grant_id: str,
    body: GrantRevoke,
    session: DbSession,
    principal: Principal = Depends(require("revoke:grants")),
) -> GrantOut:
    row = repository.get_visible_grant(session, principal, grant_id, for_update=True)
    grants.revoke(session, principal, row, body.reason)
    return _grant_out(row)
