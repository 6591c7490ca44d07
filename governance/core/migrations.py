"""Where the database stands against the migrations shipped with this code."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from governance.config import REPO_ROOT


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(REPO_ROOT) / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_problem(engine: Engine) -> str | None:
    """None when the database is at head, else a sentence saying what to run."""
    try:
        current = current_revision(engine)
    except Exception as exc:
        return f"the database cannot be reached ({type(exc).__name__})"
    head = head_revision()
    if current != head:
        return (
            f"the database schema is at {current or 'nothing (empty database)'} but this code needs {head}: "
            "run `governance db upgrade`"
        )
    return None
