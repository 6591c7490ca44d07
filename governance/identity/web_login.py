"""Browser login for the service's pages: OIDC authorization code + PKCE (S256), state and nonce.

GET /login?next=…     → the identity provider's login page (governance-web client)
GET /auth/callback    → checks state, exchanges the code, validates the id_token, provisions the user,
                        starts a server-side session and sets its cookie (see web_sessions.py)
POST /logout          → (the start page's button, with its CSRF token) ends the session, clears the
                        cookie, and sends the browser to the provider's end_session_endpoint
                        (RP-initiated logout) with id_token_hint and a post_logout_redirect_uri back
                        here. GET /logout is a 405: a link or an <img> on another site logs nobody out

The state, nonce, PKCE verifier and `next` of a login in progress live in a short-lived signed cookie
(HttpOnly, SameSite=Lax), so any replica can finish a login another one started.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from governance.audit.record import record
from governance.auth.dependencies import DbSession, _strength
from governance.auth.oidc import verifier_for
from governance.config import Settings, get_settings
from governance.core.errors import DomainError, NotAuthenticated, ServiceUnavailable
from governance.core.problems import problem
from governance.identity.next_url import safe_next
from governance.identity.provisioning import user_from_claims
from governance.identity.web_sessions import (
    check_form_csrf,
    clear_session_cookie,
    end_session,
    session_from_cookie,
    set_session_cookie,
    start_session,
)
from governance.web.templating import render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "governance_login"
LOGIN_SALT = "governance.oidc-login"
LOGIN_MAX_AGE = 600
DISCOVERY_TTL = 3600.0


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None


_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_metadata_lock = threading.Lock()


def provider_metadata(issuer: str) -> ProviderMetadata:
    """The provider's discovery document (cached for an hour); its issuer must be the configured one."""
    issuer = issuer.rstrip("/")
    with _metadata_lock:
        cached = _metadata.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
    try:
        doc = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5.0).raise_for_status().json()
        if str(doc.get("issuer", "")).rstrip("/") != issuer:
            raise ServiceUnavailable("the identity provider's discovery document names another issuer")
        meta = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            end_session_endpoint=str(doc["end_session_endpoint"])
            if doc.get("end_session_endpoint")
            else None,
        )
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise ServiceUnavailable(f"the identity provider could not be reached ({type(exc).__name__})")
    with _metadata_lock:
        _metadata[issuer] = (time.monotonic(), meta)
    return meta


def _configured(settings: Settings) -> str:
    if not settings.oidc_issuer or not settings.oidc_web_client_secret:
        raise ServiceUnavailable(
            "browser login is not configured: "
            "set GOVERNANCE_OIDC_ISSUER and GOVERNANCE_OIDC_WEB_CLIENT_SECRET"
        )
    return settings.oidc_issuer.rstrip("/")


def _login_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=LOGIN_SALT)


def pkce_challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _error_page(request: Request, status: int, title: str, message: str, *, retry: bool = True) -> Response:
    response = render(
        request,
        "login_error.html",
        {"title": title, "message": message, "retry": "/login?next=/" if retry else None},
        status_code=status,
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/login")
def login(request: Request, next: str | None = None) -> Response:
    settings = get_settings()
    try:
        issuer = _configured(settings)
        meta = provider_metadata(issuer)
    except ServiceUnavailable as exc:
        return _error_page(request, 503, "Login is not available", exc.detail, retry=False)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    query = {
        "response_type": "code",
        "client_id": settings.oidc_web_client_id,
        "redirect_uri": settings.oidc_web_redirect_url,
        "scope": settings.oidc_web_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    response = RedirectResponse(f"{meta.authorization_endpoint}?{urlencode(query)}", status_code=303)
    pending = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next)}
    response.set_cookie(
        LOGIN_COOKIE,
        _login_serializer(settings).dumps(pending),
        max_age=LOGIN_MAX_AGE,
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _pending_login(request: Request, settings: Settings) -> dict[str, str] | None:
    raw = request.cookies.get(LOGIN_COOKIE)
    if not raw:
        return None
    try:
        data: Any = _login_serializer(settings).loads(raw, max_age=LOGIN_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("state", "nonce", "verifier")
    ):
        return None
    return {k: str(v) for k, v in data.items()}


def _exchange_code(settings: Settings, meta: ProviderMetadata, code: str, verifier: str) -> dict[str, Any]:
    try:
        response = httpx.post(
            meta.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": settings.oidc_web_redirect_url,
                "code_verifier": verifier,
            },
            auth=(settings.oidc_web_client_id, settings.oidc_web_client_secret),
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"the identity provider could not be reached ({type(exc).__name__})")
    if response.status_code != 200:
        log.warning("code exchange refused: %s %s", response.status_code, response.text[:300])
        raise NotAuthenticated("the identity provider did not accept the login code; log in again")
    body: dict[str, Any] = response.json()
    return body


def validate_id_token(settings: Settings, issuer: str, id_token: str, nonce: str) -> dict[str, Any]:
    """Signature, issuer, audience (this web client), expiry as for bearer tokens; then nonce and azp."""
    verifier = verifier_for(
        issuer, settings.oidc_web_client_id, settings.oidc_algorithms, settings.oidc_jwks_cache_seconds
    )
    claims = verifier.verify(id_token)
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise NotAuthenticated("the login response does not belong to this login (nonce mismatch)")
    azp = claims.get("azp")
    if azp is not None and azp != settings.oidc_web_client_id:
        raise NotAuthenticated("the id_token was issued to another client")
    return claims


@router.get("/auth/callback")
def callback(
    request: Request,
    session: DbSession,
    code: str | None = None,
    state: str | None = None,
    iss: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    settings = get_settings()
    pending = _pending_login(request, settings)
    if pending is None:
        return _error_page(
            request,
            400,
            "Login not completed",
            "This login was not started here, took longer than ten minutes, or was finished already. "
            "Please log in again.",
        )
    if not state or not secrets.compare_digest(state, pending["state"]):
        return _error_page(
            request, 400, "Login not completed", "The login response does not match this login."
        )
    if error:
        text = (error_description or error)[:300]
        return _error_page(request, 401, "Login refused", f"The identity provider refused the login: {text}")
    try:
        issuer = _configured(settings)
        if iss is not None and iss.rstrip("/") != issuer:
            raise NotAuthenticated("the login response comes from another identity provider")
        if not code:
            raise NotAuthenticated("the login response carries no authorization code")
        meta = provider_metadata(issuer)
        tokens = _exchange_code(settings, meta, code, pending["verifier"])
        id_token = str(tokens.get("id_token") or "")
        if not id_token:
            raise NotAuthenticated("the identity provider returned no id_token")
        claims = validate_id_token(settings, issuer, id_token, pending["nonce"])
    except DomainError as exc:
        return _error_page(request, exc.status, "Login not completed", exc.detail)
    try:
        user = user_from_claims(session, issuer, claims, provision=settings.oidc_provision_users)
    except DomainError as exc:
        session.rollback()
        record(
            session,
            None,
            "session.refused",
            "user",
            None,
            outcome="denied",
            source="oidc",
            summary={
                "issuer": issuer,
                "subject": str(claims.get("sub")),
                "reason": exc.detail,
                "username": str(claims.get("preferred_username", ""))[:64],
            },
        )
        return _error_page(request, exc.status, "You cannot log in", exc.detail, retry=False)
    issued = start_session(session, user, via="oidc", strength=_strength(claims), id_token=id_token)
    response = RedirectResponse(safe_next(pending.get("next")), status_code=303)
    set_session_cookie(response, issued)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.get("/logout")
def logout_by_link(request: Request) -> Response:
    """A link cannot log anyone out (another site could embed it): logging out is a POST with a CSRF token."""
    response = problem(
        request, 405, "method-not-allowed", "Method not allowed",
        "log out with the Log out button on the start page (/), which sends POST /logout with its CSRF token",
    )  # fmt: skip
    response.headers["Allow"] = "POST"
    return response


@router.post("/logout")
def logout(
    request: Request, session: DbSession, csrf_token: str | None = Form(None, max_length=200)
) -> Response:
    settings = get_settings()
    home = f"{settings.base_url.rstrip('/')}/"
    target = "/"
    cookie = request.cookies.get(settings.session_cookie_name)
    if cookie:
        try:
            row = session_from_cookie(session, cookie)
        except DomainError:
            row = None
        if row is not None:
            check_form_csrf(request, row, csrf_token)  # 403 problem: another site's form, or no token
            end_session(session, row, "logout")
            if row.via == "oidc" and row.id_token and settings.oidc_issuer:
                try:
                    meta = provider_metadata(settings.oidc_issuer)
                except ServiceUnavailable:
                    meta = None
                if meta is not None and meta.end_session_endpoint:
                    query = {
                        "id_token_hint": row.id_token,
                        "post_logout_redirect_uri": home,
                        "client_id": settings.oidc_web_client_id,
                    }
                    target = f"{meta.end_session_endpoint}?{urlencode(query)}"
    response = RedirectResponse(target, status_code=303)
    clear_session_cookie(response)
    response.headers["Cache-Control"] = "no-store"
    return response
