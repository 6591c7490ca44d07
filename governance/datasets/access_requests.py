"""Access requests: asked for by a project's researchers, decided by someone independent of the project.

The decisions (approve, which creates the grant in the same transaction, and reject) are declared moves
in lifecycle.py; this module asks.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.clock import as_utc, utcnow
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput
from governance.datasets.lifecycle import FROZEN_UNDER_REVIEW
from governance.datasets.repository import active_grant, find_dataset
from governance.datasets.schemas import AccessRequestCreate
from governance.datasets.states import AccessRequestStatus, DatasetStatus
from governance.models.datasets import AccessRequest
from governance.models.projects import Project
from governance.projects.repository import membership_of, ref_clause, visible_projects
from governance.projects.states import ENDED, FROZEN, MembershipStatus

REQUESTING_ROLES = {"lead", "researcher"}


def _may_request(session: Session, principal: Principal, project: Project) -> bool:
    if principal.user_id == project.lead_id:
        return True
    row = membership_of(session, project.id, principal.user_id)
    if (
        row is None
        or row.removed_at is not None
        or row.status != MembershipStatus.approved
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
    if project.status in ENDED:
        raise Conflict(f"project {project.slug!r} is {project.status}; it cannot ask for data access")
    if project.status in FROZEN:
        # What the stewards approve is what was submitted: no datasets join an application under review.
        raise Conflict(FROZEN_UNDER_REVIEW)
    if dataset.status != DatasetStatus.active:
        raise Conflict(f"dataset {dataset.slug!r} is {dataset.status}; access cannot be requested")
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    pending = session.scalar(
        select(AccessRequest.id).where(
            AccessRequest.project_id == project.id,
            AccessRequest.dataset_id == dataset.id,
            AccessRequest.status == AccessRequestStatus.pending,
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
        status=AccessRequestStatus.pending,
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
