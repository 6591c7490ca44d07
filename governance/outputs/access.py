"""Who may do what with an output request (separation of duties lives here, not only in the UI)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.duties import involved
from governance.auth.principal import Principal
from governance.core.clock import as_utc, utcnow
from governance.core.errors import Conflict, Forbidden, NotFound, SeparationOfDuties
from governance.models.outputs import OutputRequest
from governance.models.projects import Membership, Project

AUTHOR_ROLES = ("lead", "researcher")
CHECKER_SCOPES = ("review:outputs", "release:outputs")


def active_membership(session: Session, project_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    """An approved, unexpired, not removed membership (any role), or None."""
    row = session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    if row is None or row.status != "approved" or row.removed_at is not None:
        return None
    expires = as_utc(row.expires_at)
    if expires is not None and expires <= utcnow():
        return None
    return row


def require_author(session: Session, principal: Principal, project: Project, verb: str) -> None:
    """Only approved members (lead or researcher) of an active project create, upload and submit."""
    if principal.project_id is not None and principal.project_id != project.id:
        raise NotFound(f"no project {project.slug!r} that this workspace can see")
    if project.status != "active":
        raise Conflict(f"output requests are only for active projects; {project.slug!r} is {project.status}")
    membership = active_membership(session, project.id, principal.user_id)
    if membership is None or membership.role not in AUTHOR_ROLES:
        raise Forbidden(
            f"only approved members (lead or researcher) of project {project.slug!r} "
            f"may {verb} output requests"
        )


def require_requester(principal: Principal, request: OutputRequest, what: str) -> None:
    if principal.user_id != request.requester_id:
        raise Forbidden(f"only the person who created this request may {what} it")


def is_checker(principal: Principal) -> bool:
    return principal.project_id is None and any(principal.has(scope) for scope in CHECKER_SCOPES)


def independence_problem(
    session: Session, principal: Principal, request: OutputRequest, project: Project
) -> str | None:
    """Why this person may not check this request, or None when they are independent of it."""
    if principal.project_id is not None:
        return "a workspace token cannot be used to check outputs"
    if principal.user_id == request.requester_id:
        return "you asked for this release, so you cannot check it"
    if involved(session, project, principal.user_id):
        return f"you are a member of project {project.slug!r}, so you cannot check its outputs"
    return None


def require_independent(
    session: Session, principal: Principal, request: OutputRequest, project: Project
) -> None:
    problem = independence_problem(session, principal, request, project)
    if problem:
        raise SeparationOfDuties(problem)


def content_access_problem(
    session: Session, principal: Principal, request: OutputRequest, project: Project
) -> str | None:
    """Why this caller may not download the request's files, or None when they may.

    Before release only the project's own workspace (a workspace token of an active member) and
    independent checkers may read a file: a personal token of a member could otherwise carry
    unreleased results out of the TRE. After release the project's members may read it anywhere.
    Nobody downloads the files of a blocked request (it may hold malware).
    """
    status = request.status
    if status == "blocked":
        return "the files of a blocked request cannot be downloaded"
    member = active_membership(session, project.id, principal.user_id) is not None
    if status == "released" and member:
        return None
    if principal.project_id == project.id and member:
        return None
    if is_checker(principal) and independence_problem(session, principal, request, project) is None:
        if request.submitted_at is not None and status not in ("draft", "submitted", "checking"):
            return None
        return "the files can be read by checkers once the automated checks have finished"
    if member:
        return (
            "unreleased files can be read only from inside the project's workspace; "
            "they can be downloaded here once released"
        )
    return "you may not read the files of this request"
