"""SAML login for the service's pages: SP metadata, AuthnRequest (redirect), assertion consumer (POST).

GET  /saml/metadata   this SP's metadata
GET  /saml/login      stores the AuthnRequest id, binds it to this browser (signed cookie), goes to the IdP
POST /saml/acs        validates the Response (signatures, audience, InResponseTo, validity, one use only)
GET  /saml/complete   the browser that started the login (its cookie names the request) gets the session

The last step exists because the IdP's POST to /saml/acs is cross-site, so a SameSite=Lax cookie is not
sent with it; the 303 to /saml/complete is a top-level GET, which carries it. Without that binding an
attacker could post their own valid response through a victim's browser (login CSRF).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from governance.audit.record import record
from governance.auth.dependencies import DbSession
from governance.auth.principal import AuthStrength
from governance.config import Settings, get_settings
from governance.core.errors import DomainError
from governance.core.problems import count_unauthenticated
from governance.identity import saml
from governance.identity.web_sessions import set_session_cookie, start_session
from governance.web.templating import render

router = APIRouter(prefix="/saml", include_in_schema=False)

BINDING_COOKIE = "governance_saml"
BINDING_SALT = "governance.saml-login"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=BINDING_SALT)


def _error(request: Request, status: int, message: str) -> Response:
    response = render(
        request,
        "login_error.html",
        {"title": "SAML login not completed", "message": message, "retry": "/saml/login?next=/"},
        status_code=status,
    )
    return response


@router.get("/metadata")
def metadata(request: Request) -> Response:
    try:
        xml = saml.sp_metadata_xml()
    except DomainError as exc:
        return _error(request, exc.status, exc.detail)
    return Response(xml, media_type="application/samlmetadata+xml")


@router.get("/login")
def login(request: Request, session: DbSession, next: str | None = None) -> Response:
    settings = get_settings()
    try:
        request_id, location = saml.start_login(session, next)
    except DomainError as exc:
        session.rollback()
        return _error(request, exc.status, exc.detail)
    response = RedirectResponse(location, status_code=303)
    response.set_cookie(
        BINDING_COOKIE,
        _serializer(settings).dumps(request_id),
        max_age=settings.saml_request_max_age_seconds + 300,
        path="/saml",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/acs")
def acs(request: Request, session: DbSession, SAMLResponse: str = Form(..., max_length=700_000)) -> Response:
    try:
        login = saml.finish_login(session, SAMLResponse)
    except DomainError as exc:
        session.rollback()
        if exc.status == 401:
            # Anyone can post garbage here: counted and summed (core/problems.py), not a row per post.
            count_unauthenticated(request, exc)
        else:  # a valid assertion for an identity that may not log in (not linked, suspended, …)
            record(
                session,
                None,
                "session.refused",
                "saml_response",
                None,
                outcome="denied",
                source=saml.SAML_SOURCE,
                summary={"reason": exc.detail[:300]},
            )
        return _error(request, exc.status, exc.detail)
    return RedirectResponse(f"/saml/complete?r={login.request.id}", status_code=303)


@router.get("/complete")
def complete(request: Request, session: DbSession, r: uuid.UUID) -> Response:
    settings = get_settings()
    bound: str | None = None
    raw = request.cookies.get(BINDING_COOKIE)
    if raw:
        try:
            value = _serializer(settings).loads(raw, max_age=settings.saml_request_max_age_seconds + 300)
            bound = value if isinstance(value, str) else None
        except BadSignature:
            bound = None
    try:
        row, user = saml.complete_login(session, r, bound)
    except DomainError as exc:
        session.rollback()
        return _error(request, exc.status, exc.detail)
    strength = AuthStrength(mfa=row.mfa, acr=row.acr, amr=())
    issued = start_session(session, user, via=saml.SAML_SOURCE, strength=strength)
    response = RedirectResponse(row.next, status_code=303)
    set_session_cookie(response, issued)
    response.delete_cookie(BINDING_COOKIE, path="/saml")
    return response
