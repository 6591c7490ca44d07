"""Auditor reports: who can open a dataset now and why, every launch decision of a project, every release."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.audit.repository import resolve_project
from governance.audit.schemas import (
    AccessLink,
    DatasetAccessOut,
    DatasetAccessReport,
    ProjectDecisionOut,
    ProjectDecisionsReport,
    ReleaseOut,
    ReleasesReport,
)
from governance.auth.principal import Principal
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.errors import NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.decisions.situation import (
    SAFES,
    AccreditationFact,
    AgreementFact,
    accreditation_is_valid,
    agreement_is_valid,
    as_utc,
)
from governance.models import (
    Accreditation,
    Agreement,
    Dataset,
    Grant,
    LaunchDecision,
    Membership,
    OutputRelease,
    OutputRequest,
    Project,
    User,
)
from governance.outputs.access import sees_reviewers
from governance.outputs.releases import copy_of

_Expiring = TypeVar("_Expiring", Accreditation, Agreement)


def _latest(rows: Iterable[_Expiring]) -> _Expiring | None:
    """The one that holds longest (no expiry beats any expiry)."""
    best: _Expiring | None = None
    for row in rows:
        if best is None or (
            best.expires_at is not None and (row.expires_at is None or row.expires_at > best.expires_at)
        ):
            best = row
    return best


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [as_utc(m) for m in moments if m is not None]
    return min(present) if present else None


def dataset_access(session: Session, dataset_ref: str, now: datetime | None = None) -> DatasetAccessReport:
    """Every user who could open the dataset now, with the chain that lets them: grant -> membership ->
    accreditation -> agreement (the same rules the launch policies apply; settings and MFA aside)."""
    now = now or utcnow()
    as_id = parse_uuid(dataset_ref)
    dataset = session.scalar(
        select(Dataset).where(Dataset.id == as_id if as_id else Dataset.slug == dataset_ref)
    )
    if dataset is None:
        raise NotFound(f"no dataset {dataset_ref!r}")
    report = DatasetAccessReport(dataset=dataset.slug, dataset_id=dataset.id, as_of=now, users=[])
    if dataset.status != "active":
        return report
    kind = get_settings().required_accreditation_kind
    today = now.date()
    grants = session.scalars(
        select(Grant).where(
            Grant.dataset_id == dataset.id,
            Grant.revoked_at.is_(None),
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    ).all()
    for grant in sorted(grants, key=lambda g: (g.created_at, g.id)):
        project = session.get(Project, grant.project_id)
        if (
            project is None
            or project.status != "active"
            or project.tier < dataset.tier
            or (project.starts_on is not None and today < project.starts_on)
            or (project.ends_on is not None and project.ends_on < today)
        ):
            continue
        memberships = session.scalars(
            select(Membership).where(
                Membership.project_id == project.id,
                Membership.status == "approved",
                Membership.removed_at.is_(None),
                or_(Membership.expires_at.is_(None), Membership.expires_at > now),
            )
        ).all()
        for membership in memberships:
            entry = _user_chain(session, grant, project, membership, kind, now)
            if entry is not None:
                report.users.append(entry)
    report.users.sort(key=lambda u: (u.username, u.project))
    return report


def _user_chain(
    session: Session, grant: Grant, project: Project, membership: Membership, kind: str, now: datetime
) -> DatasetAccessOut | None:
    user = session.get(User, membership.user_id)
    if user is None or user.status != "active":
        return None
    accreditation = _latest(
        a
        for a in session.scalars(
            select(Accreditation).where(
                Accreditation.user_id == user.id,
                Accreditation.kind == kind,
                Accreditation.revoked_at.is_(None),
            )
        )
        if accreditation_is_valid(
            AccreditationFact(a.kind, a.awarded_at, a.expires_at, a.verified_at is not None), kind, now
        )
    )
    agreement = _latest(
        a
        for a in session.scalars(select(Agreement).where(Agreement.user_id == user.id))
        if agreement_is_valid(AgreementFact(a.version, a.signed_at, a.expires_at), now)
    )
    if accreditation is None or agreement is None:
        return None
    ends = f"project {project.slug} ends on {project.ends_on.isoformat()}" if project.ends_on else ""
    return DatasetAccessOut(
        username=user.username,
        user_id=user.id,
        project=project.slug,
        project_id=project.id,
        grant=AccessLink(id=grant.id, expires_at=grant.expires_at, detail=grant.conditions[:200]),
        membership=AccessLink(
            id=membership.id,
            expires_at=membership.expires_at,
            detail=f"role {membership.role}; {ends}".rstrip("; "),
        ),
        accreditation=AccessLink(
            id=accreditation.id,
            expires_at=accreditation.expires_at,
            detail=f"{accreditation.kind} from {accreditation.issuer}",
        ),
        agreement=AccessLink(
            id=agreement.id, expires_at=agreement.expires_at, detail=f"version {agreement.version}"
        ),
        access_until=_earliest(
            grant.expires_at, membership.expires_at, accreditation.expires_at, agreement.expires_at
        ),
    )


def project_decisions(
    session: Session, project_ref: str, *, limit: int, cursor: str | None
) -> ProjectDecisionsReport:
    project = resolve_project(session, project_ref)
    rows, next_cursor = keyset_page(
        session,
        select(LaunchDecision).where(LaunchDecision.project_id == project.id),
        LaunchDecision.created_at,
        LaunchDecision.id,
        limit=limit,
        cursor=cursor,
    )
    items = []
    for row in rows:
        safes = row.safes or {}
        denied = [s for s in SAFES if not safes.get(s, {}).get("allowed", False)] if not row.allowed else []
        reasons = [r for s in SAFES for r in safes.get(s, {}).get("reasons", [])]
        items.append(
            ProjectDecisionOut(
                id=row.id,
                created_at=row.created_at,
                username=row.username,
                allowed=row.allowed,
                denied_safes=denied,
                reasons=reasons,
                policy_version=row.policy_version,
                datasets=list(row.dataset_ids),
                profile_id=row.profile_id,
                server_name=row.server_name,
                expires_at=row.expires_at,
                ended_at=row.ended_at,
                end_cause=row.end_cause,
            )
        )
    return ProjectDecisionsReport(
        project=project.slug, project_id=project.id, items=items, next_cursor=next_cursor
    )


def releases(
    session: Session, principal: Principal, *, project_ref: str | None, limit: int, cursor: str | None
) -> ReleasesReport:
    """Every release with its record. Row by row, the release record's own rule: a caller involved in the
    project (an auditor who joined it, an admin who leads it) gets the project's redacted copy — no
    reviewer, no releaser, and not the full record's hash — like the release-record route gives it."""
    stmt = select(OutputRelease)
    project_id: uuid.UUID | None = None
    if project_ref:
        project_id = resolve_project(session, project_ref).id
        stmt = stmt.where(
            OutputRelease.request_id.in_(
                select(OutputRequest.id).where(OutputRequest.project_id == project_id)
            )
        )
    rows, next_cursor = keyset_page(
        session, stmt, OutputRelease.created_at, OutputRelease.id, limit=limit, cursor=cursor
    )
    requests = {
        r.id: r
        for r in session.scalars(
            select(OutputRequest).where(OutputRequest.id.in_([row.request_id for row in rows]))
        )
    }
    projects = {
        p.id: p
        for p in session.scalars(
            select(Project).where(Project.id.in_({r.project_id for r in requests.values()}))
        )
    }
    full: dict[tuple[uuid.UUID, uuid.UUID], bool] = {}  # by (project, requester): independence
    items = []
    for row in rows:
        request = requests[row.request_id]
        key = (request.project_id, request.requester_id)
        if key not in full:
            full[key] = sees_reviewers(session, principal, request, projects[request.project_id])
        copy = copy_of(row, full=full[key])
        items.append(
            ReleaseOut(
                id=row.id,
                request_id=row.request_id,
                project_id=request.project_id,
                released_at=row.released_at,
                released_by_id=row.released_by_id if full[key] else None,
                record_sha256=copy.sha256,
                record=copy.content,
                recalled_at=row.recalled_at,
                recall_reason=row.recall_reason,
            )
        )
    return ReleasesReport(items=items, next_cursor=next_cursor)
