"""Group and role-binding routes (thin: parse, authorise, call the service; the request's session commits)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.core.pagination import Page
from governance.core.responses import COMMON, READ, WRITE
from governance.core.schemas import LIST_LIMIT, Username
from governance.identity import groups, repository, role_bindings
from governance.identity.auth import GroupsRead, GroupsWrite, RoleBindingsRead, RoleBindingsWrite
from governance.identity.schemas import (
    GroupCreate,
    GroupMemberCreate,
    GroupMemberOut,
    GroupName,
    GroupOut,
    GroupUpdate,
    RoleBindingCreate,
    RoleBindingOut,
    RoleName,
)
from governance.models.identity import Group, GroupMember, RoleBinding, User

groups_router = APIRouter(prefix="/api/v1/groups", tags=["groups"])
role_bindings_router = APIRouter(prefix="/api/v1/role-bindings", tags=["role bindings"])


def _usernames(session: Session, user_ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """Usernames for a page of rows in one query (not one per row)."""
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


def _group_names(session: Session, group_ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {i for i in group_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Group.id, Group.name).where(Group.id.in_(ids))).tuples().all())


def _member_out(
    session: Session, row: GroupMember, usernames: dict[uuid.UUID, str] | None = None
) -> GroupMemberOut:
    out = GroupMemberOut.model_validate(row)
    if usernames is None:
        usernames = _usernames(session, {row.user_id})
    out.username = usernames.get(row.user_id, "")
    return out


def _binding_out(
    session: Session,
    row: RoleBinding,
    names: tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]] | None = None,
) -> RoleBindingOut:
    out = RoleBindingOut.model_validate(row)
    usernames, group_names = names or (
        _usernames(session, {row.user_id}),
        _group_names(session, {row.group_id}),
    )
    if row.user_id is not None:
        out.username = usernames.get(row.user_id)
    if row.group_id is not None:
        out.group_name = group_names.get(row.group_id)
    return out


@groups_router.get("", summary="List groups", response_model=Page[GroupOut], responses=COMMON)
def list_groups(
    session: DbSession,
    _principal: GroupsRead,
    q: str | None = Query(None, max_length=100, description="Text in the group name"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[GroupOut]:
    rows, next_cursor = repository.list_groups(session, q=q, limit=limit, cursor=cursor)
    return Page(items=[GroupOut.model_validate(g) for g in rows], next_cursor=next_cursor)


@groups_router.post(
    "",
    summary="Create a group",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupOut,
    responses=WRITE,
)
def create_group(body: GroupCreate, session: DbSession, principal: GroupsWrite) -> GroupOut:
    group = groups.create_group(session, principal, body)
    return GroupOut.model_validate(group)


@groups_router.get(
    "/{group_ref}", summary="Read a group by id or name", response_model=GroupOut, responses=READ
)
def get_group(group_ref: str, session: DbSession, _principal: GroupsRead) -> GroupOut:
    return GroupOut.model_validate(repository.get_group(session, group_ref))


@groups_router.patch(
    "/{group_ref}", summary="Rename or describe a group", response_model=GroupOut, responses=WRITE
)
def update_group(
    group_ref: str,
    body: GroupUpdate,
    session: DbSession,
    principal: GroupsWrite,
) -> GroupOut:
    group = repository.get_group(session, group_ref)
    groups.update_group(session, principal, group, body)
    return GroupOut.model_validate(group)


@groups_router.get(
    "/{group_ref}/members",
    summary="List a group's members",
    response_model=Page[GroupMemberOut],
    responses=READ,
)
def list_group_members(
    group_ref: str,
    session: DbSession,
    _principal: GroupsRead,
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[GroupMemberOut]:
    group = repository.get_group(session, group_ref)
    rows, next_cursor = repository.list_group_members(session, group, limit=limit, cursor=cursor)
    usernames = _usernames(session, {r.user_id for r in rows})
    return Page(items=[_member_out(session, r, usernames) for r in rows], next_cursor=next_cursor)


@groups_router.post(
    "/{group_ref}/members",
    summary="Add a user to a group (never yourself to a group that carries roles)",
    status_code=status.HTTP_201_CREATED,
    response_model=GroupMemberOut,
    responses=WRITE,
)
def add_group_member(
    group_ref: str,
    body: GroupMemberCreate,
    session: DbSession,
    principal: GroupsWrite,
) -> GroupMemberOut:
    group = repository.get_group(session, group_ref)
    row, _user = groups.add_member(session, principal, group, body.username)
    return _member_out(session, row)


@groups_router.delete(
    "/{group_ref}/members/{user_id}",
    summary="Remove a user from a group (their servers are re-checked)",
    response_model=GroupMemberOut,
    responses=WRITE,
)
def remove_group_member(
    group_ref: str,
    user_id: uuid.UUID,
    session: DbSession,
    principal: GroupsWrite,
) -> GroupMemberOut:
    group = repository.get_group(session, group_ref)
    row = groups.remove_member(session, principal, group, user_id)
    out = _member_out(session, row)
    return out


@role_bindings_router.get(
    "", summary="List role bindings", response_model=Page[RoleBindingOut], responses=COMMON
)
def list_role_bindings(
    session: DbSession,
    _principal: RoleBindingsRead,
    role: RoleName | None = Query(None),
    user: Username | None = Query(None, description="Username"),
    group: GroupName | None = Query(None, description="Group name or id"),
    limit: LIST_LIMIT = 50,
    cursor: str | None = Query(None, max_length=200),
) -> Page[RoleBindingOut]:
    rows, next_cursor = repository.list_role_bindings(
        session, role=role, username=user, group_ref=group, limit=limit, cursor=cursor
    )
    names = _usernames(session, {r.user_id for r in rows}), _group_names(session, {r.group_id for r in rows})
    return Page(items=[_binding_out(session, r, names) for r in rows], next_cursor=next_cursor)


@role_bindings_router.post(
    "",
    summary="Grant a platform role to a user or a group (never to yourself)",
    status_code=status.HTTP_201_CREATED,
    response_model=RoleBindingOut,
    responses=WRITE,
)
def create_role_binding(
    body: RoleBindingCreate,
    session: DbSession,
    principal: RoleBindingsWrite,
) -> RoleBindingOut:
    row = role_bindings.create_role_binding(session, principal, body)
    return _binding_out(session, row)


@role_bindings_router.get(
    "/{binding_id}", summary="Read a role binding", response_model=RoleBindingOut, responses=READ
)
def get_role_binding(
    binding_id: uuid.UUID, session: DbSession, _principal: RoleBindingsRead
) -> RoleBindingOut:
    return _binding_out(session, repository.get_role_binding(session, binding_id))


@role_bindings_router.delete(
    "/{binding_id}",
    summary="Remove a role binding (the user's servers are re-checked)",
    response_model=RoleBindingOut,
    responses=WRITE,
)
def delete_role_binding(
    binding_id: uuid.UUID, session: DbSession, principal: RoleBindingsWrite
) -> RoleBindingOut:
    row = repository.get_role_binding(session, binding_id)
    out = _binding_out(session, row)
    role_bindings.delete_role_binding(session, principal, row)
    return out
