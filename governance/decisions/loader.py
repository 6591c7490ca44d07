"""The entity slice for one decision: a small, fixed number of indexed queries (no N+1)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.config import get_settings
from governance.core.ids import parse_uuid
from governance.decisions.situation import (
    AccreditationFact,
    AgreementFact,
    AuthContext,
    DatasetFact,
    GrantFact,
    LaunchSituation,
    MembershipFact,
    ProfileFact,
    ProjectFact,
    RequestedResources,
    UserFact,
)
from governance.models import (
    Accreditation,
    Agreement,
    Dataset,
    EnvironmentProfile,
    Grant,
    Membership,
    ProfileProject,
    Project,
    User,
)


def _by_ref(model: type[Project] | type[EnvironmentProfile], ref: str) -> object:
    as_id = parse_uuid(ref)
    return model.id == as_id if as_id else model.slug == ref


def load_situation(
    session: Session,
    *,
    now: datetime,
    username: str,
    project_ref: str,
    profile_ref: str,
    dataset_refs: Sequence[str],
    client_ip: str | None,
    auth: AuthContext,
    requested: RequestedResources,
) -> tuple[LaunchSituation, dict[str, uuid.UUID | None]]:
    """The situation plus the ids it resolved (user, project, profile) for the decision record."""
    settings = get_settings()
    user_row = session.scalar(select(User).where(User.username == username))
    user = None
    if user_row is not None:
        accs = session.scalars(
            select(Accreditation).where(
                Accreditation.user_id == user_row.id,
                Accreditation.kind == settings.required_accreditation_kind,
                Accreditation.revoked_at.is_(None),
            )
        ).all()
        agreements = session.scalars(select(Agreement).where(Agreement.user_id == user_row.id)).all()
        user = UserFact(
            id=str(user_row.id),
            username=user_row.username,
            status=user_row.status,
            accreditations=tuple(
                AccreditationFact(a.kind, a.awarded_at, a.expires_at, a.verified_at is not None) for a in accs
            ),
            agreements=tuple(AgreementFact(a.version, a.signed_at, a.expires_at) for a in agreements),
        )
    project_row = session.scalar(select(Project).where(_by_ref(Project, project_ref)))  # type: ignore[arg-type]
    project = membership = None
    if project_row is not None:
        project = ProjectFact(
            str(project_row.id),
            project_row.slug,
            project_row.status,
            project_row.tier,
            project_row.starts_on,
            project_row.ends_on,
        )
        if user_row is not None:
            m = session.scalar(
                select(Membership).where(
                    Membership.project_id == project_row.id, Membership.user_id == user_row.id
                )
            )
            if m is not None:
                membership = MembershipFact(m.role, m.status, m.expires_at, m.removed_at)
    datasets: dict[str, DatasetFact] = {}
    grants: dict[str, GrantFact] = {}
    refs = list(dict.fromkeys(dataset_refs))
    if refs:
        ids = [u for u in (parse_uuid(r) for r in refs) if u is not None]
        rows = session.scalars(
            select(Dataset).where(
                or_(Dataset.slug.in_(refs), Dataset.id.in_(ids)) if ids else Dataset.slug.in_(refs)
            )
        ).all()
        by_key = {**{d.slug: d for d in rows}, **{str(d.id): d for d in rows}}
        for ref in refs:
            d = by_key.get(ref) or by_key.get(str(parse_uuid(ref)))
            if d is not None:
                datasets[ref] = DatasetFact(str(d.id), d.slug, d.tier, d.status, d.storage_uri, d.title)
        if project_row is not None and rows:
            grant_rows = session.scalars(
                select(Grant).where(
                    Grant.project_id == project_row.id, Grant.dataset_id.in_([d.id for d in rows])
                )
            ).all()
            for g in sorted(grant_rows, key=lambda g: _grant_rank(g, now)):
                grants[str(g.dataset_id)] = GrantFact(
                    str(g.dataset_id), g.expires_at, g.revoked_at, g.conditions
                )
    profile_row = session.scalar(
        select(EnvironmentProfile).where(_by_ref(EnvironmentProfile, profile_ref))  # type: ignore[arg-type]
    )
    profile = None
    if profile_row is not None and profile_row.status == "active":
        allowed = profile_row.all_projects
        if not allowed and project_row is not None:
            allowed = (
                session.scalar(
                    select(ProfileProject.project_id).where(
                        ProfileProject.profile_id == profile_row.id,
                        ProfileProject.project_id == project_row.id,
                    )
                )
                is not None
            )
        profile = ProfileFact(
            str(profile_row.id),
            profile_row.slug,
            profile_row.image,
            profile_row.cpu,
            profile_row.memory_gb,
            profile_row.gpu,
            profile_row.max_tier,
            profile_row.egress,
            tuple(profile_row.allowed_networks),
            profile_row.mfa_required,
            profile_row.max_session_hours,
            allowed,
        )
    situation = LaunchSituation(
        now=now,
        user=user,
        project=project,
        membership=membership,
        requested_datasets=tuple(refs),
        datasets=datasets,
        grants=grants,
        profile=profile,
        client_ip=client_ip,
        auth=auth,
        requested=requested,
        required_accreditation_kind=settings.required_accreditation_kind,
        mfa_tier=settings.mfa_tier,
        requested_user=username,
        requested_project=project_ref,
        requested_profile=profile_ref,
    )
    resolved = {
        "user_id": user_row.id if user_row else None,
        "project_id": project_row.id if project_row else None,
        "profile_id": profile_row.id if profile_row else None,
    }
    return situation, resolved


def _grant_rank(grant: Grant, now: datetime) -> tuple[int, float]:
    """Sorted ascending, so the best grant (live, latest expiry) is written last and wins."""
    live = grant.revoked_at is None and (grant.expires_at is None or grant.expires_at > now)
    expiry = grant.expires_at.timestamp() if grant.expires_at else float("inf")
    return (1 if live else 0, expiry)
