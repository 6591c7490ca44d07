"""The audit log: one append-only table, chained and checkpointed by the sealer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from governance.core.clock import utcnow
from governance.models.base import Base, BigIntPK


class AuditEvent(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    summary: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32), default="api")
    chain_index: Mapped[int | None] = mapped_column(unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        # The sealer's work queue: only the few rows not yet chained are in this index.
        Index(
            "ix_audit_events_unsealed",
            "seq",
            postgresql_where=text("chain_index IS NULL"),
            sqlite_where=text("chain_index IS NULL"),
        ),
    )


class AuditCheckpoint(Base):
    """A signed chain head (see governance/audit/checkpoints.py for the signed message)."""

    __tablename__ = "audit_checkpoints"
    chain_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    signature: Mapped[str] = mapped_column(String(100))


class AuditSigningKey(Base):
    """Every public key that ever signed a checkpoint: retired keys stay so old checkpoints verify."""

    __tablename__ = "audit_signing_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[str] = mapped_column(Text)  # base64 of the raw key
    first_used_at: Mapped[datetime] = mapped_column(default=utcnow)
