"""End to end on real services: PostgreSQL, Redis, clamd, `governance serve` and `governance worker`.

The workspace side is the `governance-outputs` command run as a separate process with only the
environment a real launch decision's obligations give a workspace (GOVERNANCE_URL, GOVERNANCE_TOKEN,
GOVERNANCE_PROJECT). The last test kills the worker with SIGKILL in the middle of a check run.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.harness.redis import RedisServer
from tests.outputs.conftest import EICAR, Clamd
from tests.outputs_api.stack import CLIENT, Stack, governance_cli, poll

pytestmark = pytest.mark.integration
ASK = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "server_name": "",
    "client_ip": "10.1.2.3",
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}
TABLE = b"year,admissions\n2019,125\n2020,140\n2021,155\n"


@pytest.fixture(scope="module")
def stack(postgres_server: str, clamd: Clamd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"outputs_e2e_{os.getpid()}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = f"{postgres_server}/{name}"
    work = tmp_path_factory.mktemp("outputs-e2e")
    redis = RedisServer().start()
    env = Stack.make_env(db_url, redis.url, work / "store", clamd.unix_address, clamd.stream_max_bytes)
    stack = Stack(db_url, env, work)
    try:
        governance_cli(env, "db", "upgrade")
        governance_cli(env, "demo", "seed")
        stack.start_server()
        yield stack
    finally:
        stack.stop()
        redis.stop()
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def workspace_env(stack: Stack) -> dict[str, str]:
    """What a workspace gets: the obligations of a real launch decision, nothing of the service's."""
    answer = stack.call("POST", "/api/v1/launch-decisions", "jupyterhub", json=ASK)
    assert answer.status_code == 200 and answer.json()["allowed"], answer.text
    given = answer.json()["obligations"]["environment"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    env.update({k: given[k] for k in ("GOVERNANCE_URL", "GOVERNANCE_TOKEN", "GOVERNANCE_PROJECT")})
    return env


def client(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLIENT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def submit_from_workspace(stack: Stack, tmp_path: Path, files: dict[str, bytes], title: str) -> str:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    done = client(
        workspace_env(stack),
        "submit",
        *files,
        "--title",
        title,
        "--context",
        "Admissions per year for the cohort.",
        "--controls",
        "Rounded to 5; no cell below 10.",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    first = done.stdout.strip().splitlines()[-1]
    assert first.startswith("request ") and first.endswith((": submitted", ": checking")), done.stdout
    assert "100%" in done.stderr  # the progress bar reached the end
    return first.split()[1].rstrip(":")


def test_a_workspace_submits_the_worker_checks_reviewers_release(stack: Stack, tmp_path: Path) -> None:
    worker = stack.start_worker()
    request_id = submit_from_workspace(stack, tmp_path, {"admissions.csv": TABLE}, "Admissions table")
    body = stack.wait_for(request_id, {"in_review", "blocked"})
    assert body["status"] == "in_review", body
    [file] = body["files"]
    checks = {c["name"]: c for c in file["checks"]}
    assert checks["malware"]["status"] == "pass" and checks["malware"]["parameters"]["scanner"] == "clamd"
    assert checks["integrity"]["status"] == "pass" and len(checks) == 8
    status = client(workspace_env(stack), "status", request_id, cwd=tmp_path)
    assert status.returncode == 0 and "file admissions.csv: pass" in status.stdout, status.stdout
    assert "check malware: pass" in status.stdout
    for user in ("olivia", "oscar"):
        vote = stack.call(
            "POST",
            f"/api/v1/output-requests/{request_id}/files/{file['id']}/reviews",
            user,
            json={"vote": "approve"},
        )
        assert vote.status_code == 201, vote.text
    release = stack.call("POST", f"/api/v1/output-requests/{request_id}/release", "olivia")
    assert release.status_code == 200 and release.json()["status"] == "released", release.text
    record = stack.call("GET", f"/api/v1/output-requests/{request_id}/release-record", "bob")
    assert record.status_code == 200 and record.json()["files"][0]["name"] == "admissions.csv"
    download = stack.call("GET", f"/api/v1/output-requests/{request_id}/files/{file['id']}/content", "bob")
    assert download.content == TABLE
    worker_log = (Path(worker.log_path)).read_text(errors="replace")
    assert "outputs.run_checks" in worker_log
    stack.workers.remove(worker)
    worker.stop()


def test_eicar_from_a_workspace_blocks_the_request(stack: Stack, tmp_path: Path) -> None:
    worker = stack.start_worker()
    request_id = submit_from_workspace(
        stack, tmp_path, {"summary.txt": b"notes\n" + EICAR + b"\n", "table.csv": TABLE}, "Suspicious"
    )
    body = stack.wait_for(request_id, {"in_review", "blocked"})
    assert body["status"] == "blocked" and "Governance.Test.EICAR" in body["hold_reason"]
    infected = next(f for f in body["files"] if f["name"] == "summary.txt")
    malware = next(c for c in infected["checks"] if c["name"] == "malware")
    assert malware["status"] == "fail" and malware["findings"][0]["location"]["signature"].startswith(
        "Governance.Test.EICAR"
    )
    stack.workers.remove(worker)
    worker.stop()


def result_rows(stack: Stack, request_id: str) -> list[tuple[str, str, str, int]]:
    return [
        (str(r[0]), r[1], r[2], int(r[3]))
        for r in stack.sql(
            "SELECT r.file_id, r.check_name, r.check_version, count(*) FROM output_check_results r "
            "JOIN output_files f ON f.id = r.file_id WHERE f.request_id = %s "
            "GROUP BY r.file_id, r.check_name, r.check_version",
            request_id,
        )
    ]


def test_a_worker_killed_mid_check_leaves_no_duplicate_and_the_work_completes(stack: Stack) -> None:
    slow = {"output_check_delay_seconds": "0.4", "output_stale_seconds": "3", "output_retry_seconds": "1"}
    worker = stack.start_worker(**slow)
    created = stack.call(
        "POST", "/api/v1/output-requests", "alice", json={"project": "diabetes-outcomes", "title": "k"}
    )
    request_id = created.json()["id"]
    for name in ("a.csv", "b.csv"):
        upload = stack.call(
            "POST",
            f"/api/v1/output-requests/{request_id}/files",
            "alice",
            data={"context": "Counts by year.", "controls": "Rounded to 5."},
            files={"file": (name, TABLE, "text/csv")},
        )
        assert upload.status_code == 201, upload.text
    assert stack.call("POST", f"/api/v1/output-requests/{request_id}/submit", "alice").status_code == 200
    poll(lambda: sum(r[3] for r in result_rows(stack, request_id)) >= 3, 60, "the first results")
    stack.kill(worker)
    stack.workers.remove(worker)
    partial = sum(r[3] for r in result_rows(stack, request_id))
    time.sleep(1.5)
    assert sum(r[3] for r in result_rows(stack, request_id)) == partial < 16  # nothing runs any more
    assert stack.sql("SELECT status FROM output_requests WHERE id = %s", request_id) == [("checking",)]

    restarted = stack.start_worker(**slow)
    body = stack.wait_for(request_id, {"in_review", "blocked"}, timeout=120)
    assert body["status"] == "in_review"
    rows = result_rows(stack, request_id)
    assert len(rows) == 16 and all(count == 1 for *_key, count in rows)
    finished = stack.sql(
        "SELECT count(*) FROM audit_events WHERE object_id = %s AND action = 'output_request.finish_checks'",
        request_id,
    )
    assert finished == [(1,)]
    stack.workers.remove(restarted)
    restarted.stop()
