"""The start page: who is signed in (and how strongly), with a logout button; or the ways to log in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from governance.auth.dependencies import DbSession
from governance.auth.principal import roles_of
from governance.config import get_settings
from governance.core.errors import DomainError
from governance.identity.web_sessions import csrf_token_for, session_from_cookie
from governance.models.identity import User
from governance.web.styles import SITE_CSS
from governance.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession) -> HTMLResponse:
    settings = get_settings()
    context: dict[str, Any] = {
        "user": None,
        "oidc": bool(settings.oidc_issuer and settings.oidc_web_client_secret),
        "saml": bool(settings.saml_idp_metadata_url or settings.saml_idp_metadata_file),
    }
    cookie = request.cookies.get(settings.session_cookie_name)
    if cookie:
        try:
            row = session_from_cookie(session, cookie)
        except DomainError:
            row = None
        user = session.get(User, row.user_id) if row is not None else None
        if row is not None and user is not None and user.status == "active":
            context.update(
                user=user,
                roles=sorted(roles_of(session, user.id)),
                via={"oidc": "OpenID Connect", "saml": "SAML"}.get(row.via, row.via),
                mfa=row.mfa,
                expires_at=row.expires_at,
                csrf_token=csrf_token_for(row),  # the logout form's: a POST from this page only
            )
    response = render(request, "index.html", context)
    if settings.oidc_issuer:
        # The logout form's answer redirects to the provider's end-session endpoint; browsers apply
        # form-action to that redirect, so the provider's origin is allowed as a target of this page's forms.
        issuer = urlsplit(settings.oidc_issuer)
        csp = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = csp.replace(
            "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}"
        )
    return response


@router.get("/assets/site.css")
def stylesheet() -> Response:
    return Response(SITE_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})
