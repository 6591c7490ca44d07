"""Who is calling: a user (person or service) with the scopes of their roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from governance.auth.scopes import scopes_for_roles
from governance.models.identity import GroupMember, RoleBinding, User


@dataclass(frozen=True)
class AuthStrength:
    mfa: bool = False
    acr: str | None = None
    amr: tuple[str, ...] = ()


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    roles: frozenset[str]
    scopes: frozenset[str]
    via: str
    project_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    strength: AuthStrength = field(default_factory=AuthStrength)

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def sees_all(self) -> bool:
        return "read:all" in self.scopes


def roles_of(session: Session, user_id: uuid.UUID) -> frozenset[str]:
    groups = select(GroupMember.group_id).where(GroupMember.user_id == user_id)
    rows = session.scalars(
        select(RoleBinding.role).where(or_(RoleBinding.user_id == user_id, RoleBinding.group_id.in_(groups)))
    )
    return frozenset(rows)


def principal_for_user(
    session: Session,
    user: User,
    via: str,
    *,
    token_scopes: list[str] | None = None,
    project_id: uuid.UUID | None = None,
    token_id: uuid.UUID | None = None,
    strength: AuthStrength | None = None,
) -> Principal:
    roles = roles_of(session, user.id)
    scopes = scopes_for_roles(roles)
    if token_scopes is not None:
        scopes = scopes & frozenset(token_scopes)
    return Principal(
        user_id=user.id,
        username=user.username,
        roles=roles,
        scopes=scopes,
        via=via,
        project_id=project_id,
        token_id=token_id,
        strength=strength or AuthStrength(),
    )
