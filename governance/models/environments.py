"""Safe Settings: environment profiles and which projects may use them."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.environments.states import ProfileStatus
from governance.models.base import Base, IdMixin, TimestampsMixin

PROFILE_STATES = tuple(s.value for s in ProfileStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({','.join(repr(v) for v in values)})"


class EnvironmentProfile(IdMixin, TimestampsMixin, Base):
    __tablename__ = "environment_profiles"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    image: Mapped[str] = mapped_column(String(500))
    cpu: Mapped[float]
    memory_gb: Mapped[float]
    gpu: Mapped[int] = mapped_column(default=0)
    max_tier: Mapped[int]
    egress: Mapped[str] = mapped_column(String(8), default="none")
    allowed_networks: Mapped[list[str]]
    mfa_required: Mapped[bool] = mapped_column(default=False)
    max_session_hours: Mapped[float]
    all_projects: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    __table_args__ = (
        CheckConstraint("egress in ('none','proxy','open')", name="egress"),
        CheckConstraint("max_tier between 0 and 4", name="max_tier"),
        CheckConstraint(_in("status", PROFILE_STATES), name="status"),
        Index("ix_environment_profiles_created_at_id", "created_at", "id"),
    )


class ProfileProject(Base):
    __tablename__ = "profile_projects"
    profile_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environment_profiles.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True, index=True
    )
