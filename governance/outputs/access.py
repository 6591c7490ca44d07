"""Who may do what with an output request, and who may see what of it.

Every rule here returns a ``Refusal`` (the reason in plain words) or None, so the transition table, the
``allowed_actions`` of each response and the 403/409 details all say the same. Independence of the
project (the requester, and anyone involved in it) is decided only by ``auth/duties.independence``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.duties import independence
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import NotFound
from governance.core.transitions import Refusal, conflict, forbidden
from governance.models.outputs import OutputRequest
from governance.models.projects import Membership, Project
from governance.outputs.states import CHECKED, OutputRequestStatus
from governance.projects.states import MembershipStatus, ProjectStatus

AUTHOR_ROLES = ("lead", "researcher")
CHECKER_SCOPES = (Scope.review_outputs, Scope.release_outputs)
REQUESTER_REASON = "you asked for this release, so you cannot check it"

# What a finding may say to anyone but a checker: where (coordinates) and which rule, never a value.
LOCATION_KEYS = frozenset(
    {
        "row",
        "rows",
        "first_row",
        "column",
        "columns",
        "sheet",
        "line",
        "offset",
        "page",
        "margin",
        "previous",
        "output",
        "member",
        "signature",
        "acro_check",
        "extension",
        "type",
    }
)


def active_membership(session: Session, project_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    """An approved, unexpired, not removed membership (any role), or None."""
    row = session.scalar(
        select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    )
    if row is None or row.status != MembershipStatus.approved or row.removed_at is not None:
        return None
    expires = as_utc(row.expires_at)
    if expires is not None and expires <= utcnow():
        return None
    return row


def author_refusal(session: Session, principal: Principal, project: Project, verb: str) -> Refusal | None:
    """Only approved members (lead or researcher) of an active project create, upload and submit."""
    if project.status != ProjectStatus.active:
        return conflict(f"output requests are only for active projects; {project.slug!r} is {project.status}")
    membership = active_membership(session, project.id, principal.user_id)
    if membership is None or membership.role not in AUTHOR_ROLES:
        return forbidden(
            f"only approved members (lead or researcher) of project {project.slug!r} "
            f"may {verb} output requests"
        )
    return None


def require_author(session: Session, principal: Principal, project: Project, verb: str) -> None:
    if principal.project_id is not None and principal.project_id != project.id:
        raise NotFound(f"no project {project.slug!r} that this workspace can see")
    refusal = author_refusal(session, principal, project, verb)
    if refusal is not None:
        raise refusal.error()


def requester_refusal(principal: Principal, request: OutputRequest, what: str) -> Refusal | None:
    if principal.user_id != request.requester_id:
        return forbidden(f"only the person who created this request may {what} it")
    return None


def require_requester(principal: Principal, request: OutputRequest, what: str) -> None:
    refusal = requester_refusal(principal, request, what)
    if refusal is not None:
        raise refusal.error()


def is_checker(principal: Principal) -> bool:
    """Holds a checker's scope on a personal credential (a workspace token never checks)."""
    return principal.project_id is None and any(principal.has(scope) for scope in CHECKER_SCOPES)


def checker_refusal(
    session: Session,
    principal: Principal,
    request: OutputRequest,
    project: Project,
    doing: str = "check its outputs",
) -> Refusal | None:
    """Why this person may not check (review, release, recall) this request, or None when independent."""
    if principal.project_id is not None:
        return forbidden("a workspace token cannot be used to check outputs")
    return independence(
        session,
        principal,
        doing=doing,
        project=project,
        parties=((request.requester_id, REQUESTER_REASON),),
    )


def independent_checker(
    session: Session, principal: Principal, request: OutputRequest, project: Project
) -> bool:
    return is_checker(principal) and checker_refusal(session, principal, request, project) is None


def sees_reviewers(session: Session, principal: Principal, request: OutputRequest, project: Project) -> bool:
    """May this caller learn who reviewed the request and how they voted (blinding aside)?

    Independent checkers and overseers (read:all: auditors, stewards) who are independent of the project;
    never the requester, a project member or a workspace, through any token.
    """
    if principal.project_id is not None or not (is_checker(principal) or principal.sees_all):
        return False
    return checker_refusal(session, principal, request, project) is None


def download_refusal(
    session: Session, principal: Principal, request: OutputRequest, project: Project
) -> Refusal | None:
    """Why this caller may not download the request's files, or None when they may.

    Unreleased files leave through the API only to independent checkers (once the automated checks have
    finished). A workspace token never downloads: the files are already in the workspace, and a token
    given to a workspace must not become a way to carry results out of it. After release the project's
    members may download with their personal credentials. Nobody downloads the files of a blocked request.
    """
    status = request.status
    if status == OutputRequestStatus.blocked:
        return forbidden("the files of a blocked request cannot be downloaded (they may hold malware)")
    if principal.project_id is not None:
        return forbidden(
            "a workspace token cannot download output files: they are already in the workspace, and "
            "results leave it only once they are checked and released"
        )
    if independent_checker(session, principal, request, project):
        if request.submitted_at is not None and status in CHECKED:
            return None
        return forbidden("the files can be read by checkers once the automated checks have finished")
    if active_membership(session, project.id, principal.user_id) is not None:
        if status == OutputRequestStatus.released:
            return None
        return forbidden(
            "unreleased files can be read only by the independent output checkers; the project's members "
            "can download them here once they are released"
        )
    return forbidden("you may not read the files of this request")


def _coordinate(value: Any) -> bool:
    if isinstance(value, str | int | float | bool) or value is None:
        return True
    return isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)


def coordinates_only(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as anyone but a checker sees it: the rule broken, where, and what to change.

    Whatever a check stored besides (a cell's value, an excerpt, a matched identifier) is dropped here,
    whatever the check wrote.
    """
    location = finding.get("location")
    kept = (
        {k: v for k, v in location.items() if k in LOCATION_KEYS and _coordinate(v)}
        if isinstance(location, dict)
        else {}
    )
    return {
        "code": str(finding.get("code", "")),
        "message": str(finding.get("message", "")),
        "location": kept or None,
    }
