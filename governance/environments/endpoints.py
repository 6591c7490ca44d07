"""Environment profile routes (thin: parse, authorise, call the service; the request's session commits)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.principal import Principal
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT
from governance.core.transitions import actions_for
from governance.environments import repository, service
from governance.environments.auth import ProfilesRead, ProfilesWrite
from governance.environments.lifecycle import PROFILE_LIFECYCLE
from governance.environments.schemas import ProfileCreate, ProfileOut, ProfileUpdate
from governance.environments.states import ProfileStatus
from governance.models.environments import EnvironmentProfile

router = APIRouter(prefix="/api/v1/environment-profiles", tags=["environment profiles"])


def _outs(session: Session, principal: Principal, rows: Sequence[EnvironmentProfile]) -> list[ProfileOut]:
    slugs = repository.visible_project_slugs(session, principal, (p.id for p in rows if not p.all_projects))
    outs = []
    for row in rows:
        out = ProfileOut.model_validate(row)
        out.projects = slugs.get(row.id, [])
        out.set_actions(actions_for(session, principal, PROFILE_LIFECYCLE, row))
        outs.append(out)
    return outs


@router.get("", summary="List environment profiles", response_model=Page[ProfileOut], responses=COMMON)
def list_profiles(
    session: DbSession,
    principal: ProfilesRead,
    status_: ProfileStatus | None = Query(None, alias="status"),
    q: str | None = Query(None, max_length=100, description="Text in the slug or title"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[ProfileOut]:
    rows, next_cursor = repository.list_profiles(session, status=status_, q=q, limit=limit, cursor=cursor)
    return Page(items=_outs(session, principal, rows), next_cursor=next_cursor)


@router.post(
    "",
    summary="Create an environment profile",
    status_code=status.HTTP_201_CREATED,
    response_model=ProfileOut,
    responses=WRITE,
)
def create_profile(body: ProfileCreate, session: DbSession, principal: ProfilesWrite) -> ProfileOut:
    profile = service.create_profile(session, principal, body)
    return _outs(session, principal, [profile])[0]


@router.get(
    "/{profile_ref}",
    summary="Read an environment profile by id or slug",
    response_model=ProfileOut,
    responses=READ,
)
def get_profile(profile_ref: str, session: DbSession, principal: ProfilesRead) -> ProfileOut:
    return _outs(session, principal, [repository.get_profile(session, profile_ref)])[0]


@router.patch(
    "/{profile_ref}",
    summary="Change an environment profile; status retired/active makes the move retire/reactivate "
    "(narrowing or retiring it re-checks running servers)",
    response_model=ProfileOut,
    responses=WRITE,
)
def update_profile(
    profile_ref: str,
    body: ProfileUpdate,
    session: DbSession,
    principal: ProfilesWrite,
) -> ProfileOut:
    profile = repository.get_profile(session, profile_ref, for_update=True)
    service.update_profile(session, principal, profile, body)
    return _outs(session, principal, [profile])[0]
