"""My tasks: what waits on the signed-in person, from the declared transitions (actions_for), never a rule
of the page's own. A project is in a steward's list when `approve` is open to them now; a membership
when `approve` (stewards) or `accept` (the person invited) is; an application to fix is a returned or
draft one the person leads or created, with what its `submit` still needs; an access request or an
accreditation when `approve` or `verify` is open to them; a grant of their projects (or in their custody)
and their own accreditations when they end within 30 days."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.transitions import actions_for
from governance.datasets import repository as datasets_repository
from governance.datasets.lifecycle import ACCESS_REQUEST_LIFECYCLE
from governance.datasets.states import AccessRequestStatus
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE
from governance.identity.repository import sees_all_credentials
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.identity import Accreditation, User
from governance.models.projects import Membership, Project, ProjectApproval
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE, PROJECT_LIFECYCLE, REVIEWABLE
from governance.projects.repository import visible_projects
from governance.projects.states import MembershipStatus, ProjectStatus
from governance.web.viewer import Viewer

LIMIT = 100
EXPIRING_DAYS = 30


@dataclass
class Task:
    title: str
    href: str
    since: datetime
    waits_on: str = ""


@dataclass
class Group:
    key: str
    title: str
    tasks: list[Task] = field(default_factory=list)


def approvals_by_project(session: Session, projects: list[Project]) -> dict[uuid.UUID, list[str]]:
    """Who approved each project in its current round (one query for the page)."""
    if not projects:
        return {}
    rounds = {p.id: p.review_round for p in projects}
    rows = session.execute(
        select(ProjectApproval.project_id, ProjectApproval.review_round, User.username)
        .join(User, User.id == ProjectApproval.steward_id)
        .where(ProjectApproval.project_id.in_(rounds))
        .order_by(ProjectApproval.created_at)
    ).all()
    out: dict[uuid.UUID, list[str]] = {pid: [] for pid in rounds}
    for pid, rnd, username in rows:
        if rounds[pid] == rnd:
            out[pid].append(username)
    return out


def progress(project: Project, approvers: list[str]) -> str:
    required = max(project.approvals_required, 1)
    text = f"{len(approvers)} of {required} approvals"
    return text + (f" (by {', '.join(approvers)})" if approvers else "")


def _reviews(session: Session, viewer: Viewer) -> Group:
    group = Group("review", "Applications to review")
    if not viewer.has(Scope.approve_projects):
        return group
    stmt = visible_projects(viewer.principal).where(Project.status.in_([s.value for s in REVIEWABLE]))
    projects = list(session.scalars(stmt.order_by(Project.updated_at, Project.id).limit(LIMIT)))
    approvers = approvals_by_project(session, projects)
    for p in projects:
        if "approve" in actions_for(session, viewer.principal, PROJECT_LIFECYCLE, p).allowed:
            group.tasks.append(
                Task(
                    f"Review {p.title} (tier {p.tier})",
                    f"/projects/{p.slug}",
                    p.updated_at,
                    progress(p, approvers[p.id]),
                )
            )
    return group


def _to_fix(session: Session, viewer: Viewer) -> Group:
    group = Group("fix", "Applications to complete or fix")
    if not viewer.has(Scope.create_projects):
        return group
    mine = (Project.lead_id == viewer.user.id) | (Project.created_by_id == viewer.user.id)
    stmt = visible_projects(viewer.principal).where(
        mine, Project.status.in_([ProjectStatus.returned.value, ProjectStatus.draft.value])
    )
    for p in session.scalars(stmt.order_by(Project.updated_at, Project.id).limit(LIMIT)):
        actions = actions_for(session, viewer.principal, PROJECT_LIFECYCLE, p)
        waits = "ready to submit" if "submit" in actions.allowed else actions.reason("submit") or ""
        verb = "Fix the returned application" if p.status == ProjectStatus.returned else "Finish the draft"
        group.tasks.append(Task(f"{verb}: {p.title}", f"/projects/{p.slug}", p.updated_at, waits))
    return group


def _memberships(session: Session, viewer: Viewer) -> Group:
    group = Group("memberships", "Memberships to decide or accept")
    wanted = []
    if viewer.has(Scope.approve_memberships):
        wanted.append(MembershipStatus.requested.value)
    wanted.append(MembershipStatus.invited.value)
    projects = visible_projects(viewer.principal).subquery()
    rows = session.execute(
        select(Membership, projects.c.slug, projects.c.title, User.username)
        .join(projects, projects.c.id == Membership.project_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.status.in_(wanted), Membership.removed_at.is_(None))
        .order_by(Membership.created_at)
        .limit(LIMIT)
    ).all()
    for row, slug, title, username in rows:
        allowed = actions_for(session, viewer.principal, MEMBERSHIP_LIFECYCLE, row).allowed
        if "approve" in allowed:
            group.tasks.append(
                Task(
                    f"Decide {username}'s membership of {title}", f"/projects/{slug}#members", row.created_at
                )
            )
        elif "accept" in allowed:
            group.tasks.append(
                Task(
                    f"Accept or decline your invitation to {title}",
                    f"/projects/{slug}#members",
                    row.created_at,
                )
            )
    return group


def _access_requests(session: Session, viewer: Viewer) -> Group:
    group = Group("access", "Access requests to decide")
    if not viewer.has(Scope.approve_access_requests):
        return group
    stmt = datasets_repository.visible_access_requests(viewer.principal).where(
        AccessRequest.status == AccessRequestStatus.pending.value
    )
    rows = list(session.scalars(stmt.order_by(AccessRequest.created_at, AccessRequest.id).limit(LIMIT)))
    parts = datasets_repository.load_parts(session, rows)  # held while the actions are worked out
    for r in rows:
        if "approve" in actions_for(session, viewer.principal, ACCESS_REQUEST_LIFECYCLE, r).allowed:
            project, dataset = session.get(Project, r.project_id), session.get(Dataset, r.dataset_id)
            assert project is not None and dataset is not None
            group.tasks.append(
                Task(
                    f"Decide {project.title}'s access to {dataset.title}",
                    "/queues/access-requests",
                    r.created_at,
                )
            )
    del parts
    return group


def _accreditations(session: Session, viewer: Viewer) -> Group:
    group = Group("accreditations", "Accreditations to verify")
    if not viewer.has(Scope.write_accreditations) or not sees_all_credentials(viewer.principal):
        return group
    rows = session.execute(
        select(Accreditation, User.username)
        .join(User, User.id == Accreditation.user_id)
        .where(Accreditation.verified_at.is_(None), Accreditation.revoked_at.is_(None))
        .order_by(Accreditation.created_at, Accreditation.id)
        .limit(LIMIT)
    ).all()
    for row, username in rows:
        if "verify" in actions_for(session, viewer.principal, ACCREDITATION_LIFECYCLE, row).allowed:
            group.tasks.append(
                Task(
                    f"Verify {username}'s {row.kind.replace('_', ' ')} accreditation ({row.issuer})",
                    "/queues/accreditations",
                    row.created_at,
                )
            )
    return group


def _expiring(session: Session, viewer: Viewer) -> Group:
    """Grants of the person's projects (or in their custody) and their own accreditations that end soon."""
    group = Group("expiring", f"Ending within {EXPIRING_DAYS} days")
    now = utcnow()
    soon = now + timedelta(days=EXPIRING_DAYS)
    if viewer.has(Scope.read_datasets):
        grants = session.execute(
            datasets_repository.visible_grants(viewer.principal)
            .add_columns(Project.slug, Project.title, Dataset.title)
            .join(Project, Project.id == Grant.project_id)
            .join(Dataset, Dataset.id == Grant.dataset_id)
            .where(Grant.revoked_at.is_(None), Grant.expires_at > now, Grant.expires_at <= soon)
            .order_by(Grant.expires_at)
            .limit(LIMIT)
        ).all()
        for grant, slug, title, dataset in grants:
            expires = as_utc(grant.expires_at)
            assert expires is not None
            group.tasks.append(
                Task(
                    f"{title}'s access to {dataset} ends on {expires:%Y-%m-%d}",
                    f"/projects/{slug}#datasets",
                    grant.created_at,
                    "renew it with a new access request before then",
                )
            )
    accreditations = session.scalars(
        select(Accreditation)
        .where(
            Accreditation.user_id == viewer.user.id,
            Accreditation.revoked_at.is_(None),
            Accreditation.expires_at > now,
            Accreditation.expires_at <= soon,
        )
        .order_by(Accreditation.expires_at)
    )
    for a in accreditations:
        expires = as_utc(a.expires_at)
        assert expires is not None
        group.tasks.append(
            Task(
                f"Your {a.kind.replace('_', ' ')} accreditation expires on {expires:%Y-%m-%d}",
                "/me",
                a.created_at,
                "renew it and record the new one",
            )
        )
    return group


def my_tasks(session: Session, viewer: Viewer) -> list[Group]:
    groups = [
        _reviews(session, viewer),
        _memberships(session, viewer),
        _access_requests(session, viewer),
        _accreditations(session, viewer),
        _to_fix(session, viewer),
        _expiring(session, viewer),
    ]
    return [g for g in groups if g.tasks]


def nav_for(session: Session, viewer: Viewer) -> dict[str, object]:
    """The navigation's links and counts for this person."""
    nav: dict[str, object] = {
        "tasks": 0,  # counted on My tasks itself
        "queue": 0,
        "can_apply": viewer.has(Scope.create_projects),
        "steward": viewer.has(Scope.approve_projects),
    }
    if nav["steward"]:
        stmt = visible_projects(viewer.principal).where(Project.status.in_([s.value for s in REVIEWABLE]))
        nav["queue"] = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    nav.update(_queue_counts(session, viewer))
    return nav


def _count(session: Session, stmt: Any) -> int:
    return session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


def _queue_counts(session: Session, viewer: Viewer) -> dict[str, object]:
    """The other queues' links and how many rows wait in each (one count query per queue shown)."""
    nav: dict[str, object] = {
        "datasets": viewer.has(Scope.read_datasets),
        "can_request": viewer.has(Scope.create_access_requests),
        "memberships_queue": None,
        "access_queue": None,
        "accreditations_queue": None,
    }
    if viewer.has(Scope.approve_memberships):
        projects = visible_projects(viewer.principal).with_only_columns(Project.id)
        nav["memberships_queue"] = _count(
            session,
            select(Membership.id).where(
                Membership.status == MembershipStatus.requested.value,
                Membership.removed_at.is_(None),
                Membership.project_id.in_(projects),
            ),
        )
    if viewer.has(Scope.approve_access_requests):
        nav["access_queue"] = _count(
            session,
            datasets_repository.visible_access_requests(viewer.principal).where(
                AccessRequest.status == AccessRequestStatus.pending.value
            ),
        )
    if viewer.has(Scope.write_accreditations) and sees_all_credentials(viewer.principal):
        nav["accreditations_queue"] = _count(
            session,
            select(Accreditation.id).where(
                Accreditation.verified_at.is_(None), Accreditation.revoked_at.is_(None)
            ),
        )
    return nav
