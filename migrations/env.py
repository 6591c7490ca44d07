"""Alembic environment: the URL comes from the config or GOVERNANCE_DATABASE_URL."""

from __future__ import annotations

from alembic import context

import governance.models  # noqa: F401 - registers every table
from governance.config import get_settings
from governance.core.db import engine_for
from governance.models.base import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
engine = engine_for(url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
