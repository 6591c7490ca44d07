"""Safe People: organisations, users, groups, role bindings, accreditations, agreements, API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from governance.identity.states import UserStatus
from governance.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin

USER_STATES = tuple(s.value for s in UserStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({','.join(repr(v) for v in values)})"


class Organisation(IdMixin, TimestampsMixin, Base):
    __tablename__ = "organisations"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    __table_args__ = (Index("ix_organisations_created_at_id", "created_at", "id"),)


class User(IdMixin, TimestampsMixin, Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), unique=True)
    issuer: Mapped[str | None] = mapped_column(String(300))
    subject: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(254))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    kind: Mapped[str] = mapped_column(String(16), default="person")
    __table_args__ = (
        UniqueConstraint("issuer", "subject"),
        CheckConstraint(_in("status", USER_STATES), name="status"),
        CheckConstraint("kind in ('person','service')", name="kind"),
        Index("ix_users_created_at_id", "created_at", "id"),
    )


class Group(IdMixin, TimestampsMixin, Base):
    __tablename__ = "groups"
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(32), default="local")
    external_id: Mapped[str | None] = mapped_column(String(300))
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_groups_created_at_id", "created_at", "id"),
    )


class GroupMember(CreatedMixin, Base):
    __tablename__ = "group_members"
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(32), default="local")


class RoleBinding(IdMixin, CreatedMixin, Base):
    __tablename__ = "role_bindings"
    role: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(32), default="local")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (
        CheckConstraint("(user_id is null) <> (group_id is null)", name="one_subject"),
        UniqueConstraint("role", "user_id", "group_id"),
        Index("ix_role_bindings_created_at_id", "created_at", "id"),
    )


WAITING_ACCREDITATIONS = "verified_at is null and revoked_at is null"


class Accreditation(IdMixin, CreatedMixin, Base):
    __tablename__ = "accreditations"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(200))
    awarded_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    evidence_ref: Mapped[str] = mapped_column(String(500), default="")
    verified_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    __table_args__ = (
        # The stewards' queue and My tasks: accreditations waiting for verification, oldest first.
        Index("ix_accreditations_waiting_created_at", "created_at", "id",
              postgresql_where=text(WAITING_ACCREDITATIONS), sqlite_where=text(WAITING_ACCREDITATIONS)),
    )  # fmt: skip


class Agreement(IdMixin, CreatedMixin, Base):
    __tablename__ = "agreements"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    __table_args__ = (UniqueConstraint("user_id", "version"),)


class ApiToken(IdMixin, CreatedMixin, Base):
    __tablename__ = "api_tokens"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str] | None]
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    # The token that minted this one (never wider, never longer-lived); revoking it revokes this one.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
