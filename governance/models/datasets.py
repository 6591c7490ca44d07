"""Safe Data: the catalogue, access requests and grants."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from governance.datasets.states import AccessRequestStatus, DatasetStatus
from governance.models.base import Base, CreatedMixin, IdMixin, TimestampsMixin

DATASET_STATES = tuple(s.value for s in DatasetStatus)
ACCESS_REQUEST_STATES = tuple(s.value for s in AccessRequestStatus)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({','.join(repr(v) for v in values)})"


class Dataset(IdMixin, TimestampsMixin, Base):
    __tablename__ = "datasets"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    custodian_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True)
    tier: Mapped[int]
    storage_uri: Mapped[str] = mapped_column(String(1000))
    use_conditions: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    __table_args__ = (
        CheckConstraint("tier between 0 and 4", name="tier"),
        CheckConstraint(_in("status", DATASET_STATES), name="status"),
        Index("ix_datasets_created_at_id", "created_at", "id"),
    )


class AccessRequest(IdMixin, TimestampsMixin, Base):
    __tablename__ = "access_requests"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    justification: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(Text, default="")
    requested_expires_at: Mapped[datetime | None]
    __table_args__ = (
        CheckConstraint(_in("status", ACCESS_REQUEST_STATES), name="status"),
        Index("ix_access_requests_created_at_id", "created_at", "id"),
    )


class Grant(IdMixin, CreatedMixin, Base):
    __tablename__ = "grants"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    access_request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("access_requests.id"))
    conditions: Mapped[str] = mapped_column(Text, default="")
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (
        Index("ix_grants_project_id_dataset_id", "project_id", "dataset_id"),
        Index("ix_grants_created_at_id", "created_at", "id"),
        # My tasks: grants that end soon (unrevoked ones, by expiry).
        Index(
            "ix_grants_live_expires_at",
            "expires_at",
            postgresql_where=text("revoked_at is null"),
            sqlite_where=text("revoked_at is null"),
        ),
    )
