"""Environment profile queries; a profile's allowed projects are shown only as far as the caller sees them."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.errors import NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.models.environments import EnvironmentProfile, ProfileProject
from governance.models.projects import Project
from governance.projects.repository import visible_projects


def profile_ref_clause(ref: str) -> ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return EnvironmentProfile.id == as_id if as_id else EnvironmentProfile.slug == ref


def find_profile(session: Session, ref: str) -> EnvironmentProfile | None:
    return session.scalar(select(EnvironmentProfile).where(profile_ref_clause(ref)))


def get_profile(session: Session, ref: str, *, for_update: bool = False) -> EnvironmentProfile:
    stmt = select(EnvironmentProfile).where(profile_ref_clause(ref))
    if for_update:
        stmt = stmt.with_for_update()
    profile = session.scalar(stmt)
    if profile is None:
        raise NotFound(f"no environment profile {ref!r}")
    return profile


def list_profiles(
    session: Session, *, status: str | None, q: str | None, limit: int, cursor: str | None
) -> tuple[Sequence[EnvironmentProfile], str | None]:
    stmt = select(EnvironmentProfile)
    if status:
        stmt = stmt.where(EnvironmentProfile.status == status)
    if q:
        stmt = stmt.where(
            or_(
                EnvironmentProfile.slug.icontains(q, autoescape=True),
                EnvironmentProfile.title.icontains(q, autoescape=True),
            )
        )
    return keyset_page(
        session, stmt, EnvironmentProfile.created_at, EnvironmentProfile.id, limit=limit, cursor=cursor
    )


def allowed_project_ids(session: Session, profile_id: uuid.UUID) -> set[uuid.UUID]:
    return set(
        session.scalars(select(ProfileProject.project_id).where(ProfileProject.profile_id == profile_id))
    )


def visible_project_slugs(
    session: Session, principal: Principal, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """Per profile, the slugs of its allowed projects that the caller can see (one query for a page)."""
    ids = list(profile_ids)
    if not ids:
        return {}
    stmt = (
        select(ProfileProject.profile_id, Project.slug)
        .join(Project, Project.id == ProfileProject.project_id)
        .where(
            ProfileProject.profile_id.in_(ids),
            Project.id.in_(visible_projects(principal).with_only_columns(Project.id)),
        )
        .order_by(Project.slug)
    )
    result: dict[uuid.UUID, list[str]] = defaultdict(list)
    for profile_id, slug in session.execute(stmt):
        result[profile_id].append(slug)
    return result
