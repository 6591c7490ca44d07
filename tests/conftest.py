"""Test fixtures: a migrated, demo-seeded database per test (SQLite or a real PostgreSQL), a client, tokens.

GOVERNANCE_TEST_BACKEND=sqlite (default) or postgres. For postgres the harness starts a throwaway cluster
unless GOVERNANCE_TEST_POSTGRES_URL names a server to use.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.app import create_app
from governance.config import get_settings
from governance.core.db import dispose_engines, engine_for, transaction

os.environ["GOVERNANCE_ENV"] = "test"
BACKEND = os.environ.get("GOVERNANCE_TEST_BACKEND", "sqlite")
_counter = itertools.count()


def _configure(monkeypatch: pytest.MonkeyPatch | None, url: str, **extra: str) -> None:
    values = {
        "GOVERNANCE_DATABASE_URL": url,
        "GOVERNANCE_ENV": "test",
        "GOVERNANCE_JOBS_INLINE": "true",
        **extra,
    }
    for key, value in values.items():
        if monkeypatch is not None:
            monkeypatch.setenv(key, value)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


def _migrate_and_seed(url: str) -> None:
    from alembic import command

    from governance.core.migrations import alembic_config
    from governance.demo.seed import seed_demo

    os.environ["GOVERNANCE_DATABASE_URL"] = url
    get_settings.cache_clear()
    command.upgrade(alembic_config(url), "head")
    with transaction() as session:
        seed_demo(session)
    dispose_engines()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (without database) of a PostgreSQL server for this test session."""
    given = os.environ.get("GOVERNANCE_TEST_POSTGRES_URL")
    if given:
        yield given.rsplit("/", 1)[0]
        return
    from tests.harness.postgres import PostgresServer

    server = PostgresServer(database="governance_tests").start()
    try:
        yield server.url.rsplit("/", 1)[0]
    finally:
        server.stop()


def _pg_admin(base: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(f"{base}/postgres", autocommit=True)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """A migrated, seeded database that each test copies."""
    if BACKEND == "postgres":
        base: str = request.getfixturevalue("postgres_server")
        with _pg_admin(base) as conn:
            conn.execute("DROP DATABASE IF EXISTS governance_template")
            conn.execute("CREATE DATABASE governance_template")
        url = f"{base}/governance_template"
        _migrate_and_seed(url)
        return url
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    _migrate_and_seed(url)
    return url


@pytest.fixture
def db_url(template_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if BACKEND == "postgres":
        base = template_db.rsplit("/", 1)[0]
        name = f"t_{os.getpid()}_{next(_counter)}"
        with _pg_admin(base) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE governance_template')
        url = f"{base}/{name}"
    else:
        target = tmp_path / "test.db"
        shutil.copy(template_db.removeprefix("sqlite:///"), target)
        url = f"sqlite:///{target}"
    _configure(monkeypatch, url)
    try:
        yield url
    finally:
        engine_for(url).dispose()
        dispose_engines()
        get_settings.cache_clear()
        if BACKEND == "postgres":
            with _pg_admin(base) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database with no schema at all, configured as the service's database."""
    if BACKEND == "postgres":
        base: str = request.getfixturevalue("postgres_server")
        name = f"e_{os.getpid()}_{next(_counter)}"
        with _pg_admin(base) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
    else:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    _configure(monkeypatch, url)
    try:
        yield url
    finally:
        dispose_engines()
        get_settings.cache_clear()
        if BACKEND == "postgres":
            with _pg_admin(base) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    """A session for arranging and checking state directly (tests commit what they arrange)."""
    from governance.core.db import new_session

    s = new_session()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app()
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def token_for(db_url: str) -> TokenFor:
    """token_for("alice") -> Authorization headers with an API token for that user."""
    from governance.auth.tokens import issue_token
    from governance.models.identity import User

    cache: dict[tuple[str, tuple[str, ...] | None], dict[str, str]] = {}

    def make(username: str, scopes: list[str] | None = None) -> dict[str, str]:
        key = (username, tuple(scopes) if scopes is not None else None)
        if key not in cache:
            with transaction() as s:
                user = s.scalar(select(User).where(User.username == username))
                assert user is not None, f"no demo user {username}"
                issued = issue_token(
                    s, user, name="test", scopes=scopes, lifetime=timedelta(hours=1), actor=None, audit=False
                )
            cache[key] = {"Authorization": f"Bearer {issued.token}"}
        return cache[key]

    return make


@pytest.fixture
def ids(db_url: str) -> dict[str, uuid.UUID]:
    """Ids of the demo cast, projects, datasets and profiles by name."""
    from governance.models import Dataset, EnvironmentProfile, Organisation, Project, User

    result: dict[str, uuid.UUID] = {}
    with transaction() as s:
        for model, col in (
            (User, User.username),
            (Project, Project.slug),
            (Dataset, Dataset.slug),
            (EnvironmentProfile, EnvironmentProfile.slug),
            (Organisation, Organisation.slug),
        ):
            for name, row_id in s.execute(select(col, model.id)):  # type: ignore[attr-defined]
                result[name] = row_id
    return result
