"""declared transitions: approvals fixed at submission, project editors, membership invitations

Revision ID: 9c1d2e3f4a50
Revises: 700dee868110
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import governance.models.base

revision = "9c1d2e3f4a50"
down_revision = "700dee868110"
branch_labels = None
depends_on = None

PROJECT_STATES = (
    "('draft','submitted','in_review','approved','returned','rejected','active','suspended','closed')"
)
MEMBERSHIP_STATES = "('invited','requested','approved','rejected','declined')"


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approvals_required", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_check_constraint(op.f("ck_projects_status"), f"status in {PROJECT_STATES}")
    # Applications already under review keep the number their tier needed when they were submitted.
    op.execute(
        "UPDATE projects SET approvals_required = CASE WHEN tier >= 2 THEN 2 ELSE 1 END "
        "WHERE review_round > 0"
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_memberships_status"), type_="check")
        batch_op.create_check_constraint(op.f("ck_memberships_status"), f"status in {MEMBERSHIP_STATES}")
    op.create_table(
        "project_editors",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", governance.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_editors_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_project_editors_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "user_id", name=op.f("pk_project_editors")),
    )
    with op.batch_alter_table("project_editors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_editors_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("project_editors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_editors_created_at"))
    op.drop_table("project_editors")
    op.execute("UPDATE memberships SET status = 'requested' WHERE status = 'invited'")
    op.execute("UPDATE memberships SET status = 'rejected' WHERE status = 'declined'")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_memberships_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_memberships_status"), "status in ('requested','approved','rejected')"
        )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_projects_status"), type_="check")
        batch_op.drop_column("approvals_required")
