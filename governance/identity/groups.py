"""Group rules: unique names, local membership changes, and no granting yourself a group's roles."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import independence
from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.errors import Conflict, DuplicateError, Forbidden, InvalidInput, NotFound
from governance.enforcement.triggers import access_changed
from governance.identity.repository import find_group, group_member
from governance.identity.schemas import GroupCreate, GroupUpdate
from governance.identity.users_service import user_named
from governance.models.identity import Group, GroupMember, RoleBinding, User


def _require_local(group: Group) -> None:
    if group.source != "local":
        raise Conflict(f"group {group.name!r} is kept in step with {group.source}; change it there")


def create_group(session: Session, principal: Principal, body: GroupCreate) -> Group:
    if find_group(session, body.name) is not None:
        raise DuplicateError(f"a group named {body.name!r} already exists")
    group = Group(id=uuid.uuid4(), name=body.name, description=body.description, source="local")
    session.add(group)
    session.flush()
    record(session, principal, "group.create", "group", group.id, summary=body.model_dump())
    return group


def update_group(session: Session, principal: Principal, group: Group, body: GroupUpdate) -> Group:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise InvalidInput("nothing to change: send name or description")
    _require_local(group)
    renamed = "name" in changes and changes["name"] != group.name
    if renamed and session.scalar(select(Group.id).where(Group.name == changes["name"])) is not None:
        raise DuplicateError(f"a group named {changes['name']!r} already exists")
    before = {key: getattr(group, key) for key in changes}
    for key, value in changes.items():
        setattr(group, key, value)
    session.flush()
    record(
        session, principal, "group.update", "group", group.id, summary={"before": before, "after": changes}
    )
    return group


def add_member(
    session: Session, principal: Principal, group: Group, username: str
) -> tuple[GroupMember, User]:
    _require_local(group)
    user = user_named(session, username)
    if group_member(session, group.id, user.id) is not None:
        raise DuplicateError(f"{user.username} is already a member of group {group.name!r}")
    roles = sorted(set(session.scalars(select(RoleBinding.role).where(RoleBinding.group_id == group.id))))
    if roles:
        refusal = independence(
            session,
            principal,
            doing="add members to it",
            parties=(
                (
                    user.id,
                    f"group {group.name!r} carries the roles {', '.join(roles)}; "
                    "nobody may add themselves to it",
                ),
            ),
        )
        if refusal is not None:
            raise refusal.error()
    if roles and not principal.has(Scope.write_role_bindings):
        raise Forbidden(
            f"group {group.name!r} carries roles ({', '.join(roles)}), "
            "so adding members to it needs write:role-bindings"
        )
    row = GroupMember(group_id=group.id, user_id=user.id, source="local")
    session.add(row)
    session.flush()
    record(session, principal, "group.member-add", "group", group.id, summary={"user": user.username})
    return row, user


def remove_member(session: Session, principal: Principal, group: Group, user_id: uuid.UUID) -> GroupMember:
    _require_local(group)
    row = group_member(session, group.id, user_id)
    if row is None:
        raise NotFound("that user is not a member of this group")
    session.delete(row)
    session.flush()
    record(session, principal, "group.member-remove", "group", group.id, summary={"user_id": user_id})
    access_changed(session, "group.member-remove", user_id=user_id)
    return row
