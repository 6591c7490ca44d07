"""FastAPI dependencies: who is calling, and may they do this (deny by default)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.auth.oidc import verifier_for
from governance.auth.principal import AuthStrength, Principal, principal_for_user
from governance.auth.scopes import Scope
from governance.auth.tokens import TOKEN_PREFIX, authenticate_token
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.db import request_session, transaction
from governance.core.errors import Forbidden, NotAuthenticated
from governance.identity.provisioning import user_from_claims
from governance.identity.web_sessions import principal_from_cookie
from governance.models.identity import ApiToken, User

DbSession = Annotated[Session, Depends(request_session, scope="function")]

LAST_USED_RESOLUTION = timedelta(seconds=60)
MFA_METHODS = {"otp", "totp", "hwk", "mfa", "swk", "sms"}


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated("send an 'Authorization: Bearer <token>' header")
    if len(value) > 8192:
        raise NotAuthenticated("the bearer token is too long")
    return value.strip()


def _strength(claims: dict[str, Any]) -> AuthStrength:
    amr_raw = claims.get("amr") or []
    amr = tuple(str(a) for a in amr_raw) if isinstance(amr_raw, list) else ()
    acr = claims.get("acr")
    acr_s = str(acr) if acr is not None else None
    mfa = bool(set(a.lower() for a in amr) & MFA_METHODS) or acr_s in {"2", "mfa", "gold", "aal2", "aal3"}
    return AuthStrength(mfa=mfa, acr=acr_s, amr=amr)


def authenticate(request: Request, session: Session) -> Principal:
    settings = get_settings()
    if "authorization" not in request.headers:
        # The third way, after API tokens and bearer JWTs: the session cookie of the service's pages
        # (state-changing requests must also pass the CSRF check; see identity/web_sessions.py).
        cookie = request.cookies.get(settings.session_cookie_name)
        if cookie:
            principal = principal_from_cookie(request, session, cookie)
            request.state.principal = principal
            return principal
    secret = _bearer(request)
    if secret.startswith(TOKEN_PREFIX):
        token, user = authenticate_token(session, secret)
        if user.status != "active":
            raise Forbidden(f"the account {user.username!r} is {user.status}")
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            _touch_token(token.id, now)
        principal = principal_for_user(
            session,
            user,
            "api-token",
            token_scopes=token.scopes,
            project_id=token.project_id,
            token_id=token.id,
        )
    else:
        if not settings.oidc_issuer:
            raise NotAuthenticated("this service accepts API tokens only (no OIDC issuer is configured)")
        verifier = verifier_for(
            settings.oidc_issuer,
            settings.oidc_audience,
            settings.oidc_algorithms,
            settings.oidc_jwks_cache_seconds,
        )
        claims = verifier.verify(secret)
        user = _provisioned_user(session, verifier.issuer, claims)
        principal = principal_for_user(session, user, "oidc", strength=_strength(claims))
    request.state.principal = principal
    return principal


def _touch_token(token_id: uuid.UUID, now: datetime) -> None:
    """Record a token's use in a unit of work of its own: authentication never commits the request's."""
    with transaction() as own:
        own.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def _provisioned_user(session: Session, issuer: str, claims: dict[str, Any]) -> User:
    """First-login provisioning and claim updates stand even if the request fails: their own transaction."""
    with transaction() as own:
        user_id = user_from_claims(own, issuer, claims, provision=get_settings().oidc_provision_users).id
    user = session.get(User, user_id)
    if user is None:  # removed between the two transactions
        raise NotAuthenticated("your account was removed; log in again")
    return user


def current_principal(request: Request, session: DbSession) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    return authenticate(request, session)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class Authorize:
    """A dependency that passes callers holding every named scope (or, with ``any_of``, one of them).

    Modules name their permissions with it: ``ProjectsApprove = Annotated[Principal,
    Depends(Authorize(Scope.approve_projects))]`` in ``projects/auth.py``. Deny by default.
    """

    def __init__(self, *scopes: Scope, any_of: bool = False) -> None:
        self.required_scopes: tuple[Scope, ...] = scopes if not any_of else ()
        self.required_any_scopes: tuple[Scope, ...] = scopes if any_of else ()
        self.scopes, self.any_of = scopes, any_of

    def __call__(self, principal: CurrentPrincipal) -> Principal:
        if self.any_of:
            if not any(principal.has(s) for s in self.scopes):
                names = ", ".join(self.scopes)
                raise Forbidden(
                    f"this operation needs one of the scopes {names}, which your roles do not grant",
                    required_scopes=[str(s) for s in self.scopes],
                )
            return principal
        missing = [s for s in self.scopes if not principal.has(s)]
        if missing:
            raise Forbidden(
                f"this operation needs the scope {', '.join(missing)}, which your roles do not grant",
                required_scopes=[str(s) for s in self.scopes],
            )
        return principal

    def __repr__(self) -> str:
        return f"Authorize({', '.join(self.scopes)}{', any_of=True' if self.any_of else ''})"
