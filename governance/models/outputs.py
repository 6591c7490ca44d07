"""Safe Outputs: output requests, their files, automated check results, reviews and releases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.models.base import Base, CreatedMixin, IdMixin, JSONType, TimestampsMixin
from governance.outputs.states import OutputRequestStatus, Vote

OUTPUT_REQUEST_STATES = tuple(s.value for s in OutputRequestStatus)
CHECK_STATUSES = ("pass", "fail", "review", "error")
VOTES = tuple(v.value for v in Vote)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} in ({', '.join(repr(v) for v in values)})"


class OutputRequest(IdMixin, TimestampsMixin, Base):
    __tablename__ = "output_requests"
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    tier: Mapped[int]  # the project's tier, refreshed at each submission
    profile_version: Mapped[str | None] = mapped_column(String(64))  # risk profile applied at submission
    reviewers_required: Mapped[int] = mapped_column(default=1)
    round: Mapped[int] = mapped_column(default=0)  # review round: +1 at each submission
    submitted_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    checks_heartbeat_at: Mapped[datetime | None]  # last sign of life of a check run
    hold_reason: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        CheckConstraint(_in("status", OUTPUT_REQUEST_STATES), name="status"),
        Index("ix_output_requests_created_at_id", "created_at", "id"),
        Index("ix_output_requests_project_id_created_at", "project_id", "created_at"),
        Index("ix_output_requests_requester_id_created_at", "requester_id", "created_at"),
    )


class OutputFile(IdMixin, CreatedMixin, Base):
    __tablename__ = "output_files"
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("output_requests.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    context: Mapped[str] = mapped_column(Text, default="")
    controls: Mapped[str] = mapped_column(Text, default="")
    contributions_column: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_id: Mapped[str] = mapped_column(String(64), unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_version: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str | None] = mapped_column(String(32))  # detected from the content by the checks
    source: Mapped[str] = mapped_column(String(8), default="upload")
    acro: Mapped[dict[str, Any] | None]  # ACRO's record of this output, when it came from a session
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    removed_at: Mapped[datetime | None]
    __table_args__ = (CheckConstraint("source in ('upload','acro')", name="source"),)


class OutputCheckResult(IdMixin, CreatedMixin, Base):
    __tablename__ = "output_check_results"
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("output_files.id", ondelete="CASCADE"))
    check_name: Mapped[str] = mapped_column(String(64))
    check_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8))
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    counts: Mapped[dict[str, Any]]
    parameters: Mapped[dict[str, Any]]
    duration_ms: Mapped[int] = mapped_column(default=0)
    # The idempotency key of the check task: one result per file, check and check version.
    __table_args__ = (
        UniqueConstraint("file_id", "check_name", "check_version"),
        CheckConstraint(_in("status", CHECK_STATUSES), name="status"),
    )


class OutputReview(IdMixin, CreatedMixin, Base):
    __tablename__ = "output_reviews"
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("output_requests.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("output_files.id", ondelete="CASCADE"))
    round: Mapped[int]
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    vote: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[str] = mapped_column(String(8), default="public")
    justification: Mapped[str] = mapped_column(Text, default="")
    # One vote per reviewer per file in a review round (a resubmission starts a new round).
    __table_args__ = (
        UniqueConstraint("file_id", "reviewer_id", "round"),
        CheckConstraint(_in("vote", VOTES), name="vote"),
        CheckConstraint("visibility in ('public','private')", name="visibility"),
    )


class OutputRelease(IdMixin, CreatedMixin, Base):
    __tablename__ = "output_releases"
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("output_requests.id", ondelete="CASCADE"), unique=True
    )
    record: Mapped[dict[str, Any]]
    record_sha256: Mapped[str] = mapped_column(String(64))
    released_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime]
    recalled_at: Mapped[datetime | None]
    recalled_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    recall_reason: Mapped[str] = mapped_column(Text, default="")
