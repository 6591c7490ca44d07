"""Identity queries, always filtered by what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.auth.scopes import Scope
from governance.core.errors import InvalidInput, NotFound
from governance.core.ids import parse_uuid
from governance.core.pagination import keyset_page
from governance.models.identity import (
    Accreditation,
    Agreement,
    Group,
    GroupMember,
    Organisation,
    RoleBinding,
    User,
)


def sees_all_users(principal: Principal) -> bool:
    return principal.sees_all or principal.has(Scope.read_users)


def sees_all_credentials(principal: Principal) -> bool:
    return principal.sees_all or principal.has(Scope.read_accreditations)


def user_ref_clause(ref: str) -> ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return User.id == as_id if as_id else User.username == ref


def visible_users(principal: Principal) -> Select[tuple[User]]:
    stmt = select(User)
    return stmt if sees_all_users(principal) else stmt.where(User.id == principal.user_id)


def get_visible_user(session: Session, principal: Principal, ref: str, *, for_update: bool = False) -> User:
    stmt = visible_users(principal).where(user_ref_clause(ref))
    if for_update:
        stmt = stmt.with_for_update()
    user = session.scalar(stmt)
    if user is None:
        raise NotFound(f"no user {ref!r} that you can see")
    return user


def get_credentials_owner(session: Session, principal: Principal, ref: str) -> User:
    """Whose accreditations or agreements are asked for: yourself, or anyone for credential readers."""
    stmt = select(User).where(user_ref_clause(ref))
    if not sees_all_credentials(principal):
        stmt = stmt.where(User.id == principal.user_id)
    user = session.scalar(stmt)
    if user is None:
        raise NotFound(f"no user {ref!r} whose credentials you can see")
    return user


def list_users(
    session: Session,
    principal: Principal,
    *,
    status: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[User], str | None]:
    stmt = visible_users(principal)
    if status:
        stmt = stmt.where(User.status == status)
    if q:
        stmt = stmt.where(
            or_(
                User.username.icontains(q, autoescape=True),
                User.display_name.icontains(q, autoescape=True),
                User.email.icontains(q, autoescape=True),
            )
        )
    return keyset_page(session, stmt, User.created_at, User.id, limit=limit, cursor=cursor)


def organisation_ref_clause(ref: str) -> ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return Organisation.id == as_id if as_id else Organisation.slug == ref


def get_organisation(session: Session, ref: str) -> Organisation:
    org = session.scalar(select(Organisation).where(organisation_ref_clause(ref)))
    if org is None:
        raise NotFound(f"no organisation {ref!r}")
    return org


def list_organisations(
    session: Session, *, q: str | None, limit: int, cursor: str | None
) -> tuple[Sequence[Organisation], str | None]:
    stmt = select(Organisation)
    if q:
        stmt = stmt.where(
            or_(
                Organisation.slug.icontains(q, autoescape=True),
                Organisation.name.icontains(q, autoescape=True),
            )
        )
    return keyset_page(session, stmt, Organisation.created_at, Organisation.id, limit=limit, cursor=cursor)


def list_accreditations(
    session: Session, user: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[Accreditation], str | None]:
    stmt = select(Accreditation).where(Accreditation.user_id == user.id)
    return keyset_page(session, stmt, Accreditation.created_at, Accreditation.id, limit=limit, cursor=cursor)


def get_accreditation(session: Session, user: User, accreditation_id: uuid.UUID) -> Accreditation:
    row = session.get(Accreditation, accreditation_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such accreditation for this user")
    return row


def list_agreements(
    session: Session, user: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[Agreement], str | None]:
    stmt = select(Agreement).where(Agreement.user_id == user.id)
    return keyset_page(session, stmt, Agreement.created_at, Agreement.id, limit=limit, cursor=cursor)


def get_agreement(session: Session, user: User, agreement_id: uuid.UUID) -> Agreement:
    row = session.get(Agreement, agreement_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such agreement for this user")
    return row


def group_ref_clause(ref: str) -> ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return Group.id == as_id if as_id else Group.name == ref


def find_group(session: Session, ref: str) -> Group | None:
    return session.scalar(select(Group).where(group_ref_clause(ref)))


def get_group(session: Session, ref: str) -> Group:
    group = find_group(session, ref)
    if group is None:
        raise NotFound(f"no group {ref!r}")
    return group


def list_groups(
    session: Session, *, q: str | None, limit: int, cursor: str | None
) -> tuple[Sequence[Group], str | None]:
    stmt = select(Group)
    if q:
        stmt = stmt.where(Group.name.icontains(q, autoescape=True))
    return keyset_page(session, stmt, Group.created_at, Group.id, limit=limit, cursor=cursor)


def list_group_members(
    session: Session, group: Group, *, limit: int, cursor: str | None
) -> tuple[Sequence[GroupMember], str | None]:
    stmt = select(GroupMember).where(GroupMember.group_id == group.id)
    return keyset_page(session, stmt, GroupMember.created_at, GroupMember.user_id, limit=limit, cursor=cursor)


def group_member(session: Session, group_id: uuid.UUID, user_id: uuid.UUID) -> GroupMember | None:
    return session.get(GroupMember, (group_id, user_id))


def group_member_ids(session: Session, group_id: uuid.UUID) -> list[uuid.UUID]:
    """Everyone in a group: whoever gives the group a role gives it to them (separation of duties)."""
    return list(session.scalars(select(GroupMember.user_id).where(GroupMember.group_id == group_id)))


def list_role_bindings(
    session: Session,
    *,
    role: str | None,
    username: str | None,
    group_ref: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[RoleBinding], str | None]:
    stmt = select(RoleBinding)
    if role:
        stmt = stmt.where(RoleBinding.role == role)
    if username is not None:
        user_id = session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            raise InvalidInput(f"there is no user {username!r}")
        stmt = stmt.where(RoleBinding.user_id == user_id)
    if group_ref is not None:
        group = find_group(session, group_ref)
        if group is None:
            raise InvalidInput(f"there is no group {group_ref!r}")
        stmt = stmt.where(RoleBinding.group_id == group.id)
    return keyset_page(session, stmt, RoleBinding.created_at, RoleBinding.id, limit=limit, cursor=cursor)


def get_role_binding(session: Session, binding_id: uuid.UUID) -> RoleBinding:
    row = session.get(RoleBinding, binding_id)
    if row is None:
        raise NotFound("no such role binding")
    return row
