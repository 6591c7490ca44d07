"""My tasks: what waits on the signed-in person, from the declared transitions (actions_for), never a rule
of the page's own. A project is in a steward's list when `approve` is open to them now; a membership
when `approve` (stewards) or `accept` (the person invited) is; an application to fix is a returned or
draft one the person leads or created, with what its `submit` still needs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.auth.scopes import Scope
from governance.core.transitions import actions_for
from governance.models.identity import User
from governance.models.projects import Membership, Project, ProjectApproval
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE, PROJECT_LIFECYCLE, REVIEWABLE
from governance.projects.repository import visible_projects
from governance.projects.states import MembershipStatus, ProjectStatus
from governance.web.viewer import Viewer

LIMIT = 100


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


def my_tasks(session: Session, viewer: Viewer) -> list[Group]:
    groups = [_reviews(session, viewer), _memberships(session, viewer), _to_fix(session, viewer)]
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
    return nav
