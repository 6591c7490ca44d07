"""Real processes for the output workflow: `governance serve` and `governance worker` on PostgreSQL,
with a real Redis broker and a real clamd, as a deployment runs them."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.harness.ports import free_port
from tests.harness.process import ServiceProcess

BIN = Path(sys.executable).parent
GOVERNANCE = BIN / "governance"
CLIENT = BIN / "governance-outputs"


def governance_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    env.update({"GOVERNANCE_DATABASE_URL": db_url, "GOVERNANCE_ENV": "test", "GOVERNANCE_LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


def governance_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(GOVERNANCE), *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"governance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Stack:
    db_url: str
    env: dict[str, str]
    work: Path
    url: str = ""
    server: ServiceProcess | None = None
    workers: list[ServiceProcess] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    started: int = 0

    @staticmethod
    def make_env(db_url: str, broker: str, store: Path, clamd: str, clamd_max: int) -> dict[str, str]:
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        return governance_env(
            db_url,
            GOVERNANCE_BROKER_URL=broker,
            GOVERNANCE_JOBS_INLINE="false",
            GOVERNANCE_OUTPUT_STORE_DIR=str(store),
            GOVERNANCE_KEK_KEYS=f'{{"2026-1": "{key}"}}',
            GOVERNANCE_CLAMD_ADDRESS=clamd,
            GOVERNANCE_CLAMD_MAX_STREAM_BYTES=str(clamd_max),
        )

    def token(self, username: str) -> str:
        if username not in self.tokens:
            out = governance_cli(self.env, "token", "create", "--username", username, "--expires-in", "2h")
            self.tokens[username] = out.strip().splitlines()[-1]
        return self.tokens[username]

    def start_server(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.env["GOVERNANCE_BASE_URL"] = self.url
        self.server = ServiceProcess(
            "governance-serve",
            [str(GOVERNANCE), "serve", "--port", str(port)],
            log_path=self.work / "serve.log",
            env=self.env,
        )
        self.server.start()
        self.server.wait_ready(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout=60,
            what="GET /readyz",
        )

    def start_worker(self, **settings: str) -> ServiceProcess:
        """`governance worker` (with beat) in its own directory; ready when Celery says so."""
        self.started += 1
        index = self.started
        directory = self.work / f"worker-{index}"
        directory.mkdir()
        env = {**self.env, **{f"GOVERNANCE_{k.upper()}": v for k, v in settings.items()}}
        log = directory / "worker.log"
        worker = ServiceProcess(
            f"governance-worker-{index}",
            [str(GOVERNANCE), "worker", "--concurrency", "1", "--beat"],
            log_path=log,
            cwd=directory,
            env=env,
        )
        worker.start()
        worker.wait_ready(
            lambda: " ready." in log.read_text(errors="replace"), timeout=90, what="celery ready"
        )
        self.workers.append(worker)
        return worker

    def kill(self, worker: ServiceProcess) -> None:
        """kill -9 the worker and every process it started (the pool child mid-check, beat)."""
        worker.stop(sig=signal.SIGKILL, grace=10)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.server is not None:
            self.server.stop()

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token(user)}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60, **kwargs)

    def wait_for(self, request_id: str, states: set[str], timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.call("GET", f"/api/v1/output-requests/{request_id}", "olivia").json()
            if body.get("status") in states:
                return body
            assert time.monotonic() < deadline, (
                f"still {body.get('status')} after {timeout} s:\n{self.logs()}"
            )
            time.sleep(0.3)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def logs(self) -> str:
        parts = []
        for process in ([self.server] if self.server else []) + self.workers:
            parts.append(f"--- {process.name}\n{process.log_tail(40)}")
        return "\n".join(parts)


def poll(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
