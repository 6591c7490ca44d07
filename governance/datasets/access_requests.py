"""Access requests: asked for by a project's researchers, decided by someone independent of the project.

Approval creates the grant in the same transaction, so a request is never approved without one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import involved
from governance.auth.principal import Principal
from governance.core.clock import as_utc, utcnow
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput, SeparationOfDuties
from governance.datasets.lifecycle import ACCESS_REQUEST_LIFECYCLE
from governance.datasets.repository import active_grant, find_dataset
from governance.datasets.schemas import AccessApprove, AccessRequestCreate
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.projects import Project
from governance.projects.repository import membership_of, ref_clause, visible_projects

CLOSED_PROJECT_STATES = {"closed", "rejected"}
REQUESTING_ROLES = {"lead", "researcher"}


def project_end(project: Project) -> datetime | None:
    """A project runs to the end of its last day (the policies deny only once ends_on < today)."""
    if project.ends_on is None:
        return None
    return datetime.combine(project.ends_on + timedelta(days=1), time.min, tzinfo=UTC)


def _may_request(session: Session, principal: Principal, project: Project) -> bool:
    if principal.user_id == project.lead_id:
        return True
    row = membership_of(session, project.id, principal.user_id)
    if (
        row is None
        or row.removed_at is not None
        or row.status != "approved"
        or row.role not in REQUESTING_ROLES
    ):
        return False
    expires = as_utc(row.expires_at)
    return expires is None or expires > utcnow()


def create_request(session: Session, principal: Principal, body: AccessRequestCreate) -> AccessRequest:
    project = session.scalar(visible_projects(principal).where(ref_clause(body.project)))  # type: ignore[arg-type]
    if project is None:
        raise InvalidInput(f"there is no project {body.project!r} that you can see")
    dataset = find_dataset(session, body.dataset)
    if dataset is None:
        raise InvalidInput(f"there is no dataset {body.dataset!r}")
    if not _may_request(session, principal, project):
        raise Forbidden(
            f"only the lead or an approved researcher of {project.slug!r} may ask for its data access"
        )
    if project.status in CLOSED_PROJECT_STATES:
        raise Conflict(f"project {project.slug!r} is {project.status}; it cannot ask for data access")
    if dataset.status != "active":
        raise Conflict(f"dataset {dataset.slug!r} is {dataset.status}; access cannot be requested")
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    pending = session.scalar(
        select(AccessRequest.id).where(
            AccessRequest.project_id == project.id,
            AccessRequest.dataset_id == dataset.id,
            AccessRequest.status == "pending",
        )
    )
    if pending is not None:
        raise DuplicateError(
            f"project {project.slug!r} already has a pending request for {dataset.slug!r}",
            existing_id=str(pending),
        )
    if active_grant(session, project.id, dataset.id) is not None:
        raise DuplicateError(f"project {project.slug!r} already has access to {dataset.slug!r}")
    row = AccessRequest(
        id=uuid.uuid4(),
        project_id=project.id,
        dataset_id=dataset.id,
        justification=body.justification,
        requested_by_id=principal.user_id,
        status="pending",
        requested_expires_at=body.expires_at,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "access-request.create",
        "access_request",
        row.id,
        project_id=project.id,
        summary={"project": project.slug, "dataset": dataset.slug, "expires_at": body.expires_at},
    )
    return row


def _require_independent_decider(
    session: Session, principal: Principal, row: AccessRequest, project: Project, dataset: Dataset
) -> None:
    if principal.user_id != dataset.custodian_id and not principal.has("approve:access-requests"):
        raise Forbidden("only the dataset's custodian or a data steward may decide access requests")
    if principal.user_id == row.requested_by_id:
        raise SeparationOfDuties("you asked for this access, so someone else must decide it")
    if involved(session, project, principal.user_id):
        raise SeparationOfDuties(
            f"you are involved in project {project.slug!r}, so you cannot decide its access"
        )


def _load(session: Session, row: AccessRequest) -> tuple[Project, Dataset]:
    project = session.get(Project, row.project_id)
    dataset = session.get(Dataset, row.dataset_id)
    assert project is not None and dataset is not None  # foreign keys
    return project, dataset


def approve(session: Session, principal: Principal, row: AccessRequest, body: AccessApprove) -> Grant:
    new_state = ACCESS_REQUEST_LIFECYCLE.next_state(row.status, "approve")
    project, dataset = _load(session, row)
    _require_independent_decider(session, principal, row, project, dataset)
    if project.status in CLOSED_PROJECT_STATES:
        raise Conflict(f"project {project.slug!r} is {project.status}; its access cannot be approved")
    if dataset.status != "active":
        raise Conflict(f"dataset {dataset.slug!r} is {dataset.status}; access to it cannot be approved")
    if active_grant(session, project.id, dataset.id) is not None:
        raise DuplicateError(f"project {project.slug!r} already has access to {dataset.slug!r}")
    now = utcnow()
    expires_at = body.expires_at or as_utc(row.requested_expires_at)
    end = project_end(project)
    if end is not None and (expires_at is None or expires_at > end):
        expires_at = end
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("the grant would already have expired: choose a later expires_at")
    grant = Grant(
        id=uuid.uuid4(),
        project_id=project.id,
        dataset_id=dataset.id,
        access_request_id=row.id,
        conditions=dataset.use_conditions if body.conditions is None else body.conditions,
        granted_by_id=principal.user_id,
        expires_at=expires_at,
    )
    session.add(grant)
    row.status, row.decided_by_id, row.decided_at, row.decision_note = (
        new_state,
        principal.user_id,
        now,
        body.note,
    )
    session.flush()
    record(
        session,
        principal,
        "access-request.approve",
        "access_request",
        row.id,
        project_id=project.id,
        summary={"dataset": dataset.slug, "grant_id": grant.id, "note": body.note},
    )
    record(
        session,
        principal,
        "grant.create",
        "grant",
        grant.id,
        project_id=project.id,
        summary={"dataset": dataset.slug, "expires_at": expires_at, "conditions": grant.conditions},
    )
    return grant


def reject(session: Session, principal: Principal, row: AccessRequest, note: str) -> AccessRequest:
    new_state = ACCESS_REQUEST_LIFECYCLE.next_state(row.status, "reject")
    project, dataset = _load(session, row)
    _require_independent_decider(session, principal, row, project, dataset)
    row.status, row.decided_by_id, row.decided_at, row.decision_note = (
        new_state,
        principal.user_id,
        utcnow(),
        note,
    )
    session.flush()
    record(
        session,
        principal,
        "access-request.reject",
        "access_request",
        row.id,
        project_id=project.id,
        summary={"dataset": dataset.slug, "note": note},
    )
    return row
