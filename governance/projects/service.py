"""Project rules: creation, edits, lifecycle moves with separation of duties."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.errors import (
    Conflict,
    DuplicateError,
    Forbidden,
    InvalidInput,
    NotFound,
    SeparationOfDuties,
)
from governance.enforcement.triggers import access_changed
from governance.models.identity import Organisation, User
from governance.models.projects import Membership, Project, ProjectApproval
from governance.projects.lifecycle import PROJECT_LIFECYCLE
from governance.projects.repository import get_any, is_member
from governance.projects.schemas import ProjectCreate, ProjectUpdate

EDITABLE_BY_LEAD = {"draft", "returned"}


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
        if not principal.has("manage:projects"):
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


def update_project(session: Session, principal: Principal, project: Project, body: ProjectUpdate) -> Project:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    steward = principal.has("manage:projects")
    lead = principal.user_id in (project.lead_id, project.created_by_id)
    if project.status == "closed":
        raise Conflict("a closed project cannot be changed")
    if not steward and not (lead and project.status in EDITABLE_BY_LEAD):
        if lead:
            raise Conflict(
                f"the lead can edit a project only while it is draft or returned (it is {project.status})"
            )
        raise Forbidden("only the project lead or a data steward may change this project")
    starts = changes.get("starts_on", project.starts_on)
    ends = changes.get("ends_on", project.ends_on)
    if starts and ends and ends < starts:
        raise InvalidInput("ends_on must not be before starts_on")
    before = {k: getattr(project, k) for k in changes}
    for key, value in changes.items():
        setattr(project, key, value)
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
    if "ends_on" in changes or "tier" in changes:
        access_changed(session, "project.update", project_id=project.id)
    return project


def _require_independent(session: Session, principal: Principal, project: Project, what: str) -> None:
    if is_member(session, project, principal.user_id):
        raise SeparationOfDuties(f"you are involved in project {project.slug!r}, so you cannot {what} it")


def transition(session: Session, principal: Principal, project: Project, action: str, note: str) -> Project:
    state_before = project.status
    new_state = PROJECT_LIFECYCLE.next_state(project.status, action)
    if action == "submit":
        if principal.user_id not in (project.lead_id, project.created_by_id):
            raise Forbidden("only the project lead may submit the application")
        missing = [f for f in ("lay_summary", "purpose", "public_benefit") if not getattr(project, f)]
        if project.ends_on is None:
            missing.append("ends_on")
        if missing:
            raise InvalidInput(f"fill in {', '.join(missing)} before submitting", missing_fields=missing)
        project.review_round += 1
    elif action in ("approve", "return", "reject"):
        if not principal.has("approve:projects"):
            raise Forbidden("only data stewards may review project applications")
        _require_independent(session, principal, project, f"{action} a review of")
        if action in ("return", "reject") and not note:
            raise InvalidInput(f"say why when you {action} a project (the note is shown to the applicants)")
        if action == "approve":
            new_state = _approve(session, principal, project, note)
    elif not principal.has("manage:projects"):
        raise Forbidden(f"only data stewards may {action} projects")
    project.status = new_state
    session.flush()
    record(
        session,
        principal,
        f"project.{action}",
        "project",
        project.id,
        project_id=project.id,
        summary={"from": state_before, "to": new_state, "note": note},
    )
    if new_state in ("suspended", "closed"):
        access_changed(session, f"project.{action}", project_id=project.id)
    return project


def _approve(session: Session, principal: Principal, project: Project, note: str) -> str:
    already = session.scalar(
        select(ProjectApproval).where(
            ProjectApproval.project_id == project.id,
            ProjectApproval.steward_id == principal.user_id,
            ProjectApproval.review_round == project.review_round,
        )
    )
    if already is not None:
        raise Conflict("you have already approved this application; another steward must approve it too")
    session.add(
        ProjectApproval(
            id=uuid.uuid4(),
            project_id=project.id,
            steward_id=principal.user_id,
            review_round=project.review_round,
            note=note,
        )
    )
    session.flush()
    count = (
        session.scalar(
            select(func.count())
            .select_from(ProjectApproval)
            .where(
                ProjectApproval.project_id == project.id, ProjectApproval.review_round == project.review_round
            )
        )
        or 0
    )
    required = get_settings().approvals_required(project.tier)
    if count >= required:
        return PROJECT_LIFECYCLE.next_state("in_review", "complete")
    return "in_review"


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
