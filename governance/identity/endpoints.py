"""Organisation and user routes (thin: parse, authorise, call the service; the request's session commits).

A user's moves (suspend, reactivate, deactivate) are declared in lifecycle.py and made by PATCH with a status.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.core.transitions import actions_for
from governance.identity import organisations, repository, users_service
from governance.identity.auth import (
    OrganisationsRead,
    OrganisationsWrite,
    UsersCreate,
    UsersEdit,
    UsersRead,
)
from governance.identity.lifecycle import USER_LIFECYCLE
from governance.identity.schemas import (
    OrganisationCreate,
    OrganisationOut,
    OrganisationUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from governance.identity.states import UserStatus
from governance.models.identity import User

organisations_router = APIRouter(prefix="/api/v1/organisations", tags=["organisations"])
users_router = APIRouter(prefix="/api/v1/users", tags=["users"])


def _user_out(session: Session, principal: Principal, user: User) -> UserOut:
    out = UserOut.model_validate(user)
    out.set_actions(actions_for(session, principal, USER_LIFECYCLE, user))
    return out


@organisations_router.get(
    "", summary="List organisations", response_model=Page[OrganisationOut], responses=COMMON
)
def list_organisations(
    session: DbSession,
    _principal: OrganisationsRead,
    q: str | None = Query(None, max_length=100, description="Text in the slug or name"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[OrganisationOut]:
    rows, next_cursor = repository.list_organisations(session, q=q, limit=limit, cursor=cursor)
    return Page(items=[OrganisationOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@organisations_router.post(
    "",
    summary="Add an organisation",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationOut,
    responses=WRITE,
)
def create_organisation(
    body: OrganisationCreate,
    session: DbSession,
    principal: OrganisationsWrite,
) -> OrganisationOut:
    org = organisations.create_organisation(session, principal, body)
    return OrganisationOut.model_validate(org)


@organisations_router.get(
    "/{org_ref}", summary="Read an organisation by id or slug", response_model=OrganisationOut, responses=READ
)
def get_organisation(org_ref: str, session: DbSession, _principal: OrganisationsRead) -> OrganisationOut:
    return OrganisationOut.model_validate(repository.get_organisation(session, org_ref))


@organisations_router.patch(
    "/{org_ref}", summary="Rename an organisation", response_model=OrganisationOut, responses=WRITE
)
def update_organisation(
    org_ref: str,
    body: OrganisationUpdate,
    session: DbSession,
    principal: OrganisationsWrite,
) -> OrganisationOut:
    org = repository.get_organisation(session, org_ref)
    organisations.update_organisation(session, principal, org, body)
    return OrganisationOut.model_validate(org)


@users_router.get(
    "",
    summary="List users (everyone for holders of read:users, otherwise only yourself)",
    response_model=Page[UserOut],
    responses=COMMON,
)
def list_users(
    session: DbSession,
    principal: UsersRead,
    status_: UserStatus | None = Query(None, alias="status"),
    q: str | None = Query(None, max_length=100, description="Text in the username, display name or email"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[UserOut]:
    rows, next_cursor = repository.list_users(
        session, principal, status=status_, q=q, limit=limit, cursor=cursor
    )
    return Page(items=[_user_out(session, principal, u) for u in rows], next_cursor=next_cursor)


@users_router.post(
    "",
    summary="Create a user (before their first login)",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=WRITE,
)
def create_user(body: UserCreate, session: DbSession, principal: UsersCreate) -> UserOut:
    user = users_service.create_user(session, principal, body)
    return _user_out(session, principal, user)


@users_router.get(
    "/{user_ref}", summary="Read a user by id or username", response_model=UserOut, responses=READ
)
def get_user(user_ref: str, session: DbSession, principal: UsersRead) -> UserOut:
    return _user_out(session, principal, repository.get_visible_user(session, principal, user_ref))


@users_router.patch(
    "/{user_ref}",
    summary="Change a user (your own email and name; anything, including suspension, with write:users)",
    response_model=UserOut,
    responses=WRITE,
)
def update_user(
    user_ref: str,
    body: UserUpdate,
    session: DbSession,
    principal: UsersEdit,
) -> UserOut:
    user = repository.get_visible_user(session, principal, user_ref, for_update=True)
    users_service.update_user(session, principal, user, body)
    return _user_out(session, principal, user)
