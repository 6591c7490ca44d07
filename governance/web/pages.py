"""The start page (My tasks when signed in; the ways to sign in otherwise) and the dev sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from governance.auth.dependencies import DbSession
from governance.auth.principal import AuthStrength
from governance.config import get_settings
from governance.core.errors import NotFound
from governance.demo.seed import CAST
from governance.identity.next_url import safe_next
from governance.identity.web_sessions import set_session_cookie, start_session
from governance.models.identity import User
from governance.web.errors import PageRoute
from governance.web.tasks import my_tasks, nav_for
from governance.web.templating import STATIC_DIR, render
from governance.web.viewer import OptionalViewer, Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def page(
    request: Request,
    session: DbSession,
    viewer: Viewer,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A signed-in page: the layout's navigation for this person, then the page's own context."""
    nav = nav_for(session, viewer)
    nav.update(context.pop("nav", {}))
    return render(request, name, {"viewer": viewer, "nav": nav, **context}, status_code=status_code)


def dev_sign_in_enabled() -> bool:
    settings = get_settings()
    return settings.env == "dev"


def _allow_provider_form_action(response: Response) -> Response:
    settings = get_settings()
    if settings.oidc_issuer:
        # The sign-out form's answer redirects to the provider's end-session endpoint; browsers apply
        # form-action to that redirect, so the provider's origin is allowed as a target of this page's forms.
        issuer = urlsplit(settings.oidc_issuer)
        csp = response.headers["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = csp.replace(
            "form-action 'self'", f"form-action 'self' {issuer.scheme}://{issuer.netloc}"
        )
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DbSession, viewer: OptionalViewer, next: str | None = None) -> Response:
    settings = get_settings()
    if viewer is not None:
        if next and safe_next(next) != "/":
            return RedirectResponse(safe_next(next), status_code=303)
        groups = my_tasks(session, viewer)
        mine = {"groups": groups, "active": "tasks", "nav": {"tasks": sum(len(g.tasks) for g in groups)}}
        return _allow_provider_form_action(page(request, session, viewer, "tasks.html", mine))
    dev_users: list[dict[str, str]] = []
    if dev_sign_in_enabled():
        roles = {username: role for username, _, role in CAST if role != "hub"}
        users = session.scalars(select(User).where(User.username.in_(roles)).order_by(User.username))
        order = list(roles)
        dev_users = sorted(
            (
                {
                    "username": u.username,
                    "display_name": u.display_name or u.username,
                    "role": roles[u.username],
                }
                for u in users
                if u.status == "active"
            ),
            key=lambda d: order.index(d["username"]),
        )
    context: dict[str, Any] = {
        "oidc": bool(settings.oidc_issuer and settings.oidc_web_client_secret),
        "saml": bool(settings.saml_idp_metadata_url or settings.saml_idp_metadata_file),
        "dev_users": dev_users,
        "next": safe_next(next),
    }
    return render(request, "start.html", context)


@router.post("/dev/sign-in")
def dev_sign_in(
    request: Request,
    session: DbSession,
    username: str = Form(..., max_length=64),
    next: str | None = Form(None, max_length=2000),
) -> Response:
    """GOVERNANCE_ENV=dev only: the session cookie a real login sets, for a demo user (404 otherwise)."""
    if not dev_sign_in_enabled():
        raise NotFound("dev sign-in is not enabled on this service")
    user = session.scalar(select(User).where(User.username == username))
    if user is None or user.kind != "person" or user.status != "active":
        raise NotFound(f"there is no demo user {username!r} who can sign in")
    issued = start_session(session, user, via="dev", strength=AuthStrength())
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, issued)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/assets/site.css")
def stylesheet() -> Response:
    """The stylesheet's former address (the pages link /static/site.css)."""
    css = (STATIC_DIR / "site.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})
