"""Catalogue, access-request and grant queries, always filtered by what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import InvalidInput, NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.datasets.states import GrantState
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.projects import Project
from governance.projects.repository import ref_clause as project_ref_clause
from governance.projects.repository import visible_projects


def shows_storage(principal: Principal) -> bool:
    return principal.sees_all or principal.has(Scope.write_datasets)


def dataset_ref_clause(ref: str) -> ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return Dataset.id == as_id if as_id else Dataset.slug == ref


def find_dataset(session: Session, ref: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(dataset_ref_clause(ref)))


def get_dataset(session: Session, ref: str, *, for_update: bool = False) -> Dataset:
    stmt = select(Dataset).where(dataset_ref_clause(ref))
    if for_update:
        stmt = stmt.with_for_update()
    dataset = session.scalar(stmt)
    if dataset is None:
        raise NotFound(f"no dataset {ref!r}")
    return dataset


def list_datasets(
    session: Session, *, tier: int | None, status: str | None, q: str | None, limit: int, cursor: str | None
) -> tuple[Sequence[Dataset], str | None]:
    stmt = select(Dataset)
    if tier is not None:
        stmt = stmt.where(Dataset.tier == tier)
    if status:
        stmt = stmt.where(Dataset.status == status)
    if q:
        stmt = stmt.where(
            or_(
                Dataset.slug.icontains(q, autoescape=True),
                Dataset.title.icontains(q, autoescape=True),
                Dataset.description.icontains(q, autoescape=True),
            )
        )
    return keyset_page(session, stmt, Dataset.created_at, Dataset.id, limit=limit, cursor=cursor)


def _project_dataset_visibility(
    principal: Principal,
    project_col: QueryableAttribute[uuid.UUID],
    dataset_col: QueryableAttribute[uuid.UUID],
) -> ColumnElement[bool] | None:
    """None when the caller sees every row; else rows of their projects and of datasets in their custody."""
    if principal.project_id is not None:
        return project_col == principal.project_id
    if principal.sees_all:
        return None
    mine = project_col.in_(visible_projects(principal).with_only_columns(Project.id))
    custody = dataset_col.in_(select(Dataset.id).where(Dataset.custodian_id == principal.user_id))
    return or_(mine, custody)


def visible_access_requests(principal: Principal) -> Select[tuple[AccessRequest]]:
    stmt = select(AccessRequest)
    clause = _project_dataset_visibility(principal, AccessRequest.project_id, AccessRequest.dataset_id)
    return stmt if clause is None else stmt.where(clause)


def visible_grants(principal: Principal) -> Select[tuple[Grant]]:
    stmt = select(Grant)
    clause = _project_dataset_visibility(principal, Grant.project_id, Grant.dataset_id)
    return stmt if clause is None else stmt.where(clause)


def _uuid_or_404(ref: str, what: str) -> uuid.UUID:
    as_id = parse_uuid(ref)
    if as_id is None:
        raise NotFound(f"no {what} {ref!r} that you can see")
    return as_id


def get_visible_access_request(
    session: Session, principal: Principal, ref: str, *, for_update: bool = False
) -> AccessRequest:
    stmt = visible_access_requests(principal).where(AccessRequest.id == _uuid_or_404(ref, "access request"))
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"no access request {ref!r} that you can see")
    return row


def get_visible_grant(session: Session, principal: Principal, ref: str, *, for_update: bool = False) -> Grant:
    stmt = visible_grants(principal).where(Grant.id == _uuid_or_404(ref, "grant"))
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(f"no grant {ref!r} that you can see")
    return row


def _filter_project(session: Session, principal: Principal, ref: str) -> uuid.UUID:
    project_id = session.scalar(
        visible_projects(principal).where(project_ref_clause(ref)).with_only_columns(Project.id)  # type: ignore[arg-type]
    )
    if project_id is None:
        raise InvalidInput(f"there is no project {ref!r} that you can see")
    return project_id


def _filter_dataset(session: Session, ref: str) -> uuid.UUID:
    dataset = find_dataset(session, ref)
    if dataset is None:
        raise InvalidInput(f"there is no dataset {ref!r}")
    return dataset.id


def list_access_requests(
    session: Session,
    principal: Principal,
    *,
    project: str | None,
    dataset: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[AccessRequest], str | None]:
    stmt = visible_access_requests(principal)
    if project is not None:
        stmt = stmt.where(AccessRequest.project_id == _filter_project(session, principal, project))
    if dataset is not None:
        stmt = stmt.where(AccessRequest.dataset_id == _filter_dataset(session, dataset))
    if status:
        stmt = stmt.where(AccessRequest.status == status)
    return keyset_page(session, stmt, AccessRequest.created_at, AccessRequest.id, limit=limit, cursor=cursor)


def active_grant_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Grant.revoked_at.is_(None), or_(Grant.expires_at.is_(None), Grant.expires_at > now))


def list_grants(
    session: Session,
    principal: Principal,
    *,
    project: str | None,
    dataset: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Grant], str | None]:
    stmt = visible_grants(principal)
    if project is not None:
        stmt = stmt.where(Grant.project_id == _filter_project(session, principal, project))
    if dataset is not None:
        stmt = stmt.where(Grant.dataset_id == _filter_dataset(session, dataset))
    if active is not None:
        clause = active_grant_clause(utcnow())
        stmt = stmt.where(clause if active else ~clause)
    return keyset_page(session, stmt, Grant.created_at, Grant.id, limit=limit, cursor=cursor)


def active_grant(session: Session, project_id: uuid.UUID, dataset_id: uuid.UUID) -> Grant | None:
    return session.scalar(
        select(Grant).where(
            Grant.project_id == project_id, Grant.dataset_id == dataset_id, active_grant_clause(utcnow())
        )
    )


def grant_of_request(session: Session, request_id: uuid.UUID) -> Grant | None:
    return session.scalar(select(Grant).where(Grant.access_request_id == request_id))


def grant_state(grant: Grant) -> str:
    if grant.revoked_at is not None:
        return GrantState.revoked
    expires = as_utc(grant.expires_at)
    return GrantState.expired if expires is not None and expires <= utcnow() else GrantState.active


def project_end(project: Project) -> datetime | None:
    """A project runs to the end of its last day (the policies deny only once ends_on < today)."""
    if project.ends_on is None:
        return None
    return datetime.combine(project.ends_on + timedelta(days=1), time.min, tzinfo=UTC)


def load_parts(session: Session, rows: Sequence[AccessRequest | Grant]) -> list[Project | Dataset]:
    """Load the projects and datasets of a page in two queries, so each row's actions find them in the
    session's identity map instead of asking one query per row. Hold on to the result while rendering
    the page: the identity map keeps only weak references."""
    project_ids = {r.project_id for r in rows}
    dataset_ids = {r.dataset_id for r in rows}
    parts: list[Project | Dataset] = []
    if project_ids:
        parts.extend(session.scalars(select(Project).where(Project.id.in_(project_ids))))
    if dataset_ids:
        parts.extend(session.scalars(select(Dataset).where(Dataset.id.in_(dataset_ids))))
    return parts
