"""/me, the caller's API tokens, and dev login (refused outside GOVERNANCE_ENV=dev)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, status
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth import schemas
from governance.auth.dependencies import DbSession
from governance.auth.permissions import MeRead, TokensOwn
from governance.auth.principal import Principal
from governance.auth.schemas import DevLogin, MeOut, TokenCreate
from governance.auth.scopes import SCOPES, Scope
from governance.auth.tokens import TOKEN_LIFECYCLE, issue_token, revoke_token
from governance.config import get_settings
from governance.core.errors import Forbidden, NotFound
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import WithActions
from governance.core.transitions import actions_for
from governance.models.identity import ApiToken, User

router = APIRouter(prefix="/api/v1", tags=["me"])


class TokenOut(schemas.TokenOut, WithActions):
    """A token with its state, its parent and this caller's moves. (Declared here, over auth/schemas.py's,
    while that file is another change's; the OpenAPI names stay TokenOut and TokenCreated.)"""

    parent_id: uuid.UUID | None = Field(None, description="The token that minted this one; revoked with it")
    status: str = Field("", description="active, expired or revoked")


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; store it now")


def _token_out(session: Session, principal: Principal, row: ApiToken) -> TokenOut:
    out = TokenOut.model_validate(row)
    out.status = TOKEN_LIFECYCLE.state_of(row)
    out.set_actions(actions_for(session, principal, TOKEN_LIFECYCLE, row))
    return out


@router.get("/me", summary="Who you are, your roles and scopes", response_model=MeOut, responses=COMMON)
def me(session: DbSession, principal: MeRead) -> MeOut:
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
def list_tokens(session: DbSession, principal: TokensOwn) -> list[TokenOut]:
    rows = session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == principal.user_id)
        .order_by(ApiToken.created_at.desc())
        .limit(200)
    )
    return [_token_out(session, principal, r) for r in rows]


@router.post(
    "/tokens",
    summary="Create an API token for yourself (shown once)",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE,
)
def create_token(body: TokenCreate, session: DbSession, principal: TokensOwn) -> TokenCreated:
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
        parent_id=parent.id if parent is not None else None,  # revoked with its parent
    )
    return TokenCreated.model_validate(
        {**_token_out(session, principal, issued.record).model_dump(), "token": issued.token}
    )


@router.delete(
    "/tokens/{token_id}",
    summary="Revoke one of your API tokens, and every token it minted (the move revoke)",
    response_model=TokenOut,
    responses=WRITE,
)
def delete_token(token_id: uuid.UUID, session: DbSession, principal: TokensOwn) -> TokenOut:
    owner = None if principal.has(Scope.manage_tokens) else principal.user_id
    row = revoke_token(session, token_id, owner_id=owner, actor=principal)
    return _token_out(session, principal, row)


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
    out = TokenOut.model_validate(issued.record)
    out.status = TOKEN_LIFECYCLE.state_of(issued.record)
    return TokenCreated.model_validate({**out.model_dump(), "token": issued.token})
