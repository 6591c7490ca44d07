"""Launch readiness on a project's page: for each environment profile the person may use, whether they could
launch now, per Safe, with the reasons — the decision simulator's answer (decisions/service.simulate:
nothing is launched, stored or audited)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.core.clock import utcnow
from governance.core.errors import DomainError
from governance.decisions import service as decisions
from governance.decisions.schemas import AuthIn, DecisionRequest
from governance.decisions.situation import SAFES
from governance.models.datasets import Dataset, Grant
from governance.models.environments import EnvironmentProfile, ProfileProject
from governance.models.projects import Membership, Project
from governance.web.viewer import Viewer

WHAT_TO_DO = {
    "people": "Check your accreditation and data-use agreement on your profile page (renew or sign what has "
    "lapsed), or sign in with multi-factor authentication where the profile asks for it.",
    "projects": "The project must be active and you an approved member of it: ask the lead or a steward.",
    "data": "Request the datasets the project needs, or renew a grant that has ended.",
    "settings": "Choose another profile, or connect from a network the profile allows.",
}
SAFE_TITLES = {"people": "Safe People", "projects": "Safe Projects", "data": "Safe Data",
               "settings": "Safe Settings"}  # fmt: skip


@dataclass
class SafeRow:
    key: str
    title: str
    allowed: bool
    reasons: list[str]
    what_to_do: str


@dataclass
class Readiness:
    profile: EnvironmentProfile
    allowed: bool
    datasets: list[str]
    safes: list[SafeRow] = field(default_factory=list)
    error: str = ""


def takes_part(session: Session, viewer: Viewer, project: Project) -> bool:
    """Readiness is the launching person's question: the lead, and members the project has approved."""
    if project.lead_id == viewer.user.id:
        return True
    return (
        session.scalar(
            select(Membership.id).where(
                Membership.project_id == project.id,
                Membership.user_id == viewer.user.id,
                Membership.status == "approved",
                Membership.removed_at.is_(None),
            )
        )
        is not None
    )


def launch_readiness(session: Session, viewer: Viewer, project: Project) -> list[Readiness]:
    profiles = session.scalars(
        select(EnvironmentProfile)
        .where(
            EnvironmentProfile.status == "active",
            or_(
                EnvironmentProfile.all_projects.is_(True),
                EnvironmentProfile.id.in_(
                    select(ProfileProject.profile_id).where(ProfileProject.project_id == project.id)
                ),
            ),
        )
        .order_by(EnvironmentProfile.slug)
    ).all()
    now = utcnow()
    datasets = sorted(
        session.scalars(
            select(Dataset.slug)
            .join(Grant, Grant.dataset_id == Dataset.id)
            .where(
                Grant.project_id == project.id,
                Grant.revoked_at.is_(None),
                or_(Grant.expires_at.is_(None), Grant.expires_at > now),
                Dataset.status == "active",
            )
        ).all()
    )
    out = []
    for profile in profiles:
        body = DecisionRequest(
            username=viewer.user.username,
            project=project.slug,
            profile=profile.slug,
            datasets=datasets,
            auth=AuthIn(mfa=viewer.row.mfa, acr=viewer.row.acr, amr=list(viewer.row.amr)),
        )
        try:
            decision = decisions.simulate(session, body)
        except DomainError as exc:
            out.append(Readiness(profile, False, datasets, error=exc.detail))
            continue
        rows = [
            SafeRow(
                safe,
                SAFE_TITLES[safe],
                decision.verdict.safes[safe].allowed,
                list(decision.verdict.safes[safe].reasons),
                "" if decision.verdict.safes[safe].allowed else WHAT_TO_DO[safe],
            )
            for safe in SAFES
        ]
        out.append(Readiness(profile, decision.allowed, datasets, rows))
    return out
