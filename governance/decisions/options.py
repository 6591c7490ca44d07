"""The choices offered in the hub's spawn form: a convenience, never a decision."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.core.clock import utcnow
from governance.decisions.schemas import (
    LaunchOptionDataset,
    LaunchOptionProfile,
    LaunchOptionProject,
    LaunchOptions,
)
from governance.models import Dataset, EnvironmentProfile, Grant, Membership, ProfileProject, Project, User


def launch_options(session: Session, username: str) -> LaunchOptions:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.status != "active":
        return LaunchOptions(projects=[])
    now = utcnow()
    projects = session.scalars(
        select(Project)
        .join(Membership, Membership.project_id == Project.id)
        .where(
            Membership.user_id == user.id,
            Membership.status == "approved",
            Membership.removed_at.is_(None),
            Project.status == "active",
        )
        .order_by(Project.slug)
        .limit(100)
    ).all()
    if not projects:
        return LaunchOptions(projects=[])
    project_ids = [p.id for p in projects]
    profiles = session.scalars(
        select(EnvironmentProfile)
        .where(EnvironmentProfile.status == "active")
        .order_by(EnvironmentProfile.slug)
    ).all()
    restricted = {
        (pp.profile_id, pp.project_id)
        for pp in session.scalars(select(ProfileProject).where(ProfileProject.project_id.in_(project_ids)))
    }
    grants = session.execute(
        select(Grant.project_id, Dataset)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .where(
            Grant.project_id.in_(project_ids),
            Grant.revoked_at.is_(None),
            Dataset.status == "active",
            or_(Grant.expires_at.is_(None), Grant.expires_at > now),
        )
    ).all()
    out = []
    for project in projects:
        allowed_profiles = [
            LaunchOptionProfile.model_validate(pr)
            for pr in profiles
            if (pr.all_projects or (pr.id, project.id) in restricted)
        ]
        datasets = sorted(
            {
                d.slug: LaunchOptionDataset.model_validate(d) for pid, d in grants if pid == project.id
            }.values(),
            key=lambda d: d.slug,
        )
        out.append(
            LaunchOptionProject(
                slug=project.slug,
                title=project.title,
                tier=project.tier,
                profiles=allowed_profiles,
                datasets=datasets,
            )
        )
    return LaunchOptions(projects=out)
