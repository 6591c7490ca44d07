"""Project rules: creation, edits, lifecycle moves with separation of duties."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import forget_involvement
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.clock import utcnow
from governance.core.errors import (
    Conflict,
    DomainError,
    DuplicateError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from governance.core.transitions import perform
from governance.enforcement.triggers import access_changed
from governance.models.identity import Organisation, User
from governance.models.projects import Membership, Project, ProjectApproval, ProjectEditor
from governance.projects.lifecycle import PROJECT_LIFECYCLE
from governance.projects.repository import get_any
from governance.projects.schemas import ProjectCreate, ProjectUpdate
from governance.projects.states import APPROVED_STATES, ENDED, FROZEN, ProjectStatus


def _user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInput(f"there is no user {username!r}")
    return user


def create_project(session: Session, principal: Principal, body: ProjectCreate) -> Project:
    if get_any(session, body.slug) is not None:
        raise DuplicateError(f"a project with the slug {body.slug!r} already exists")
    lead_id = principal.user_id
    if body.lead and body.lead != principal.username:
        if not principal.has(Scope.manage_projects):
            raise Forbidden("only data stewards may name someone else as the lead of a new project")
        lead_id = _user_by_username(session, body.lead).id
    organisation_id = None
    if body.organisation:
        org = session.scalar(select(Organisation).where(Organisation.slug == body.organisation))
        if org is None:
            raise InvalidInput(f"there is no organisation {body.organisation!r}")
        organisation_id = org.id
    project = Project(
        id=uuid.uuid4(),
        status="draft",
        created_by_id=principal.user_id,
        lead_id=lead_id,
        organisation_id=organisation_id,
        **body.model_dump(exclude={"lead", "organisation"}),
    )
    session.add(project)
    session.flush()  # no ORM relationships: parents are flushed before children
    session.add(
        Membership(
            id=uuid.uuid4(),
            project_id=project.id,
            user_id=lead_id,
            role="lead",
            status="approved",
            requested_by_id=principal.user_id,
            decided_at=utcnow(),
        )
    )
    session.flush()
    record(
        session,
        principal,
        "project.create",
        "project",
        project.id,
        project_id=project.id,
        summary={"slug": project.slug, "tier": project.tier},
    )
    return project


# Changing these after approval changes what was approved: the approvals are reset.
MATERIAL_FIELDS = frozenset(
    {"title", "lay_summary", "purpose", "public_benefit", "ethics_ref", "tier", "starts_on", "ends_on"}
)


def _edit_refusal(principal: Principal, project: Project) -> DomainError | None:
    status = ProjectStatus(project.status)
    steward = principal.has(Scope.manage_projects)
    applicant = principal.user_id in (project.lead_id, project.created_by_id)
    if status in ENDED:
        return Conflict(f"a {status} project cannot be changed")
    if status in FROZEN:
        return Conflict(
            "the application is frozen while it is under review, so what the stewards approve is what "
            "was submitted; a steward can return it to the applicants for changes"
        )
    if status in (ProjectStatus.draft, ProjectStatus.returned):
        if applicant or steward:
            return None
        return Forbidden("only the project lead or a data steward may change this project")
    if steward:
        return None
    if applicant:
        return Conflict(f"the lead can edit a project only while it is draft or returned (it is {status})")
    return Forbidden("only the project lead or a data steward may change this project")


def _materially_changed(project: Project, changes: dict[str, object]) -> list[str]:
    changed = []
    for key, value in changes.items():
        if key not in MATERIAL_FIELDS or getattr(project, key) == value:
            continue
        if key == "ends_on" and project.ends_on and value and value < project.ends_on:  # type: ignore[operator]
            continue  # ending sooner takes nothing approved further
        changed.append(key)
    return changed


def update_project(session: Session, principal: Principal, project: Project, body: ProjectUpdate) -> Project:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    refusal = _edit_refusal(principal, project)
    if refusal is not None:
        raise refusal
    starts = changes.get("starts_on", project.starts_on)
    ends = changes.get("ends_on", project.ends_on)
    if starts and ends and ends < starts:
        raise InvalidInput("ends_on must not be before starts_on")
    material = _materially_changed(project, changes) if project.status in APPROVED_STATES else []
    before = {k: getattr(project, k) for k in changes}
    for key, value in changes.items():
        setattr(project, key, value)
    if principal.user_id not in (project.lead_id, project.created_by_id):
        _note_editor(session, project, principal)
    session.flush()
    record(
        session,
        principal,
        "project.update",
        "project",
        project.id,
        project_id=project.id,
        summary={"before": before, "after": changes},
    )
    if material:
        perform(session, principal, PROJECT_LIFECYCLE, project, "reset_approvals", system=True)
    elif "ends_on" in changes or "tier" in changes:
        access_changed(session, "project.update", project_id=project.id)
    return project


def _note_editor(session: Session, project: Project, principal: Principal) -> None:
    """A steward who changes an application is involved in it, so can no longer approve it."""
    exists = session.get(ProjectEditor, (project.id, principal.user_id))
    if exists is None:
        session.add(ProjectEditor(project_id=project.id, user_id=principal.user_id))
        forget_involvement(session)


def approvals_of(session: Session, project: Project) -> list[ProjectApproval]:
    return list(
        session.scalars(
            select(ProjectApproval)
            .where(ProjectApproval.project_id == project.id)
            .order_by(ProjectApproval.created_at)
        )
    )


def ensure_exists(project: Project | None, ref: str) -> Project:
    if project is None:
        raise NotFound(f"no project {ref!r} that you can see")
    return project
