"""Browser sessions: a signed, HttpOnly, Secure, SameSite=Lax cookie naming a server-side session row.

The cookie carries only a random session secret, signed with GOVERNANCE_SECRET_KEY (itsdangerous) so a
forged or altered cookie is refused before the database is asked. The row (web_sessions) holds the user,
the authentication strength of the login and the expiry; logging out ends the row, so a copied cookie
stops working at logout, not only when it expires.

CSRF: a cookie is sent by the browser on its own, so a state-changing request (anything but GET, HEAD,
OPTIONS) authenticated by the cookie must also carry the header `X-Requested-With` (any value). A page
on another site cannot add a custom header to a cross-site request without a CORS preflight, which this
service never grants. When the browser sends `Origin`, it must be this service's own origin.

Plain HTML forms cannot send that header, so the pages' forms (logout) carry a CSRF token instead: an
HMAC of the session (keyed with GOVERNANCE_SECRET_KEY), which another site can neither read nor compute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import AuthStrength, Principal, principal_for_user
from governance.config import Settings, get_settings
from governance.core.clock import utcnow
from governance.core.errors import Forbidden, NotAuthenticated
from governance.identity.provisioning import user_actor
from governance.models.identity import User
from governance.models.sessions import WebSession

SESSION_SALT = "governance.web-session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-Requested-With"
CSRF_SALT = "governance.csrf"


@dataclass(frozen=True)
class IssuedSession:
    row: WebSession
    cookie_value: str
    max_age: int


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=SESSION_SALT)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    session: Session, user: User, *, via: str, strength: AuthStrength, id_token: str | None = None
) -> IssuedSession:
    """A new session row for `user` and the signed cookie value that names it (audited)."""
    settings = get_settings()
    secret = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=settings.session_hours)
    row = WebSession(
        id=uuid.uuid4(),
        secret_hash=_hash(secret),
        user_id=user.id,
        via=via,
        mfa=strength.mfa,
        acr=strength.acr[:64] if strength.acr else None,
        amr=[a[:32] for a in strength.amr[:16]],
        id_token=id_token,
        expires_at=utcnow() + lifetime,
    )
    session.add(row)
    session.flush()
    record(
        session,
        user_actor(user),
        "session.start",
        "web_session",
        row.id,
        summary={"via": via, "mfa": strength.mfa, "acr": strength.acr, "amr": list(strength.amr)},
        source=via,
    )
    return IssuedSession(row, _serializer(settings).dumps({"s": secret}), int(lifetime.total_seconds()))


def session_from_cookie(session: Session, value: str) -> WebSession:
    settings = get_settings()
    try:
        data: Any = _serializer(settings).loads(value, max_age=int(settings.session_hours * 3600))
    except BadSignature:  # also SignatureExpired
        raise NotAuthenticated("your session cookie is not valid or has expired; log in again")
    secret = data.get("s") if isinstance(data, dict) else None
    if not isinstance(secret, str):
        raise NotAuthenticated("your session cookie is not valid; log in again")
    row = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(secret)))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        raise NotAuthenticated("your session has ended; log in again")
    return row


def end_session(session: Session, row: WebSession, cause: str) -> None:
    if row.ended_at is not None:
        return
    row.ended_at = utcnow()
    user = session.get(User, row.user_id)
    record(
        session,
        user_actor(user) if user is not None else None,
        "session.end",
        "web_session",
        row.id,
        summary={"cause": cause, "via": row.via},
        source=row.via,
    )


def csrf_token_for(row: WebSession) -> str:
    """The CSRF token of a session's forms (a hidden `csrf_token` field): bound to it, unforgeable."""
    key = get_settings().secret_key.encode()
    digest = hmac.new(key, f"{CSRF_SALT}:{row.secret_hash}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_form_csrf(request: Request, row: WebSession, sent_token: str | None) -> None:
    """A form post authenticated by the cookie: its CSRF token (or the API's header), from our own origin."""
    settings = get_settings()
    _check_origin(request, settings)
    if request.headers.get(CSRF_HEADER):
        return
    if not sent_token or not hmac.compare_digest(sent_token.encode(), csrf_token_for(row).encode()):
        raise Forbidden(
            "this form was not sent from this service's own page (its CSRF token is missing or wrong); "
            "open the start page and use its button"
        )


def check_csrf(request: Request, settings: Settings) -> None:
    if request.method.upper() in SAFE_METHODS:
        return
    if not request.headers.get(CSRF_HEADER):
        raise Forbidden(
            f"a state-changing request authenticated by the session cookie must send the {CSRF_HEADER} header"
        )
    _check_origin(request, settings)


def _check_origin(request: Request, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and _origin(origin) != _origin(settings.base_url):
        raise Forbidden("this request comes from another site's page and is refused")
    if origin == "null":
        raise Forbidden("this request comes from an opaque origin and is refused")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def principal_from_cookie(request: Request, session: Session, value: str) -> Principal:
    """The third way to authenticate (after API tokens and bearer JWTs): the pages' session cookie."""
    settings = get_settings()
    check_csrf(request, settings)
    row = session_from_cookie(session, value)
    user = session.get(User, row.user_id)
    if user is None:
        raise NotAuthenticated("your session has ended; log in again")
    if user.status != "active":
        raise Forbidden(f"your account is {user.status}; contact the data steward or TRE support desk")
    strength = AuthStrength(mfa=row.mfa, acr=row.acr, amr=tuple(row.amr))
    principal = principal_for_user(session, user, "session", strength=strength)
    request.state.web_session_id = row.id
    return principal


def set_session_cookie(response: Response, issued: IssuedSession) -> None:
    settings = get_settings()
    response.set_cookie(
        settings.session_cookie_name,
        issued.cookie_value,
        max_age=issued.max_age,
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response) -> None:
    settings = get_settings()
    response.delete_cookie(
        settings.session_cookie_name,
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
