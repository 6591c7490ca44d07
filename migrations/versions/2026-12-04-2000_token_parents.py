"""token parents: a token minted by a token names its parent (revoked with it); profile status check

Revision ID: 4b7e2a9c1d30
Revises: 9c1d2e3f4a50
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "4b7e2a9c1d30"
down_revision = "9c1d2e3f4a50"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tokens minted before this revision have no recorded parent: they stay roots (nothing to infer from).
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_tokens_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_parent_id_api_tokens"),
            "api_tokens",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("environment_profiles", schema=None) as batch_op:
        batch_op.create_check_constraint(
            batch_op.f("ck_environment_profiles_status"), "status in ('active','retired')"
        )


def downgrade() -> None:
    with op.batch_alter_table("environment_profiles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_environment_profiles_status"), type_="check")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_tokens_parent_id_api_tokens"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_id"))
        batch_op.drop_column("parent_id")
