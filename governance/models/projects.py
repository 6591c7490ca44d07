"""Safe Projects: projects, their approvals and memberships."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin
from governance.projects.states import MembershipStatus, ProjectStatus

PROJECT_STATES = tuple(s.value for s in ProjectStatus)
MEMBERSHIP_STATES = tuple(s.value for s in MembershipStatus if s != MembershipStatus.removed)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class Project(IdMixin, TimestampsMixin, Base):
    __tablename__ = "projects"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    lay_summary: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    public_benefit: Mapped[str] = mapped_column(Text, default="")
    ethics_ref: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    tier: Mapped[int]
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    review_round: Mapped[int] = mapped_column(default=0)
    # Fixed by the tier when the application is submitted; a later tier change cannot lower it.
    approvals_required: Mapped[int] = mapped_column(default=0)
    __table_args__ = (
        CheckConstraint("tier between 0 and 4", name="tier"),
        CheckConstraint(_in("status", PROJECT_STATES), name="status"),
        Index("ix_projects_created_at_id", "created_at", "id"),
    )


class ProjectApproval(IdMixin, CreatedMixin, Base):
    __tablename__ = "project_approvals"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    steward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    review_round: Mapped[int]
    note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("project_id", "steward_id", "review_round"),)


WAITING_MEMBERSHIPS = "status in ('requested', 'invited') and removed_at is null"


class Membership(IdMixin, TimestampsMixin, Base):
    __tablename__ = "memberships"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="researcher")
    status: Mapped[str] = mapped_column(String(16), default="requested")
    expires_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        CheckConstraint("role in ('lead','researcher','viewer')", name="role"),
        CheckConstraint(_in("status", MEMBERSHIP_STATES), name="status"),
        Index("ix_memberships_project_id_created_at_id", "project_id", "created_at", "id"),
        # My tasks: the memberships still waiting on someone, oldest first (a few among a million rows).
        Index(
            "ix_memberships_waiting_created_at",
            "created_at",
            "id",
            postgresql_where=text(WAITING_MEMBERSHIPS),
            sqlite_where=text(WAITING_MEMBERSHIPS),
        ),
    )


class ProjectEditor(CreatedMixin, Base):
    """Someone other than the applicants who changed the application: involved, so never its approver."""

    __tablename__ = "project_editors"
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
