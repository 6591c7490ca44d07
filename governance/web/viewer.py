"""Who is looking at a page: the session cookie a login set, its principal, and its forms' CSRF token.

A page is authenticated by the same server-side session as the API's cookie callers
(identity/web_sessions.py). Its forms cannot send the API's `X-Requested-With` header, so every
state-changing page POST carries the session's CSRF token instead (`check_form_csrf`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from governance.auth.dependencies import Authorize, DbSession
from governance.auth.principal import AuthStrength, Principal, principal_for_user
from governance.auth.scopes import Scope
from governance.config import get_settings
from governance.core.errors import Forbidden, NotAuthenticated
from governance.identity.web_sessions import check_form_csrf, csrf_token_for, session_from_cookie
from governance.models.identity import User
from governance.models.sessions import WebSession

VIA = {"oidc": "OpenID Connect", "saml": "SAML", "dev": "dev sign-in"}


@dataclass(frozen=True)
class Viewer:
    user: User
    principal: Principal
    row: WebSession
    csrf_token: str

    @property
    def name(self) -> str:
        return self.user.display_name or self.user.username

    @property
    def via(self) -> str:
        return VIA.get(self.row.via, self.row.via)

    @property
    def roles(self) -> list[str]:
        return sorted(self.principal.roles)

    def has(self, scope: Scope) -> bool:
        return self.principal.has(scope)


def _viewer(request: Request, session: DbSession) -> Viewer:
    cookie = request.cookies.get(get_settings().session_cookie_name)
    if not cookie:
        raise NotAuthenticated("sign in to see this page")
    row = session_from_cookie(session, cookie)  # NotAuthenticated: expired, ended or forged
    user = session.get(User, row.user_id)
    if user is None:
        raise NotAuthenticated("your session has ended; log in again")
    if user.status != "active":
        raise Forbidden(f"your account is {user.status}; contact the data steward or TRE support desk")
    strength = AuthStrength(mfa=row.mfa, acr=row.acr, amr=tuple(row.amr))
    principal = principal_for_user(session, user, "session", strength=strength)
    request.state.principal = principal  # refusals are audited with this actor (core/problems.py)
    request.state.web_session_id = row.id
    return Viewer(user, principal, row, csrf_token_for(row))


def optional_viewer(request: Request, session: DbSession) -> Viewer | None:
    """The signed-in person, or None (no cookie, or one that no longer works)."""
    try:
        return _viewer(request, session)
    except NotAuthenticated:
        return None


def page_viewer(request: Request, session: DbSession) -> Viewer:
    """A page's reader: 401 (a friendly "sign in" page) without a working session."""
    return _viewer(request, session)


def form_viewer(
    request: Request, session: DbSession, csrf_token: str | None = Form(None, max_length=200)
) -> Viewer:
    """A page form's sender: signed in, and the form carries this session's CSRF token (403 otherwise)."""
    viewer = _viewer(request, session)
    check_form_csrf(request, viewer.row, csrf_token)
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]
PageViewer = Annotated[Viewer, Depends(page_viewer)]
FormViewer = Annotated[Viewer, Depends(form_viewer)]


def require(viewer: Viewer, *scopes: Scope, any_of: bool = False) -> None:
    """The API's door for a page: the very dependency the API's routes use (403 in the same words)."""
    Authorize(*scopes, any_of=any_of)(viewer.principal)
