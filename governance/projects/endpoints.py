"""Project and membership routes (thin: parse, authorise, call the service, commit)."""

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
from governance.core.schemas import LIST_LIMIT
from governance.core.transition_routes import add_transition_routes
from governance.core.transitions import actions_for
from governance.models.identity import User
from governance.models.projects import Membership, Project
from governance.projects import memberships, repository, service
from governance.projects.auth import (
    MembershipsApprove,
    MembershipsRemove,
    MembershipsWrite,
    ProjectsCreate,
    ProjectsEdit,
    ProjectsRead,
)
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE, PROJECT_LIFECYCLE
from governance.projects.schemas import (
    MemberCreate,
    MemberOut,
    MemberUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)
from governance.projects.states import MembershipStatus, ProjectStatus

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])


def _out(session: Session, principal: Principal, project: Project) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.set_actions(actions_for(session, principal, PROJECT_LIFECYCLE, project))
    return out


@router.get("", summary="List projects you can see", response_model=Page[ProjectOut], responses=COMMON)
def list_projects(
    session: DbSession,
    principal: ProjectsRead,
    status_: ProjectStatus | None = Query(None, alias="status"),
    tier: int | None = Query(None, ge=0, le=4),
    q: str | None = Query(None, max_length=100, description="Text in the slug or title"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[ProjectOut]:
    rows, next_cursor = repository.list_projects(
        session, principal, status=status_, tier=tier, q=q, limit=limit, cursor=cursor
    )
    return Page(items=[_out(session, principal, p) for p in rows], next_cursor=next_cursor)


@router.post(
    "",
    summary="Apply for a project (created as a draft)",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectOut,
    responses=WRITE,
)
def create_project(body: ProjectCreate, session: DbSession, principal: ProjectsCreate) -> ProjectOut:
    project = service.create_project(session, principal, body)
    return _out(session, principal, project)


@router.get(
    "/{project_ref}", summary="Read a project by id or slug", response_model=ProjectOut, responses=READ
)
def get_project(project_ref: str, session: DbSession, principal: ProjectsRead) -> ProjectOut:
    return _out(session, principal, repository.get_visible(session, principal, project_ref))


@router.patch(
    "/{project_ref}", summary="Change a project's details", response_model=ProjectOut, responses=WRITE
)
def update_project(
    project_ref: str,
    body: ProjectUpdate,
    session: DbSession,
    principal: ProjectsEdit,
) -> ProjectOut:
    project = repository.get_visible(session, principal, project_ref, for_update=True)
    service.update_project(session, principal, project, body)
    return _out(session, principal, project)


def _load_project(session: Session, principal: Principal, project_ref: str) -> Project:
    return repository.get_visible(session, principal, project_ref, for_update=True)


add_transition_routes(
    router,
    PROJECT_LIFECYCLE,
    path="/{project_ref}",
    params=[("project_ref", str)],
    load=_load_project,
    render=_out,
    response_model=ProjectOut,
    operation_prefix="project",
)


def _member_out(
    session: Session,
    principal: Principal,
    row: Membership,
    usernames: dict[uuid.UUID, str] | None = None,
) -> MemberOut:
    out = MemberOut.model_validate(row)
    out.status = MEMBERSHIP_LIFECYCLE.state_of(row)
    if usernames is None:
        usernames = _usernames(session, [row])
    out.username = usernames.get(row.user_id, "")
    out.set_actions(actions_for(session, principal, MEMBERSHIP_LIFECYCLE, row))
    return out


def _usernames(session: DbSession, rows: Sequence[Membership]) -> dict[uuid.UUID, str]:
    """Usernames of a page of members in one query (not one per row)."""
    ids = {r.user_id for r in rows}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


@router.get(
    "/{project_ref}/members",
    summary="List a project's members",
    response_model=Page[MemberOut],
    responses=READ,
)
def list_members(
    project_ref: str,
    session: DbSession,
    principal: ProjectsRead,
    status_: MembershipStatus | None = Query(None, alias="status"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[MemberOut]:
    project = repository.get_visible(session, principal, project_ref)
    rows, next_cursor = memberships.list_members(session, project, status=status_, limit=limit, cursor=cursor)
    usernames = _usernames(session, rows)
    return Page(items=[_member_out(session, principal, r, usernames) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{project_ref}/members",
    summary="Ask for a membership (yourself, or someone, as the lead)",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberOut,
    responses=WRITE,
)
def add_member(
    project_ref: str,
    body: MemberCreate,
    session: DbSession,
    principal: MembershipsWrite,
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.request_membership(session, principal, project, body)
    return _member_out(session, principal, row)


@router.patch(
    "/{project_ref}/members/{member_id}",
    summary="Change a membership's role or expiry",
    response_model=MemberOut,
    responses=WRITE,
)
def update_member(
    project_ref: str,
    member_id: uuid.UUID,
    body: MemberUpdate,
    session: DbSession,
    principal: MembershipsApprove,
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.get_member(session, project, member_id)
    memberships.update_membership(session, principal, project, row, body)
    return _member_out(session, principal, row)


@router.delete(
    "/{project_ref}/members/{member_id}",
    summary="Remove a member (their servers are stopped)",
    response_model=MemberOut,
    responses=WRITE,
)
def remove_member(
    project_ref: str,
    member_id: uuid.UUID,
    session: DbSession,
    principal: MembershipsRemove,
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.get_member(session, project, member_id)
    memberships.remove_membership(session, principal, project, row)
    return _member_out(session, principal, row)


def _load_member(
    session: Session, principal: Principal, project_ref: str, member_id: uuid.UUID
) -> Membership:
    project = repository.get_visible(session, principal, project_ref)
    return memberships.get_member(session, project, member_id)


add_transition_routes(
    router,
    MEMBERSHIP_LIFECYCLE,
    path="/{project_ref}/members/{member_id}",
    params=[("project_ref", str), ("member_id", uuid.UUID)],
    load=_load_member,
    render=_member_out,
    response_model=MemberOut,
    operation_prefix="member",
)
