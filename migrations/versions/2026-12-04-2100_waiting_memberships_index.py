"""waiting rows indexes: My tasks finds waiting memberships and accreditations, and grants ending soon,
without a table scan (a few rows among a million)

Revision ID: 7d3f1a2b5c60
Revises: 4b7e2a9c1d30
Create Date: 2026-12-04 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7d3f1a2b5c60"
down_revision = "4b7e2a9c1d30"
branch_labels = None
depends_on = None

WAITING = "status in ('requested', 'invited') and removed_at is null"
UNVERIFIED = "verified_at is null and revoked_at is null"
LIVE = "revoked_at is null"


def upgrade() -> None:
    op.create_index(
        "ix_memberships_waiting_created_at",
        "memberships",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text(WAITING),
        sqlite_where=sa.text(WAITING),
    )
    op.create_index(
        "ix_accreditations_waiting_created_at",
        "accreditations",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text(UNVERIFIED),
        sqlite_where=sa.text(UNVERIFIED),
    )
    op.create_index(
        "ix_grants_live_expires_at",
        "grants",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_grants_live_expires_at", table_name="grants")
    op.drop_index("ix_accreditations_waiting_created_at", table_name="accreditations")
    op.drop_index("ix_memberships_waiting_created_at", table_name="memberships")
