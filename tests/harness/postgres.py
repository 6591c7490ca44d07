"""A throwaway PostgreSQL cluster on a free loopback port, in a temp dir removed on stop."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

from .ports import free_port
from .process import ServiceProcess, ServiceStartError, run_bounded, track, untrack

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin that has initdb."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise ServiceStartError("PostgreSQL server binaries not found; run scripts/ensure-system-deps.sh")
    return Path(max(found, key=lambda p: int(Path(p).parts[-3]))).parent


class PostgresServer:
    """initdb + postgres in a temp dir, trust auth, listening on 127.0.0.1 only.

    As root, the cluster belongs to (and the server runs as) the `postgres` OS user, since PostgreSQL
    refuses to run as root; otherwise it runs as the current user.
    """

    def __init__(self, database: str = "governance", *, start_timeout: float = 60.0) -> None:
        self.database = _checked_name(database)
        self.start_timeout = start_timeout
        self.port = 0
        self.startup_seconds = 0.0
        self.dir: Path | None = None
        self._process: ServiceProcess | None = None
        self._token: int | None = None
        self._os_user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return self.database_url(self.database)

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> PostgresServer:
        began = time.monotonic()
        bin_dir = postgres_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="harness-postgres-"))
        self._token = track(self.stop)
        try:
            data, sockets = self.dir / "data", self.dir / "sockets"
            sockets.mkdir()
            if self._os_user is not None:
                entry = pwd.getpwnam(self._os_user)
                for path in (self.dir, sockets):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            done = run_bounded(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                timeout=120,
                user=self._os_user,
                cwd=self.dir,
            )
            if done.returncode != 0:
                raise ServiceStartError(f"initdb failed with code {done.returncode}:\n{done.output[-4000:]}")
            self.port = free_port()
            self._process = ServiceProcess(
                "postgres",
                [
                    str(bin_dir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                log_path=self.dir / "postgres.log",
                cwd=self.dir,
                user=self._os_user,
            )
            self._process.start()
            self._process.wait_ready(self._accepts_queries, timeout=self.start_timeout, what="SELECT 1")
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _accepts_queries(self) -> bool:
        with psycopg.connect(self.database_url("postgres"), connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def create_database(self, name: str) -> str:
        """Create a database (owned by the `postgres` role) and return its URL."""
        with psycopg.connect(self.database_url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_checked_name(name))))
        return self.database_url(name)

    def stop(self) -> None:
        """Immediate shutdown (SIGQUIT to the postmaster, as `pg_ctl stop -m immediate`), then rm -r."""
        untrack(self._token)
        self._token = None
        if self._process is not None:
            self._process.stop(sig=signal.SIGQUIT)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _checked_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"not a plain lower-case database name: {name!r}")
    return name
