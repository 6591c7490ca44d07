"""Separation of duties: the one place that decides whether a person is independent of something.

Everything that needs "someone else must do this" — approving a project, a membership or an access
request, verifying an accreditation, checking or releasing outputs, granting a role — asks here. A person
is *involved* in a project when they lead or created it, changed its application as a steward, or hold a
membership they asked for or accepted (an invitation they have not accepted does not count: nobody can
make a steward "involved" by inviting them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

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


BATCH = 500  # projects per prefetch query (bounded IN lists)


def _involvement_memo(session: Session) -> dict[tuple[uuid.UUID, uuid.UUID], bool]:
    memo: dict[tuple[uuid.UUID, uuid.UUID], bool] = session.info.setdefault("involvement", {})
    return memo


def prefetch_involvement(session: Session, projects: Iterable[Project], user_id: uuid.UUID) -> None:
    """Fill ``involved``'s memo for many projects at once: one query per BATCH projects instead of two per
    project. The rule is ``involved``'s own, applied to a list (a membership the person asked for or
    accepted, removed ones too, or an edit as a steward; leading or creating needs no query)."""
    memo = _involvement_memo(session)
    todo = list({p.id: p for p in projects if (p.id, user_id) not in memo and p.id is not None})
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        found = set(
            session.scalars(
                union(
                    select(Membership.project_id).where(
                        Membership.project_id.in_(chunk),
                        Membership.user_id == user_id,
                        Membership.status.in_([s.value for s in OWN_MEMBERSHIP]),  # removed ones too
                    ),
                    select(ProjectEditor.project_id).where(
                        ProjectEditor.project_id.in_(chunk), ProjectEditor.user_id == user_id
                    ),
                )
            )
        )
        for project_id in chunk:
            memo[(project_id, user_id)] = project_id in found


def involved(session: Session, project: Project, user_id: uuid.UUID) -> bool:
    if user_id in (project.lead_id, project.created_by_id):
        return True
    memo = _involvement_memo(session)
    key = (project.id, user_id)
    if key not in memo:
        # A page asks about every project it shows, one after the other: answer for all the projects this
        # session has loaded in the same query, so a list of N projects costs one query, not 2N.
        loaded = [o for o in session.identity_map.values() if isinstance(o, Project)]
        prefetch_involvement(session, [project, *loaded], user_id)
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
