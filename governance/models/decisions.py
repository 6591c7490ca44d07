"""Launch decisions: every answer given to the hub, with its inputs and the policy version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin


class LaunchDecision(IdMixin, CreatedMixin, Base):
    __tablename__ = "launch_decisions"
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("projects.id"), index=True)
    profile_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("environment_profiles.id"))
    dataset_ids: Mapped[list[str]]
    server_name: Mapped[str] = mapped_column(String(255), default="")
    inputs: Mapped[dict[str, Any]]
    allowed: Mapped[bool]
    safes: Mapped[dict[str, Any]]
    obligations: Mapped[dict[str, Any] | None]
    policy_version: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    workspace_token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL")
    )
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    ended_at: Mapped[datetime | None]
    end_cause: Mapped[str | None] = mapped_column(String(500))
    __table_args__ = (
        Index("ix_launch_decisions_live", "allowed", "ended_at"),
        Index("ix_launch_decisions_created_at_id", "created_at", "id"),
    )
