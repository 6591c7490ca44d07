"""Role bindings: granted by holders of write:role-bindings, never to themselves (not even through a group).

Not a lifecycle (a binding exists or not), but its separation of duties goes through auth/duties like every
other: the parties are the person given the role, or the members of the group given it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import independence
from governance.auth.principal import Principal
from governance.core.errors import Conflict, DuplicateError, InvalidInput
from governance.enforcement.triggers import access_changed
from governance.identity.repository import find_group, group_member_ids
from governance.identity.schemas import RoleBindingCreate
from governance.identity.states import UserStatus
from governance.identity.users_service import user_named
from governance.models.identity import RoleBinding

SERVICE_ONLY_ROLES = {"hub"}


def create_role_binding(session: Session, principal: Principal, body: RoleBindingCreate) -> RoleBinding:
    user_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    if body.username is not None:
        user = user_named(session, body.username)
        refusal = independence(
            session,
            principal,
            doing="grant this role",
            parties=((user.id, "nobody may grant a role to themselves; ask another administrator"),),
        )
        if refusal is not None:
            raise refusal.error()
        if user.status == UserStatus.deactivated:
            raise Conflict(f"{user.username} is deactivated and cannot be given roles")
        if body.role in SERVICE_ONLY_ROLES and user.kind != "service":
            raise InvalidInput(f"the {body.role} role is for service accounts; {user.username} is a person")
        user_id, subject = user.id, f"user {user.username}"
    else:
        assert body.group is not None
        group = find_group(session, body.group)
        if group is None:
            raise InvalidInput(f"there is no group {body.group!r}")
        if body.role in SERVICE_ONLY_ROLES:
            raise InvalidInput(f"the {body.role} role is bound to service accounts, not groups")
        reason = f"you are a member of group {group.name!r}, so granting it a role would grant it to you"
        refusal = independence(
            session,
            principal,
            doing="grant this role",
            parties=[(member, reason) for member in group_member_ids(session, group.id)],
        )
        if refusal is not None:
            raise refusal.error()
        group_id, subject = group.id, f"group {group.name}"
    duplicate = session.scalar(
        select(RoleBinding.id).where(
            RoleBinding.role == body.role,
            RoleBinding.user_id.is_(None) if user_id is None else RoleBinding.user_id == user_id,
            RoleBinding.group_id.is_(None) if group_id is None else RoleBinding.group_id == group_id,
        )
    )
    if duplicate is not None:
        raise DuplicateError(f"{subject} already has the role {body.role}")
    row = RoleBinding(
        id=uuid.uuid4(),
        role=body.role,
        user_id=user_id,
        group_id=group_id,
        source="local",
        created_by_id=principal.user_id,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "role-binding.create",
        "role_binding",
        row.id,
        summary={"role": row.role, "to": subject},
    )
    return row


def delete_role_binding(session: Session, principal: Principal, row: RoleBinding) -> RoleBinding:
    if row.role == "admin":
        admins = session.scalar(
            select(func.count())
            .select_from(RoleBinding)
            .where(RoleBinding.role == "admin", RoleBinding.user_id.is_not(None))
        )
        if (admins or 0) <= 1:
            raise Conflict("this is the last admin role binding; grant admin to someone else first")
    summary = {"role": row.role, "user_id": row.user_id, "group_id": row.group_id, "source": row.source}
    session.delete(row)
    session.flush()
    record(session, principal, "role-binding.delete", "role_binding", row.id, summary=summary)
    if row.user_id is not None:
        access_changed(session, "role-binding.delete", user_id=row.user_id)
    else:
        access_changed(session, "role-binding.delete")
    return row
