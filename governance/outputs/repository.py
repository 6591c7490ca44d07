"""Output-request queries, always filtered by what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from governance.auth.duties import involved_project_ids
from governance.auth.principal import Principal
from governance.core.errors import NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.models.identity import User
from governance.models.outputs import OutputCheckResult, OutputFile, OutputRequest, OutputReview
from governance.models.projects import Membership, Project
from governance.outputs.access import is_checker
from governance.outputs.states import OutputRequestStatus
from governance.projects.repository import ref_clause
from governance.projects.states import MembershipStatus


def visible_requests(principal: Principal) -> Select[tuple[OutputRequest]]:
    stmt = select(OutputRequest)
    if principal.project_id is not None:  # a workspace sees its own project's requests only
        return stmt.where(OutputRequest.project_id == principal.project_id)
    if principal.sees_all:
        return stmt
    my_projects = select(Membership.project_id).where(
        Membership.user_id == principal.user_id,
        Membership.removed_at.is_(None),
        Membership.status == MembershipStatus.approved,
    )
    conditions: list[Any] = [
        OutputRequest.requester_id == principal.user_id,
        OutputRequest.project_id.in_(my_projects),
    ]
    if is_checker(principal):
        conditions.append(OutputRequest.submitted_at.is_not(None))
    return stmt.where(or_(*conditions))


def get_visible(
    session: Session, principal: Principal, request_id: str, *, for_update: bool = False
) -> OutputRequest:
    as_id = parse_uuid(request_id)
    if as_id is None:
        raise NotFound(f"no output request {request_id!r} that you can see")
    stmt = visible_requests(principal).where(OutputRequest.id == as_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalar(stmt)
    if found is None:
        raise NotFound(f"no output request {request_id!r} that you can see")
    return found


def usernames(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


def get_file(session: Session, request: OutputRequest, file_id: str) -> OutputFile:
    as_id = parse_uuid(file_id)
    row = session.get(OutputFile, as_id) if as_id else None
    if row is None or row.request_id != request.id or row.removed_at is not None:
        raise NotFound(f"no file {file_id!r} in this output request")
    return row


def project_of(session: Session, request: OutputRequest) -> Project:
    project = session.get(Project, request.project_id)
    assert project is not None  # a foreign key
    return project


def project_by_ref(session: Session, ref: str) -> Project | None:
    return session.scalar(select(Project).where(ref_clause(ref)))  # type: ignore[arg-type]


def active_files(session: Session, request_id: uuid.UUID) -> list[OutputFile]:
    return list(
        session.scalars(
            select(OutputFile)
            .where(OutputFile.request_id == request_id, OutputFile.removed_at.is_(None))
            .order_by(OutputFile.created_at, OutputFile.id)
        )
    )


def results_of(session: Session, file_ids: Sequence[uuid.UUID]) -> list[OutputCheckResult]:
    if not file_ids:
        return []
    return list(
        session.scalars(
            select(OutputCheckResult)
            .where(OutputCheckResult.file_id.in_(file_ids))
            .order_by(OutputCheckResult.created_at, OutputCheckResult.id)
        )
    )


def reviews_of(session: Session, request_id: uuid.UUID) -> list[OutputReview]:
    return list(
        session.scalars(
            select(OutputReview)
            .where(OutputReview.request_id == request_id)
            .order_by(OutputReview.created_at, OutputReview.id)
        )
    )


def file_totals(session: Session, request_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """(number of files, total bytes) per request."""
    if not request_ids:
        return {}
    rows = session.execute(
        select(OutputFile.request_id, func.count(), func.coalesce(func.sum(OutputFile.size), 0))
        .where(OutputFile.request_id.in_(request_ids), OutputFile.removed_at.is_(None))
        .group_by(OutputFile.request_id)
    )
    return {request_id: (int(count), int(total)) for request_id, count, total in rows}


def list_requests(
    session: Session,
    principal: Principal,
    *,
    mine: bool,
    reviewable: bool,
    project: Project | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[OutputRequest], str | None]:
    stmt = visible_requests(principal)
    if mine:
        stmt = stmt.where(OutputRequest.requester_id == principal.user_id)
    if reviewable:
        # Waiting for review, in projects the caller is independent of: the same involvement as
        # auth/duties.involved (lead, creator, a membership of their own, an editor), as a filter; each
        # listed request's actions still come from duties.independence.
        stmt = stmt.where(
            OutputRequest.status == OutputRequestStatus.in_review,
            OutputRequest.requester_id != principal.user_id,
            OutputRequest.project_id.not_in(involved_project_ids(principal.user_id)),
        )
    if project is not None:
        stmt = stmt.where(OutputRequest.project_id == project.id)
    if status:
        stmt = stmt.where(OutputRequest.status == status)
    return keyset_page(session, stmt, OutputRequest.created_at, OutputRequest.id, limit=limit, cursor=cursor)
