"""Separation of duties: the one place that decides whether a person is independent of something.

Everything that needs "someone else must do this" — approving a project, a membership or an access
request, verifying an accreditation, checking or releasing outputs, granting a role — asks here. A person
is *involved* in a project when they lead or created it, changed its application as a steward, or hold a
membership they asked for or accepted (an invitation they have not accepted does not count: nobody can
make a steward "involved" by inviting them).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, or_, select, union
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.transitions import Refusal, duties
from governance.models.projects import Membership, Project, ProjectEditor
from governance.projects.states import OWN_MEMBERSHIP

Party = tuple[uuid.UUID | None, str]  # (a user, the reason when the caller is that user)


def involved_project_ids(user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The projects a person is involved in, as a subquery: the same rule as ``involved``, for filters."""
    return union(
        select(Project.id).where(or_(Project.lead_id == user_id, Project.created_by_id == user_id)),
        select(Membership.project_id).where(
            Membership.user_id == user_id, Membership.status.in_([s.value for s in OWN_MEMBERSHIP])
        ),
        select(ProjectEditor.project_id).where(ProjectEditor.user_id == user_id),
    )  # type: ignore[return-value]


def involved(session: Session, project: Project, user_id: uuid.UUID) -> bool:
    if user_id in (project.lead_id, project.created_by_id):
        return True
    memo: dict[tuple[uuid.UUID, uuid.UUID], bool] = session.info.setdefault("involvement", {})
    key = (project.id, user_id)
    if key not in memo:
        membership = session.scalar(
            select(Membership.id).where(
                Membership.project_id == project.id,
                Membership.user_id == user_id,
                Membership.status.in_([s.value for s in OWN_MEMBERSHIP]),  # removed ones too
            )
        )
        edited = session.scalar(
            select(ProjectEditor.user_id).where(
                ProjectEditor.project_id == project.id, ProjectEditor.user_id == user_id
            )
        )
        memo[key] = membership is not None or edited is not None
    return memo[key]


def forget_involvement(session: Session) -> None:
    """Called when memberships or editors change within a transaction."""
    session.info.pop("involvement", None)


def independence(
    session: Session,
    principal: Principal,
    *,
    doing: str,
    project: Project | None = None,
    parties: Sequence[Party] = (),
) -> Refusal | None:
    """Why this person may not do ``doing`` (e.g. "approve it"), or None when they are independent."""
    for user_id, reason in parties:
        if user_id is not None and user_id == principal.user_id:
            return duties(reason)
    if project is not None and involved(session, project, principal.user_id):
        return duties(f"you are involved in project {project.slug!r}, so you cannot {doing}")
    return None
