from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect

import governance.models  # noqa: F401
from governance.app import SchemaNotAtHead, create_app
from governance.core.db import get_engine
from governance.core.migrations import alembic_config, current_revision, head_revision, schema_problem
from governance.models.base import Base


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    cfg = alembic_config(empty_db_url)
    command.upgrade(cfg, "head")
    engine = get_engine()
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert current_revision(engine) == head_revision()


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    command.upgrade(alembic_config(empty_db_url), "head")
    with get_engine().connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models differ from migrations; generate a migration: {diff}"


def test_service_refuses_to_start_behind_head_and_says_how_to_fix(empty_db_url: str) -> None:
    assert "governance db upgrade" in (schema_problem(get_engine()) or "")
    with pytest.raises(SchemaNotAtHead, match="governance db upgrade"), TestClient(create_app()):
        pass


def test_readyz_reports_schema_state(empty_db_url: str) -> None:
    with TestClient(create_app(check_schema=False)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and "governance db upgrade" in r.json()["detail"]
        command.upgrade(alembic_config(empty_db_url), "head")
        assert client.get("/readyz").json() == {"status": "ok"}
        assert client.get("/healthz").json() == {"status": "ok"}
