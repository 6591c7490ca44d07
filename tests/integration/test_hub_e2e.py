"""End to end: a real JupyterHub asks a real governance service (on PostgreSQL) before every launch.

One stack for the module: a fresh database (`governance db upgrade`, `governance demo seed`), the
service as a subprocess (`governance serve`, jobs inline, the Hub API address and token configured
for revocation), and a JupyterHub with configurable-http-proxy, the dummy authenticator, the
SimpleLocalProcessSpawner and deploy/jupyterhub/jupyterhub_config.py (see hub_config.py). Researchers
start their own servers through the Hub REST API with their own hub tokens, `user_options` in the body.

The tests tell one story in file order: the grant revoked in the revocation test stays revoked.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from governance.hub import UNAVAILABLE_MESSAGE
from tests.harness.jupyterhub_proc import JupyterHubServer
from tests.harness.ports import free_port
from tests.harness.process import ServiceProcess

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
GOVERNANCE = Path(sys.executable).parent / "governance"
PROJECT = "diabetes-outcomes"
STANDARD = {"project": PROJECT, "profile": "standard", "datasets": ["hospital-episodes"]}
NO_DATA = {**STANDARD, "datasets": []}
REVOCATION_DEADLINE_S = 60.0


# --- the governance service -------------------------------------------------------------------------


def governance_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVERNANCE_")}
    env.update({"GOVERNANCE_DATABASE_URL": db_url, "GOVERNANCE_ENV": "test", "GOVERNANCE_LOG_LEVEL": "INFO"})
    env.update(extra)
    return env


def governance_cli(db_url: str, *args: str, **extra: str) -> str:
    done = subprocess.run(
        [str(GOVERNANCE), *args],
        env=governance_env(db_url, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"governance {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def new_token(db_url: str, username: str) -> str:
    out = governance_cli(
        db_url, "token", "create", "--username", username, "--expires-in", "2h", "--name", "e2e"
    )
    return out.strip().splitlines()[-1]


class GovernanceServer:
    """`governance serve` on a fixed port, so it can be stopped and started again at the same address."""

    def __init__(self, db_url: str, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.env = governance_env(db_url, GOVERNANCE_JOBS_INLINE="true", GOVERNANCE_BASE_URL=self.url)
        self.process: ServiceProcess | None = None
        self.starts = 0

    def start(self) -> float:
        self.starts += 1
        self.process = ServiceProcess(
            "governance",
            [str(GOVERNANCE), "serve", "--port", str(self.port)],
            log_path=self.log_dir / f"governance-{self.starts}.log",
            env=self.env,
        )
        self.process.start()
        return self.process.wait_ready(
            lambda: httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200,
            timeout=60,
            what="GET /readyz",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


# --- the stack --------------------------------------------------------------------------------------


@dataclass
class Stack:
    db_url: str
    hub: JupyterHubServer
    governance: GovernanceServer
    driver_token: str
    sam_token: str
    env_dir: Path
    user_tokens: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    # Hub REST API
    def hub_call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"token {token or self.driver_token}"}
        return httpx.request(method, f"{self.hub.api_url}{path}", headers=headers, timeout=60, **kwargs)

    def servers(self, username: str) -> dict[str, Any]:
        r = self.hub_call("GET", f"/users/{username}")
        assert r.status_code == 200, r.text
        servers: dict[str, Any] = r.json().get("servers") or {}
        return servers

    def spawn(self, username: str, server: str, options: dict[str, Any]) -> httpx.Response:
        """The researcher starts their own server, choosing project, profile and datasets in the body."""
        path = f"/users/{username}/servers/{server}" if server else f"/users/{username}/server"
        self.env_file(username, server).unlink(missing_ok=True)
        return self.hub_call("POST", path, self.user_tokens[username], json=options)

    def spawn_ready(self, username: str, server: str, options: dict[str, Any]) -> dict[str, str]:
        """Start a server, wait until it answers, return the environment it recorded."""
        r = self.spawn(username, server, options)
        assert r.status_code in (201, 202), f"{r.status_code} {r.text}"
        deadline = time.monotonic() + 30
        while not self.servers(username).get(server, {}).get("ready"):
            assert time.monotonic() < deadline, f"{username}/{server} not ready:\n{self.hub.log_tail()}"
            time.sleep(0.1)
        recorded: dict[str, str] = json.loads(self.env_file(username, server).read_text())
        return recorded

    def wait_stopped(self, username: str, server: str, timeout: float) -> float:
        began = time.monotonic()
        while server in self.servers(username):
            assert time.monotonic() - began < timeout, f"{username}/{server} still running after {timeout} s"
            time.sleep(0.1)
        return time.monotonic() - began

    def env_file(self, username: str, server: str) -> Path:
        return self.env_dir / f"{username}--{server or 'default'}.json"

    # governance API and database
    def gov_call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, f"{self.governance.url}{path}", headers=headers, timeout=60, **kwargs)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def stop_events(self, server_label: str) -> list[dict[str, Any]]:
        rows = self.sql(
            "SELECT summary, outcome, source FROM audit_events WHERE action = 'server.stop' "
            "AND summary->>'server' = %s ORDER BY seq",
            server_label,
        )
        return [{**summary, "outcome": outcome, "source": source} for summary, outcome, source in rows]


def _create_database(base: str, name: str) -> str:
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def _drop_database(base: str, name: str) -> None:
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    timings: dict[str, float] = {}
    began = time.monotonic()
    name = f"hub_e2e_{os.getpid()}"
    db_url = _create_database(postgres_server, name)
    work = tmp_path_factory.mktemp("hub-e2e")
    env_dir = work / "servers"
    env_dir.mkdir(mode=0o700)
    governance: GovernanceServer | None = None
    hub: JupyterHubServer | None = None
    try:
        governance_cli(db_url, "db", "upgrade")
        governance_cli(db_url, "demo", "seed")
        hub_token, sam_token = new_token(db_url, "jupyterhub"), new_token(db_url, "sam")
        timings["database, seed and tokens"] = time.monotonic() - began

        service_api_token, driver_token = secrets.token_hex(32), secrets.token_hex(32)
        # The hub must know the service's address and the service the hub's: fix the port first.
        governance = GovernanceServer(db_url, work)
        hub = JupyterHubServer(
            HERE / "hub_config.py",
            env={
                "GOVERNANCE_URL": governance.url,
                "GOVERNANCE_HUB_TOKEN": hub_token,
                "GOVERNANCE_SERVICE_API_TOKEN": service_api_token,
                "GOVERNANCE_DECISION_TIMEOUT": "5",
                "GOVERNANCE_ENV": "test",
                "HUB_AUTHENTICATOR": "dummy",
                "E2E_DRIVER_TOKEN": driver_token,
                "E2E_ENV_DIR": str(env_dir),
                "E2E_STANDIN": str(HERE / "singleuser_standin.py"),
            },
        ).start()
        timings["hub start"] = hub.startup_seconds

        governance.env.update(
            {"GOVERNANCE_HUB_API_URL": hub.api_url, "GOVERNANCE_HUB_API_TOKEN": service_api_token}
        )
        timings["governance start"] = governance.start()

        s = Stack(db_url, hub, governance, driver_token, sam_token, env_dir, timings=timings)
        r = s.hub_call("POST", "/users", json={"usernames": ["alice", "bob", "carol"]})
        assert r.status_code == 201, r.text
        for user in ("alice", "bob", "carol"):
            r = s.hub_call("POST", f"/users/{user}/tokens", json={"note": "e2e", "expires_in": 3600})
            assert r.status_code == 201, r.text
            s.user_tokens[user] = r.json()["token"]
        timings["stack ready"] = time.monotonic() - began
        yield s
    finally:
        if hub is not None:
            hub.stop()
        if governance is not None:
            governance.stop()
        _drop_database(postgres_server, name)
        print("\nhub e2e timings (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))


# --- the scenarios ----------------------------------------------------------------------------------


def test_alice_launch_is_allowed_and_obligations_reach_the_server(stack: Stack) -> None:
    began = time.monotonic()
    env = stack.spawn_ready("alice", "", STANDARD)
    stack.timings["allowed spawn"] = time.monotonic() - began

    assert env["JUPYTERHUB_USER"] == "alice"
    assert env["GOVERNANCE_URL"] == stack.governance.url
    assert env["GOVERNANCE_TOKEN"].startswith("fsg_")
    assert env["GOVERNANCE_PROJECT"] == PROJECT
    assert env["GOVERNANCE_PROFILE"] == "standard"
    assert env["GOVERNANCE_DATASETS"] == "hospital-episodes"
    assert env["GOVERNANCE_EGRESS"] == "none"
    assert env["GOVERNANCE_USER"] == "alice"
    assert env["CPU_LIMIT"] == "2.0" and env["MEM_LIMIT"] == str(8 * 2**30)
    # The decision the hub applied is the one recorded, with the hub's question as its inputs.
    rows = stack.sql(
        "SELECT allowed, username, server_name, inputs, ended_at FROM launch_decisions WHERE id = %s",
        env["GOVERNANCE_DECISION_ID"],
    )
    assert len(rows) == 1
    allowed, username, server_name, inputs, ended_at = rows[0]
    assert (allowed, username, server_name, ended_at) == (True, "alice", "", None)
    assert inputs["project"] == PROJECT and inputs["datasets"] == ["hospital-episodes"]
    assert inputs["client_ip"] == "127.0.0.1"  # alice asked herself, through the proxy
    # The workspace token authenticates (403, not 401) and is limited to submitting outputs.
    r = stack.gov_call("GET", "/api/v1/me", env["GOVERNANCE_TOKEN"])
    assert r.status_code == 403 and "read:me" in r.text, r.text


def test_spawn_form_lists_what_alice_may_choose(stack: Stack) -> None:
    with httpx.Client(base_url=stack.hub.url, timeout=30, follow_redirects=True) as browser:
        browser.get("/hub/login")
        r = browser.post(
            "/hub/login", data={"username": "alice", "password": "", "_xsrf": browser.cookies["_xsrf"]}
        )
        assert r.status_code == 200, r.text
        r = browser.get("/hub/spawn/alice/form-check")  # a named server that is not running
    assert r.status_code == 200, r.text
    page = r.text
    assert f'value="{PROJECT}/standard"' in page and f'value="{PROJECT}/gpu-secure"' in page
    assert f'value="{PROJECT}/hospital-episodes"' in page
    assert "gp-prescribing" not in page and "school-attainment" not in page


def _refusal(stack: Stack, username: str, options: dict[str, Any], server: str = "") -> str:
    r = stack.spawn(username, server, options)
    assert r.status_code == 403, f"{r.status_code} {r.text}"
    assert server not in stack.servers(username)
    assert not stack.env_file(username, server).exists()
    message: str = r.json()["message"]
    return message


def test_bob_is_refused_for_safe_people(stack: Stack) -> None:
    message = _refusal(stack, "bob", STANDARD)
    assert "Safe People" in message
    assert "accreditation expired on" in message
    assert "Safe Projects" not in message and "Safe Data" not in message


def test_carol_is_refused_for_safe_projects(stack: Stack) -> None:
    message = _refusal(stack, "carol", STANDARD)
    assert "Safe Projects" in message
    assert f"project {PROJECT} is not available to you" in message
    assert "Safe People" not in message


def test_alice_is_refused_data_without_a_grant(stack: Stack) -> None:
    message = _refusal(stack, "alice", {**STANDARD, "datasets": ["gp-prescribing"]}, server="prescribing")
    assert "Safe Data" in message
    assert "gp-prescribing" in message
    assert "Safe People" not in message and "Safe Projects" not in message


def test_revoking_the_grant_stops_alices_server(stack: Stack) -> None:
    env = stack.spawn_ready("alice", "revocation", STANDARD)
    r = stack.gov_call(
        "GET", "/api/v1/grants", stack.sam_token,
        params={"project": PROJECT, "dataset": "hospital-episodes", "active": "true"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    grants = r.json()["items"]
    assert len(grants) == 1

    began = time.monotonic()
    r = stack.gov_call(
        "POST", f"/api/v1/grants/{grants[0]['id']}/revoke", stack.sam_token,
        json={"reason": "Data sharing agreement suspended by the data owner"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    answered = time.monotonic() - began
    stack.wait_stopped("alice", "revocation", REVOCATION_DEADLINE_S - answered)
    elapsed = time.monotonic() - began
    stack.timings["revocation to server gone"] = elapsed
    print(f"\nrevocation: revoke answered after {answered:.2f} s, server gone after {elapsed:.2f} s")
    assert elapsed < REVOCATION_DEADLINE_S

    events = stack.stop_events("alice/revocation")
    assert len(events) == 1
    event = events[0]
    assert event["trigger"] == "grant.revoke" and event["hub_stopped"] is True
    assert "hospital-episodes" in event["cause"] and "revoked" in event["cause"]
    assert event["source"] == "enforcement"
    rows = stack.sql(
        "SELECT ended_at, end_cause FROM launch_decisions WHERE id = %s", env["GOVERNANCE_DECISION_ID"]
    )
    assert rows[0][0] is not None and "revoked" in rows[0][1]
    # The service's hub token may stop servers, not start them.
    r = stack.hub_call(
        "POST", "/users/carol/server", stack.governance.env["GOVERNANCE_HUB_API_TOKEN"], json=NO_DATA
    )
    assert r.status_code == 403 and "not authorized" in r.json()["message"], r.text
    # The workspace's token died with the server.
    assert stack.gov_call("GET", "/api/v1/me", env["GOVERNANCE_TOKEN"]).status_code == 401


def test_periodic_sweep_stops_a_server_whose_membership_expired(stack: Stack) -> None:
    stack.spawn_ready("alice", "sweep", NO_DATA)
    membership = (
        "UPDATE memberships SET expires_at = {} WHERE project_id = (SELECT id FROM projects WHERE slug = %s) "
        "AND user_id = (SELECT id FROM users WHERE username = 'alice')"
    )
    # Time runs out without any API call: nothing triggers a re-check but the sweep.
    stack.sql(membership.format("now() - interval '1 minute'"), PROJECT)
    try:
        time.sleep(1.0)
        assert "sweep" in stack.servers("alice"), "the server stopped before the sweep ran"
        began = time.monotonic()
        out = governance_cli(
            stack.db_url,
            "enforcement",
            "sweep",
            GOVERNANCE_HUB_API_URL=stack.hub.api_url,
            GOVERNANCE_HUB_API_TOKEN=stack.governance.env["GOVERNANCE_HUB_API_TOKEN"],
        )
        assert "stopped alice/sweep" in out, out
        stack.wait_stopped("alice", "sweep", 30)
        stack.timings["sweep CLI to server gone"] = time.monotonic() - began
    finally:
        stack.sql(membership.format("NULL"), PROJECT)

    events = stack.stop_events("alice/sweep")
    assert len(events) == 1
    assert events[0]["trigger"] == "periodic sweep" and events[0]["hub_stopped"] is True
    assert "membership" in events[0]["cause"] and "expired" in events[0]["cause"]


def test_launch_fails_closed_when_governance_is_unreachable(stack: Stack) -> None:
    stack.governance.stop()
    try:
        began = time.monotonic()
        r = stack.spawn("alice", "unreachable", NO_DATA)
        stack.timings["refusal while unreachable"] = time.monotonic() - began
        assert r.status_code == 503, f"{r.status_code} {r.text}"
        assert r.json()["message"] == UNAVAILABLE_MESSAGE
        assert "unreachable" not in stack.servers("alice")
        assert not stack.env_file("alice", "unreachable").exists()
    finally:
        stack.governance.start()
    # Once the service is back, the same launch goes ahead: the refusal was the outage, nothing else.
    env = stack.spawn_ready("alice", "unreachable", NO_DATA)
    assert env["GOVERNANCE_PROJECT"] == PROJECT


def test_sweep_ends_decisions_whose_server_is_gone(stack: Stack) -> None:
    """A server stopped outside governance (by the user, a culler, a crash) no longer counts as live."""
    stack.spawn_ready("alice", "gone", NO_DATA)
    r = stack.hub_call("DELETE", "/users/alice/servers/gone", stack.user_tokens["alice"])
    assert r.status_code in (202, 204), r.text
    stack.wait_stopped("alice", "gone", 30)
    live = (
        "SELECT count(*) FROM launch_decisions WHERE username = 'alice' AND server_name = %s "
        "AND ended_at IS NULL"
    )
    assert stack.sql(live, "gone")[0][0] == 1
    # past the grace period that protects servers still starting
    stack.sql(
        "UPDATE launch_decisions SET created_at = now() - interval '10 minutes' WHERE server_name = %s",
        "gone",
    )
    governance_cli(
        stack.db_url,
        "enforcement",
        "sweep",
        GOVERNANCE_HUB_API_URL=stack.hub.api_url,
        GOVERNANCE_HUB_API_TOKEN=stack.governance.env["GOVERNANCE_HUB_API_TOKEN"],
    )
    assert stack.sql(live, "gone")[0][0] == 0
    ended = stack.sql(
        "SELECT end_cause FROM launch_decisions WHERE username = 'alice' AND server_name = %s", "gone"
    )
    assert ended and "no longer running" in ended[0][0]
    gone = stack.sql(
        "SELECT count(*) FROM audit_events WHERE action = 'server.gone' AND summary->>'server' = %s",
        "alice/gone",
    )
    assert gone[0][0] == 1
