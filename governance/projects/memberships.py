"""Project memberships: asked for, approved by an independent steward, expiring, removable."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import forget_involvement, independence
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.clock import utcnow
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput, NotFound
from governance.core.pagination import keyset_page
from governance.core.transitions import perform
from governance.enforcement.triggers import access_changed
from governance.models.identity import User
from governance.models.projects import Membership, Project
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE
from governance.projects.repository import membership_of
from governance.projects.schemas import MemberCreate, MemberUpdate
from governance.projects.states import ENDED, MembershipStatus

# A membership that ended without being in force can be asked for again.
REOPENABLE = frozenset({MembershipStatus.rejected, MembershipStatus.declined})


def list_members(
    session: Session, project: Project, *, status: str | None, limit: int, cursor: str | None
) -> tuple[Sequence[Membership], str | None]:
    stmt = select(Membership).where(Membership.project_id == project.id)
    if status:
        stmt = stmt.where(Membership.status == status)
    return keyset_page(session, stmt, Membership.created_at, Membership.id, limit=limit, cursor=cursor)


def get_member(session: Session, project: Project, member_id: uuid.UUID) -> Membership:
    row = session.get(Membership, member_id)
    if row is None or row.project_id != project.id:
        raise NotFound("no such membership in this project")
    return row


def request_membership(
    session: Session, principal: Principal, project: Project, body: MemberCreate
) -> Membership:
    if project.status in ENDED:
        raise Conflict(f"members cannot be added to a {project.status} project")
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None:
        raise InvalidInput(f"there is no user {body.username!r}")
    is_lead = principal.user_id == project.lead_id
    own = user.id == principal.user_id
    if not is_lead and not own and not principal.has(Scope.approve_memberships):
        raise Forbidden("only the project lead may invite other people; you may ask to join yourself")
    # Someone else's membership starts as an invitation the person must accept: independence (who is
    # involved in a project) cannot be manufactured by adding a steward to it.
    status = MembershipStatus.requested if own else MembershipStatus.invited
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future")
    existing = membership_of(session, project.id, user.id)
    if existing is not None and existing.removed_at is None and existing.status not in REOPENABLE:
        raise DuplicateError(f"{user.username} is already a member of this project ({existing.status})")
    if existing is not None:
        existing.status, existing.role, existing.expires_at = status, body.role, body.expires_at
        existing.removed_at, existing.decided_by_id, existing.decided_at = None, None, None
        existing.requested_by_id = principal.user_id
        row = existing
    else:
        row = Membership(
            id=uuid.uuid4(),
            project_id=project.id,
            user_id=user.id,
            role=body.role,
            status=status,
            expires_at=body.expires_at,
            requested_by_id=principal.user_id,
        )
        session.add(row)
    session.flush()
    record(
        session,
        principal,
        "membership.request" if own else "membership.invite",
        "membership",
        row.id,
        project_id=project.id,
        summary={"user": user.username, "role": body.role, "expires_at": body.expires_at, "status": status},
    )
    forget_involvement(session)
    return row


def update_membership(
    session: Session, principal: Principal, project: Project, row: Membership, body: MemberUpdate
) -> Membership:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send role or expires_at")
    if row.role == "lead" and "role" in changes:
        raise Conflict("the lead's role is changed by naming a new lead on the project")
    if row.removed_at is not None:
        raise Conflict("this membership was removed")
    refusal = independence(session, principal, doing="change its memberships", project=project)
    if refusal is not None:
        raise refusal.error()
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()
    record(
        session, principal, "membership.update", "membership", row.id, project_id=project.id, summary=changes
    )
    if "expires_at" in changes:
        access_changed(session, "membership.update", project_id=project.id, user_id=row.user_id)
    return row


def remove_membership(
    session: Session, principal: Principal, project: Project, row: Membership
) -> Membership:
    return perform(session, principal, MEMBERSHIP_LIFECYCLE, row, "remove")
