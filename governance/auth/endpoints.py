"""/me, the caller's API tokens, and dev login (refused outside GOVERNANCE_ENV=dev)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Depends, status
from sqlalchemy import select

from governance.auth.dependencies import DbSession, require
from governance.auth.principal import Principal
from governance.auth.schemas import DevLogin, MeOut, TokenCreate, TokenCreated, TokenOut
from governance.auth.scopes import SCOPES
from governance.auth.tokens import issue_token, revoke_token
from governance.config import get_settings
from governance.core.errors import Forbidden, NotFound
from governance.core.responses import COMMON, READ, WRITE
from governance.models.identity import ApiToken, User

router = APIRouter(prefix="/api/v1", tags=["me"])


@router.get("/me", summary="Who you are, your roles and scopes", response_model=MeOut, responses=COMMON)
def me(session: DbSession, principal: Principal = Depends(require("read:me"))) -> MeOut:
    user = session.get(User, principal.user_id)
    assert user is not None
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        status=user.status,
        roles=sorted(principal.roles),
        scopes=sorted(principal.scopes),
        authenticated_via=principal.via,
        project_id=principal.project_id,
        mfa=principal.strength.mfa,
    )


@router.get("/tokens", summary="List your API tokens", response_model=list[TokenOut], responses=COMMON)
def list_tokens(session: DbSession, principal: Principal = Depends(require("read:me"))) -> list[TokenOut]:
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == principal.user_id)
        .order_by(ApiToken.created_at.desc())
        .limit(200)
    )
    return [TokenOut.model_validate(r) for r in rows]


@router.post(
    "/tokens",
    summary="Create an API token for yourself (shown once)",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_token(
    body: TokenCreate, session: DbSession, principal: Principal = Depends(require("read:me"))
) -> TokenCreated:
    user = session.get(User, principal.user_id)
    assert user is not None
    scopes = body.scopes if body.scopes is not None else sorted(principal.scopes)
    if principal.token_id is not None:
        # A token may mint only a narrower one: its own scopes bound the new token's, or a read:me-only
        # token would turn into one with every scope of the user's roles.
        wider = sorted((set(scopes) & set(SCOPES)) - principal.scopes)
        if wider:
            raise Forbidden(
                f"a token cannot create a token with scopes it does not hold: {', '.join(wider)}",
                required_scopes=wider,
            )
    parent = session.get(ApiToken, principal.token_id) if principal.token_id is not None else None
    issued = issue_token(
        session,
        user,
        name=body.name,
        scopes=scopes,
        lifetime=timedelta(hours=body.expires_in_hours),
        not_after=parent.expires_at if parent is not None else None,  # a token's child never outlives it
        actor=principal,
        project_id=principal.project_id,
        max_lifetime=timedelta(hours=get_settings().api_token_max_hours),
    )
    return TokenCreated.model_validate(
        {**TokenOut.model_validate(issued.record).model_dump(), "token": issued.token}
    )


@router.delete(
    "/tokens/{token_id}", summary="Revoke one of your API tokens", response_model=TokenOut, responses=WRITE
)
def delete_token(
    token_id: uuid.UUID, session: DbSession, principal: Principal = Depends(require("read:me"))
) -> TokenOut:
    owner = None if principal.has("manage:tokens") else principal.user_id
    row = revoke_token(session, token_id, owner_id=owner, actor=principal)
    return TokenOut.model_validate(row)


dev_router = APIRouter(prefix="/api/v1/dev", tags=["dev login"])


@dev_router.post(
    "/login",
    summary="Dev login: mint an 8-hour token for a demo user (GOVERNANCE_ENV=dev only)",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=READ,
    openapi_extra={"security": []},
)
def dev_login(body: DevLogin, session: DbSession) -> TokenCreated:
    settings = get_settings()
    if settings.env != "dev" or not settings.dev_login:
        raise NotFound("dev login is not enabled on this service")
    user = session.scalar(select(User).where(User.username == body.username))
    if user is None:
        raise NotFound(f"there is no user {body.username!r}")
    issued = issue_token(
        session, user, name="dev-login", scopes=None, lifetime=timedelta(hours=8), actor=None
    )
    return TokenCreated.model_validate(
        {**TokenOut.model_validate(issued.record).model_dump(), "token": issued.token}
    )
