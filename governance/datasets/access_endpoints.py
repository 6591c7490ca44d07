"""Access-request and grant routes (thin: parse, authorise, call the service; the request's session commits).

The moves (approve, reject, revoke) are generated from their declarations in lifecycle.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT, Ref
from governance.core.transition_routes import add_transition_routes
from governance.core.transitions import actions_for
from governance.datasets import access_requests, repository
from governance.datasets.auth import AccessRequestsCreate, DatasetsRead
from governance.datasets.lifecycle import ACCESS_REQUEST_LIFECYCLE, GRANT_LIFECYCLE
from governance.datasets.schemas import AccessRequestCreate, AccessRequestOut, GrantOut
from governance.datasets.states import AccessRequestStatus
from governance.models.datasets import AccessRequest, Grant

access_requests_router = APIRouter(prefix="/api/v1/access-requests", tags=["access requests"])
grants_router = APIRouter(prefix="/api/v1/grants", tags=["grants"])


def _request_out(
    session: Session,
    principal: Principal,
    row: AccessRequest,
    grants: dict[uuid.UUID, uuid.UUID] | None = None,
) -> AccessRequestOut:
    out = AccessRequestOut.model_validate(row)
    out.set_actions(actions_for(session, principal, ACCESS_REQUEST_LIFECYCLE, row))
    if row.status == AccessRequestStatus.approved:
        if grants is None:
            grant = repository.grant_of_request(session, row.id)
            out.grant_id = grant.id if grant else None
        else:
            out.grant_id = grants.get(row.id)
    return out


def _grants_by_request(session: Session, rows: Sequence[AccessRequest]) -> dict[uuid.UUID, uuid.UUID]:
    """The grant of every approved request on a page, in one query."""
    approved = [r.id for r in rows if r.status == AccessRequestStatus.approved]
    if not approved:
        return {}
    pairs = session.execute(
        select(Grant.access_request_id, Grant.id).where(Grant.access_request_id.in_(approved))
    ).all()
    return {request_id: grant_id for request_id, grant_id in pairs if request_id is not None}


def _grant_out(session: Session, principal: Principal, row: Grant) -> GrantOut:
    out = GrantOut.model_validate(row)
    out.status = GRANT_LIFECYCLE.state_of(row)
    out.set_actions(actions_for(session, principal, GRANT_LIFECYCLE, row))
    return out


@access_requests_router.get(
    "",
    summary="List access requests (your projects', those for data in your custody, or all with read:all)",
    response_model=Page[AccessRequestOut],
    responses=COMMON,
)
def list_access_requests(
    session: DbSession,
    principal: DatasetsRead,
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
    parts = repository.load_parts(session, rows)  # held while the rows' actions are worked out
    items = [_request_out(session, principal, r, grants) for r in rows]
    del parts
    return Page(items=items, next_cursor=next_cursor)


@access_requests_router.post(
    "",
    summary="Ask for a project's access to a dataset (the lead or an approved researcher)",
    status_code=status.HTTP_201_CREATED,
    response_model=AccessRequestOut,
    responses=WRITE,
)
def create_access_request(
    body: AccessRequestCreate, session: DbSession, principal: AccessRequestsCreate
) -> AccessRequestOut:
    row = access_requests.create_request(session, principal, body)
    return _request_out(session, principal, row)


@access_requests_router.get(
    "/{request_id}", summary="Read an access request", response_model=AccessRequestOut, responses=READ
)
def get_access_request(request_id: str, session: DbSession, principal: DatasetsRead) -> AccessRequestOut:
    row = repository.get_visible_access_request(session, principal, request_id)
    return _request_out(session, principal, row)


def _load_request(session: Session, principal: Principal, request_id: str) -> AccessRequest:
    return repository.get_visible_access_request(session, principal, request_id, for_update=True)


add_transition_routes(
    access_requests_router,
    ACCESS_REQUEST_LIFECYCLE,
    path="/{request_id}",
    params=[("request_id", str)],
    load=_load_request,
    render=_request_out,
    response_model=AccessRequestOut,
    operation_prefix="access_request",
)


@grants_router.get(
    "",
    summary="List dataset grants (your projects', those for data in your custody, or all with read:all)",
    response_model=Page[GrantOut],
    responses=COMMON,
)
def list_grants(
    session: DbSession,
    principal: DatasetsRead,
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
    return Page(items=[_grant_out(session, principal, g) for g in rows], next_cursor=next_cursor)


@grants_router.get("/{grant_id}", summary="Read a grant", response_model=GrantOut, responses=READ)
def get_grant(grant_id: str, session: DbSession, principal: DatasetsRead) -> GrantOut:
    return _grant_out(session, principal, repository.get_visible_grant(session, principal, grant_id))


def _load_grant(session: Session, principal: Principal, grant_id: str) -> Grant:
    return repository.get_visible_grant(session, principal, grant_id, for_update=True)


add_transition_routes(
    grants_router,
    GRANT_LIFECYCLE,
    path="/{grant_id}",
    params=[("grant_id", str)],
    load=_load_grant,
    render=_grant_out,
    response_model=GrantOut,
    operation_prefix="grant",
)
