"""audit append-only, checkpoints and signing keys

The append-only rules are triggers written by hand (autogenerate does not see triggers): UPDATE and
DELETE on audit_events are refused by the database itself, except the sealer's one update that sets
chain_index, prev_hash and hash on an event that has none; checkpoints and signing keys are insert-only.
A column added to audit_events later must be added to CONTENT_COLUMNS' triggers in a new migration.

Revision ID: 700dee868110
Revises: 274a41ccb4a0
Create Date: 2026-11-25 17:43:02.820962
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401 - autogenerate renders JSONB(astext_type=Text())

import governance.models.base

revision = "700dee868110"
down_revision = "274a41ccb4a0"
branch_labels = None
depends_on = None

CONTENT_COLUMNS = (
    "seq",
    "id",
    "occurred_at",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "project_id",
    "outcome",
    "summary",
    "request_id",
    "source",
)
SEAL_ONLY = (
    "audit_events is append-only: {op} refused (only the sealer may set chain_index, prev_hash and hash, "
    "once, on an event that has none)"
)
INSERT_ONLY_TABLES = ("audit_checkpoints", "audit_signing_keys")

_old, _new = (", ".join(f"{row}.{c}" for c in CONTENT_COLUMNS) for row in ("OLD", "NEW"))
# The allowed update, checked in the trigger's WHEN clause (evaluated without calling the function, so
# the sealer's update costs little); anything else reaches the function, which refuses it.
SEALING = (
    "OLD.chain_index IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL "
    "AND NEW.chain_index IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL "
    f"AND ({_old}) IS NOT DISTINCT FROM ({_new})"
)
PG_UP = [
    f"""
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '{SEAL_ONLY.format(op="%")}', TG_OP USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$
    """,
    """
    CREATE FUNCTION audit_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is insert-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
    END;
    $$
    """,
    "CREATE TRIGGER audit_events_seal_only BEFORE UPDATE ON audit_events "
    f"FOR EACH ROW WHEN (NOT ({SEALING})) EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
]
for _table in INSERT_ONLY_TABLES:
    PG_UP += [
        f"CREATE TRIGGER {_table}_insert_only BEFORE UPDATE OR DELETE ON {_table} "
        "FOR EACH ROW EXECUTE FUNCTION audit_insert_only()",
        f"CREATE TRIGGER {_table}_no_truncate BEFORE TRUNCATE ON {_table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_insert_only()",
    ]
PG_DOWN = [
    *(
        f"DROP TRIGGER IF EXISTS {t}_{kind} ON {t}"
        for t in INSERT_ONLY_TABLES
        for kind in ("insert_only", "no_truncate")
    ),
    "DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_no_delete ON audit_events",
    "DROP TRIGGER IF EXISTS audit_events_seal_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_insert_only()",
    "DROP FUNCTION IF EXISTS audit_events_append_only()",
]

_unchanged = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in CONTENT_COLUMNS)
SQLITE_UP = [
    f"""
    CREATE TRIGGER audit_events_seal_only BEFORE UPDATE ON audit_events
    WHEN NOT (
      OLD.chain_index IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
      AND NEW.chain_index IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
      AND {_unchanged}
    )
    BEGIN SELECT RAISE(ABORT, '{SEAL_ONLY.format(op="UPDATE")}'); END
    """,
    f"""
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, '{SEAL_ONLY.format(op="DELETE")}'); END
    """,
]
for _table in INSERT_ONLY_TABLES:
    for _op in ("UPDATE", "DELETE"):
        SQLITE_UP.append(
            f"CREATE TRIGGER {_table}_no_{_op.lower()} BEFORE {_op} ON {_table} "
            f"BEGIN SELECT RAISE(ABORT, '{_table} is insert-only: {_op} refused'); END"
        )
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_events_seal_only",
    "DROP TRIGGER IF EXISTS audit_events_no_delete",
    *(f"DROP TRIGGER IF EXISTS {t}_no_{op}" for t in INSERT_ONLY_TABLES for op in ("update", "delete")),
]


def _execute_all(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def _triggers(up: bool) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _execute_all(PG_UP if up else PG_DOWN)
    elif dialect == "sqlite":
        _execute_all(SQLITE_UP if up else SQLITE_DOWN)
    else:
        raise NotImplementedError(f"append-only triggers are not written for {dialect}")


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "audit_checkpoints",
        sa.Column("chain_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", governance.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("chain_index", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_key_id"), ["key_id"], unique=False)

    op.create_table(
        "audit_signing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("first_used_at", governance.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_audit_signing_keys")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_unsealed",
            ["seq"],
            unique=False,
            postgresql_where=sa.text("chain_index IS NULL"),
            sqlite_where=sa.text("chain_index IS NULL"),
        )

    # ### end Alembic commands ###
    _triggers(up=True)


def downgrade() -> None:
    _triggers(up=False)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_audit_events_unsealed",
            postgresql_where=sa.text("chain_index IS NULL"),
            sqlite_where=sa.text("chain_index IS NULL"),
        )

    op.drop_table("audit_signing_keys")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_key_id"))

    op.drop_table("audit_checkpoints")
    # ### end Alembic commands ###
