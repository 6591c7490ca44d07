"""Project and membership routes (thin: parse, authorise, call the service, commit)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy import select

from governance.auth.dependencies import DbSession, require, require_any
from governance.auth.principal import Principal
from governance.core.db import commit
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT, TransitionBody
from governance.models.identity import User
from governance.models.projects import Membership, Project
from governance.projects import memberships, repository, service
from governance.projects.lifecycle import PROJECT_LIFECYCLE
from governance.projects.schemas import (
    MemberCreate,
    MemberOut,
    MemberUpdate,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
ProjectStatus = Literal[
    "draft", "submitted", "in_review", "approved", "returned", "rejected", "active", "suspended", "closed"
]


def _out(project: Project) -> ProjectOut:
    out = ProjectOut.model_validate(project)
    out.allowed_actions = [a for a in PROJECT_LIFECYCLE.allowed_actions(project.status) if a != "complete"]
    return out


@router.get("", summary="List projects you can see", response_model=Page[ProjectOut], responses=COMMON)
def list_projects(
    session: DbSession,
    principal: Principal = Depends(require("read:projects")),
    status_: ProjectStatus | None = Query(None, alias="status"),
    tier: int | None = Query(None, ge=0, le=4),
    q: str | None = Query(None, max_length=100, description="Text in the slug or title"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[ProjectOut]:
    rows, next_cursor = repository.list_projects(
        session, principal, status=status_, tier=tier, q=q, limit=limit, cursor=cursor
    )
    return Page(items=[_out(p) for p in rows], next_cursor=next_cursor)


@router.post(
    "",
    summary="Apply for a project (created as a draft)",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectOut,
    responses=WRITE,
)
def create_project(
    body: ProjectCreate, session: DbSession, principal: Principal = Depends(require("create:projects"))
) -> ProjectOut:
    project = service.create_project(session, principal, body)
    commit(session)
    return _out(project)


@router.get(
    "/{project_ref}", summary="Read a project by id or slug", response_model=ProjectOut, responses=READ
)
def get_project(
    project_ref: str, session: DbSession, principal: Principal = Depends(require("read:projects"))
) -> ProjectOut:
    return _out(repository.get_visible(session, principal, project_ref))


@router.patch(
    "/{project_ref}", summary="Change a project's details", response_model=ProjectOut, responses=WRITE
)
def update_project(
    project_ref: str,
    body: ProjectUpdate,
    session: DbSession,
    principal: Principal = Depends(require_any("create:projects", "manage:projects")),
) -> ProjectOut:
    project = repository.get_visible(session, principal, project_ref, for_update=True)
    service.update_project(session, principal, project, body)
    commit(session)
    return _out(project)


def _transition_route(action: str, summary: str, scope: str) -> None:
    def handler(
        project_ref: str,
        session: DbSession,
        body: TransitionBody | None = None,
        principal: Principal = Depends(require(scope)),
    ) -> ProjectOut:
        project = repository.get_visible(session, principal, project_ref, for_update=True)
        service.transition(session, principal, project, action, body.note if body else "")
        commit(session)
        return _out(project)

    handler.__name__ = f"{action}_project"
    router.add_api_route(
        f"/{{project_ref}}/{action}",
        handler,
        methods=["POST"],
        summary=summary,
        response_model=ProjectOut,
        responses=WRITE,
    )


_transition_route("submit", "Submit the application for review (the lead)", "create:projects")
_transition_route("approve", "Approve an application (an independent data steward)", "approve:projects")
_transition_route("return", "Return an application for changes, with a note", "approve:projects")
_transition_route("reject", "Reject an application, with a note", "approve:projects")
_transition_route("activate", "Activate an approved or suspended project", "manage:projects")
_transition_route("suspend", "Suspend an active project (running servers are stopped)", "manage:projects")
_transition_route("close", "Close a project for good (running servers are stopped)", "manage:projects")


def _member_out(
    session: DbSession, row: Membership, usernames: dict[uuid.UUID, str] | None = None
) -> MemberOut:
    out = MemberOut.model_validate(row)
    if usernames is None:
        usernames = _usernames(session, [row])
    out.username = usernames.get(row.user_id, "")
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
    principal: Principal = Depends(require("read:projects")),
    status_: Literal["requested", "approved", "rejected"] | None = Query(None, alias="status"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[MemberOut]:
    project = repository.get_visible(session, principal, project_ref)
    rows, next_cursor = memberships.list_members(session, project, status=status_, limit=limit, cursor=cursor)
    usernames = _usernames(session, rows)
    return Page(items=[_member_out(session, r, usernames) for r in rows], next_cursor=next_cursor)


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
    principal: Principal = Depends(require("write:memberships")),
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.request_membership(session, principal, project, body)
    commit(session)
    return _member_out(session, row)


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
    principal: Principal = Depends(require("approve:memberships")),
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.get_member(session, project, member_id)
    memberships.update_membership(session, principal, project, row, body)
    commit(session)
    return _member_out(session, row)


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
    principal: Principal = Depends(
        require_any("write:memberships", "approve:memberships", "manage:projects")
    ),
) -> MemberOut:
    project = repository.get_visible(session, principal, project_ref)
    row = memberships.get_member(session, project, member_id)
    memberships.remove_membership(session, principal, project, row)
    commit(session)
    return _member_out(session, row)


def _member_decision_route(action: str, summary: str) -> None:
    def handler(
        project_ref: str,
        member_id: uuid.UUID,
        session: DbSession,
        body: TransitionBody | None = None,
        principal: Principal = Depends(require("approve:memberships")),
    ) -> MemberOut:
        project = repository.get_visible(session, principal, project_ref)
        row = memberships.get_member(session, project, member_id)
        memberships.decide_membership(session, principal, project, row, action, body.note if body else "")
        commit(session)
        return _member_out(session, row)

    handler.__name__ = f"{action}_member"
    router.add_api_route(
        f"/{{project_ref}}/members/{{member_id}}/{action}",
        handler,
        methods=["POST"],
        summary=summary,
        response_model=MemberOut,
        responses=WRITE,
    )


_member_decision_route("approve", "Approve a membership request (an independent data steward)")
_member_decision_route("reject", "Reject a membership request")
