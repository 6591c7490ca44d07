"""/me: the signed-in person's profile, roles, accreditations, agreements, API tokens, memberships and
invitations. Buttons come from the declared moves (actions_for): revoking a token is the token lifecycle's
`revoke` (auth/tokens.py), accepting or declining an invitation the membership lifecycle's moves (their
forms post to the project page's member route)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.auth.tokens import TOKEN_LIFECYCLE, revoke_token
from governance.core.clock import as_utc, utcnow
from governance.core.errors import NotFound
from governance.core.transitions import actions_for
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE, AGREEMENT_LIFECYCLE
from governance.models.identity import Accreditation, Agreement, ApiToken, Organisation
from governance.models.projects import Membership, Project
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.viewer import FormViewer, PageViewer, Viewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

SOON = timedelta(days=30)
LIMIT = 200
BUTTONS = {"revoke": "Revoke", "accept": "Accept the invitation", "decline": "Decline the invitation"}
DONE = {
    "revoke": "The token was revoked, with every token it minted.",
    "stale": "That token had changed since you opened the page; nothing was done. Here is where it stands.",
}


def _expiry(expires: Any, *, what: str) -> str:
    """Plain words about an expiry date, with what to do when it has passed or is near."""
    when = as_utc(expires)
    if when is None:
        return "does not expire"
    day = when.strftime("%Y-%m-%d")
    now = utcnow()
    if when <= now:
        return f"expired on {day}; renew it ({what})"
    if when - now <= SOON:
        return f"expires on {day}, within 30 days; renew it soon ({what})"
    return f"valid until {day}"


def _accreditations(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    rows = list(
        session.scalars(
            select(Accreditation)
            .where(Accreditation.user_id == viewer.user.id)
            .order_by(Accreditation.created_at.desc(), Accreditation.id)
            .limit(LIMIT)
        )
    )
    pending = {r.kind for r in rows if ACCREDITATION_LIFECYCLE.state_of(r) == "unverified"}
    out = []
    for r in rows:
        status = ACCREDITATION_LIFECYCLE.state_of(r)
        expired = r.expires_at is not None and as_utc(r.expires_at) <= utcnow()  # type: ignore[operator]
        out.append(
            {
                "row": r,
                "status": status,
                "expired": expired and status != "revoked",
                "expiry": "revoked"
                if status == "revoked"
                else _expiry(
                    r.expires_at,
                    what="a renewal is recorded and waits for a data steward"
                    if r.kind in pending and status == "verified"
                    else "record a new accreditation and ask a data steward",
                ),
                "waiting": status == "unverified",
            }
        )
    return out


def _agreements(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Agreement)
        .where(Agreement.user_id == viewer.user.id)
        .order_by(Agreement.signed_at.desc(), Agreement.id)
        .limit(LIMIT)
    )
    return [
        {
            "row": r,
            "status": AGREEMENT_LIFECYCLE.state_of(r),
            "expiry": _expiry(r.expires_at, what="sign the current version"),
        }
        for r in rows
    ]


def _tokens(session: Session, viewer: Viewer) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == viewer.user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
        .limit(LIMIT)
    )
    return [
        {
            "row": r,
            "status": TOKEN_LIFECYCLE.state_of(r),
            "actions": actions_for(session, viewer.principal, TOKEN_LIFECYCLE, r),
        }
        for r in rows
    ]


def _memberships(session: Session, viewer: Viewer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = session.execute(
        select(Membership, Project.slug, Project.title)
        .join(Project, Project.id == Membership.project_id)
        .where(Membership.user_id == viewer.user.id)
        .order_by(Membership.created_at.desc(), Membership.id)
        .limit(LIMIT)
    ).all()
    memberships, invitations = [], []
    for m, slug, title in rows:
        status = MEMBERSHIP_LIFECYCLE.state_of(m)
        item = {"row": m, "slug": slug, "title": title, "status": status}
        if status == "invited":
            item["actions"] = actions_for(session, viewer.principal, MEMBERSHIP_LIFECYCLE, m)
            invitations.append(item)
        else:
            memberships.append(item)
    return memberships, invitations


@router.get("/me")
def me(
    request: Request, session: DbSession, viewer: PageViewer, done: str = Query("", max_length=20)
) -> Response:
    require(viewer, Scope.read_me)
    org = session.get(Organisation, viewer.user.organisation_id) if viewer.user.organisation_id else None
    memberships, invitations = _memberships(session, viewer)
    context = {
        "organisation": org.name if org else "",
        "scopes": sorted(viewer.principal.scopes),
        "accreditations": _accreditations(session, viewer),
        "agreements": _agreements(session, viewer),
        "tokens": _tokens(session, viewer),
        "memberships": memberships,
        "invitations": invitations,
        "button_labels": BUTTONS,
        "done": DONE.get(done, ""),
        "notice": "",
        "active": "me",
    }
    return page(request, session, viewer, "me/me.html", context)


@router.post("/me/tokens/{token_id}/{action}")
def token_action(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    token_id: uuid.UUID,
    action: str,
    state: str = Form("", max_length=32),
) -> Response:
    t = TOKEN_LIFECYCLE.get(action)  # 404 in the API's words for a move that does not exist
    if not t.public or t.name != "revoke":
        raise NotFound(f"{action} is not a button of this page")
    if t.scope is not None:
        require(viewer, t.scope)
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != viewer.user.id:
        raise NotFound("no such token")
    current = TOKEN_LIFECYCLE.state_of(row)
    if state and state != current:  # a second click: nothing is applied twice
        return RedirectResponse("/me?done=stale#tokens", status_code=303)
    revoke_token(session, token_id, owner_id=viewer.user.id, actor=viewer.principal)
    return RedirectResponse("/me?done=revoke#tokens", status_code=303)
