"""/me: the signed-in person's profile, roles, accreditations, agreements, API tokens, memberships and
invitations. Buttons come from the declared moves (actions_for): revoking a token is the token lifecycle's
`revoke` (auth/tokens.py), accepting or declining an invitation the membership lifecycle's moves (their
forms post to the project page's member route).

Its forms call the API's own services: recording an accreditation is identity/credentials.record_accreditation
(as POST /api/v1/users/{id}/accreditations), signing the current data-use agreement is
credentials.sign_agreement (as POST …/agreements), and creating an API token is auth/tokens.issue_token with
the same bounds as POST /api/v1/tokens. Bad input re-renders the page with the person's input kept and each
problem beside its field, in the API's words. A new token's secret is shown once, on the response to the
form's POST (never in a URL, `Cache-Control: no-store`), and never again."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.schemas import TokenCreate
from governance.auth.scopes import Scope
from governance.auth.tokens import TOKEN_LIFECYCLE, issue_token, revoke_token
from governance.config import get_settings
from governance.core.clock import as_utc, utcnow
from governance.core.errors import DomainError, NotFound
from governance.core.transitions import actions_for
from governance.identity import credentials
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE, AGREEMENT_LIFECYCLE
from governance.identity.schemas import AccreditationCreate, AgreementCreate
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
# The version of the data-use agreement people sign now: the one the demo seed's researchers hold and the
# API's example names. (No setting holds it yet; the policies judge only whether an agreement is in force.)
DONE = {
    "revoke": "The token was revoked, with every token it minted.",
    "accreditation": "Your accreditation was recorded. It is awaiting verification by a data steward.",
    "agreement": "You signed the current version of the data-use agreement.",
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


EMPTY_ACCREDITATION = {"kind": "", "issuer": "", "awarded_on": "", "expires_on": "", "evidence_ref": ""}
EMPTY_TOKEN: dict[str, Any] = {"name": "", "scopes": [], "expires_in_hours": "8"}


def _render(
    request: Request,
    session: Session,
    viewer: Viewer,
    done: str = "",
    status_code: int = 200,
    **forms: Any,
) -> Response:
    """The whole page; ``forms`` overrides one form's values and errors (acc_*, agr_*, tok_*)."""
    org = session.get(Organisation, viewer.user.organisation_id) if viewer.user.organisation_id else None
    memberships, invitations = _memberships(session, viewer)
    agreements = _agreements(session, viewer)
    context = {
        "organisation": org.name if org else "",
        "scopes": sorted(viewer.principal.scopes),
        "accreditations": _accreditations(session, viewer),
        "agreements": agreements,
        "current_agreement": get_settings().agreement_version,
        "signed_current": any(g["row"].version == get_settings().agreement_version for g in agreements),
        "tokens": _tokens(session, viewer),
        "token_scopes": sorted(viewer.principal.scopes),
        "max_token_hours": get_settings().api_token_max_hours,
        "memberships": memberships,
        "invitations": invitations,
        "button_labels": BUTTONS,
        "done": DONE.get(done, ""),
        "notice": "",
        "active": "me",
        "acc_values": EMPTY_ACCREDITATION,
        "acc_errors": {},
        "agr_errors": {},
        "tok_values": EMPTY_TOKEN,
        "tok_errors": {},
        "created": None,
        **forms,
    }
    response = page(request, session, viewer, "me/me.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/me")
def me(
    request: Request, session: DbSession, viewer: PageViewer, done: str = Query("", max_length=20)
) -> Response:
    require(viewer, Scope.read_me)
    return _render(request, session, viewer, done)


def _day(value: str, errors: dict[str, str], key: str) -> datetime | None:
    """A form's date (YYYY-MM-DD) as midnight UTC; None when empty; an error beside the field when bad."""
    if not value.strip():
        return None
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(), UTC)
    except ValueError:
        errors[key] = "give the date as YYYY-MM-DD"
        return None


def _field_errors(exc: ValidationError, fields: dict[str, str]) -> dict[str, str]:
    """Pydantic's problems keyed by the form's fields (``fields`` maps the API's names to the form's)."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        key = fields.get(loc[0], loc[0]) if loc else "_form"
        if key == "_form":  # a rule across fields names the field it concerns
            key = next((form for api, form in fields.items() if message.startswith(api)), "_form")
        errors.setdefault(key, message)
    return errors


def _refusal(session: Session, exc: DomainError) -> None:
    """A refusal the form shows (bad input, a duplicate); anything else becomes the friendly error page."""
    if exc.status >= 500 or exc.status in (401, 403, 404):
        raise exc
    session.rollback()


@router.post("/me/accreditations")
def record_accreditation(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    kind: str = Form("", max_length=64),
    issuer: str = Form("", max_length=200),
    awarded_on: str = Form("", max_length=10),
    expires_on: str = Form("", max_length=10),
    evidence_ref: str = Form("", max_length=500),
) -> Response:
    require(viewer, Scope.write_me, Scope.write_accreditations, any_of=True)  # the API's door
    values = {
        "kind": kind,
        "issuer": issuer,
        "awarded_on": awarded_on,
        "expires_on": expires_on,
        "evidence_ref": evidence_ref,
    }
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "kind": kind.strip(),
        "issuer": issuer.strip(),
        "evidence_ref": evidence_ref.strip(),
        "awarded_at": _day(awarded_on, errors, "awarded_on"),
        "expires_at": _day(expires_on, errors, "expires_on"),
    }
    if not awarded_on.strip():
        errors["awarded_on"] = "give the date it was awarded"
    fields = {"awarded_at": "awarded_on", "expires_at": "expires_on"}
    try:
        body = AccreditationCreate.model_validate(data)
    except ValidationError as exc:
        errors = {**_field_errors(exc, fields), **errors}
    if errors:
        return _render(request, session, viewer, status_code=422, acc_values=values, acc_errors=errors)
    try:
        credentials.record_accreditation(session, viewer.principal, viewer.user, body)
    except DomainError as exc:
        _refusal(session, exc)
        errors = {"_form": exc.detail}
        return _render(request, session, viewer, status_code=exc.status, acc_values=values, acc_errors=errors)
    return RedirectResponse("/me?done=accreditation#accreditations", status_code=303)


@router.post("/me/agreements")
def sign_agreement(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    version: str = Form("", max_length=64),
    agree: str = Form("", max_length=8),
) -> Response:
    require(viewer, Scope.write_me)  # the API's door (AgreementsSign)
    current = get_settings().agreement_version
    if version != current:  # a page opened before the version changed: say so, sign nothing
        detail = f"version {version!r} is no longer the current one; read version {current} and sign it"
        return _render(request, session, viewer, status_code=409, agr_errors={"_form": detail})
    if agree != "yes":
        errors = {"agree": "tick the box to say you have read the agreement and agree to it"}
        return _render(request, session, viewer, status_code=422, agr_errors=errors)
    try:
        credentials.sign_agreement(session, viewer.principal, viewer.user, AgreementCreate(version=version))
    except DomainError as exc:
        _refusal(session, exc)
        return _render(request, session, viewer, status_code=exc.status, agr_errors={"_form": exc.detail})
    return RedirectResponse("/me?done=agreement#agreements", status_code=303)


@router.post("/me/tokens")
def create_token(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    name: str = Form("", max_length=100),
    scopes: list[str] = Form([]),
    expires_in_hours: str = Form("", max_length=12),
) -> Response:
    require(viewer, Scope.read_me)  # the API's door (TokensOwn)
    values = {"name": name, "scopes": scopes, "expires_in_hours": expires_in_hours}
    errors: dict[str, str] = {}
    wider = sorted(set(scopes) - viewer.principal.scopes)
    if wider:
        errors["scopes"] = f"you can give a token only permissions you hold; not: {', '.join(wider)}"
    elif not scopes:
        errors["scopes"] = "choose at least one permission for the token"
    data: dict[str, Any] = {"name": name.strip(), "scopes": scopes, "expires_in_hours": expires_in_hours}
    try:
        body = TokenCreate.model_validate(data)
    except ValidationError as exc:
        errors = {**_field_errors(exc, {}), **errors}
    if errors:
        return _render(request, session, viewer, status_code=422, tok_values=values, tok_errors=errors)
    try:
        issued = issue_token(
            session,
            viewer.user,
            name=body.name,
            scopes=body.scopes,
            lifetime=timedelta(hours=body.expires_in_hours),
            actor=viewer.principal,
            max_lifetime=timedelta(hours=get_settings().api_token_max_hours),
        )
    except DomainError as exc:
        _refusal(session, exc)
        field = "expires_in_hours" if "lifetime" in exc.detail or "hours" in exc.detail else "_form"
        errors = {field: exc.detail}
        return _render(request, session, viewer, status_code=exc.status, tok_values=values, tok_errors=errors)
    created = {"name": issued.record.name, "token": issued.token, "expires_at": issued.record.expires_at}
    return _render(request, session, viewer, status_code=201, created=created)


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
