"""Engines, sessions and the unit of work: one request or task = one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from governance.config import get_settings


def normalise_url(url: str) -> str:
    """Accept plain URLs (postgresql://, postgres://, sqlite:///) and pick our own driver."""
    parsed = make_url(
        url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url
    )
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    _seen_urls.add(url)
    normalised = normalise_url(url)
    if normalised.startswith("sqlite"):
        path = make_url(normalised).database
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(normalised, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(normalised, pool_size=20, max_overflow=20, pool_pre_ping=True)


def get_engine() -> Engine:
    return engine_for(get_settings().database_url)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=engine_for(url), expire_on_commit=False, autoflush=True)


def new_session() -> Session:
    return _factory(get_settings().database_url)()


@contextmanager
def transaction() -> Iterator[Session]:
    """A unit of work for CLI commands and tasks: commit on success, roll back on any error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def request_session() -> Iterator[Session]:
    """FastAPI dependency: the request's one transaction.

    Declared with ``scope="function"`` (see auth/dependencies.py) so that this runs after the endpoint
    returns and before the response is sent: success commits (then queued jobs are sent), any error
    rolls back, and a failed commit becomes an error response rather than a lost change. Endpoints
    never commit by hand.
    """
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Close every pooled connection (tests switch databases; a reconfigured process starts afresh)."""
    for url in list(_cached_urls()):
        engine_for(url).dispose()
    engine_for.cache_clear()
    _factory.cache_clear()


def _cached_urls() -> list[str]:
    return list(_seen_urls)


_seen_urls: set[str] = set()
