"""Project queries, always filtered by what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.errors import NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.models.projects import Membership, Project
from governance.projects.states import MembershipStatus

# A rejected, declined or removed applicant loses sight of the project.
SEES_PROJECT = frozenset({MembershipStatus.invited, MembershipStatus.requested, MembershipStatus.approved})


def visible_projects(principal: Principal) -> Select[tuple[Project]]:
    stmt = select(Project)
    if principal.project_id is not None:
        return stmt.where(Project.id == principal.project_id)
    if principal.sees_all:
        return stmt
    member = exists().where(
        Membership.project_id == Project.id,
        Membership.user_id == principal.user_id,
        Membership.removed_at.is_(None),
        Membership.status.in_([s.value for s in SEES_PROJECT]),
    )
    return stmt.where(
        or_(Project.lead_id == principal.user_id, Project.created_by_id == principal.user_id, member)
    )


def ref_clause(ref: str) -> object:
    as_id = parse_uuid(ref)
    return Project.id == as_id if as_id else Project.slug == ref


def get_visible(session: Session, principal: Principal, ref: str, *, for_update: bool = False) -> Project:
    stmt = visible_projects(principal).where(ref_clause(ref))  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update()
    project = session.scalar(stmt)
    if project is None:
        raise NotFound(f"no project {ref!r} that you can see")
    return project


def get_any(session: Session, ref: str) -> Project | None:
    return session.scalar(select(Project).where(ref_clause(ref)))  # type: ignore[arg-type]


def list_projects(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    tier: int | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Project], str | None]:
    stmt = visible_projects(principal)
    if status:
        stmt = stmt.where(Project.status == status)
    if tier is not None:
        stmt = stmt.where(Project.tier == tier)
    if q:
        pattern = f"%{q.lower()}%"
        stmt = stmt.where(or_(Project.slug.like(pattern), Project.title.ilike(pattern)))
    return keyset_page(session, stmt, Project.created_at, Project.id, limit=limit, cursor=cursor)


def membership_of(session: Session, project_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    return session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
