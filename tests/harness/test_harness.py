"""Each harness service starts, answers, and stops leaving nothing behind."""

from __future__ import annotations

import base64
import http.server
import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from .chromium import DevToolsBrowser, dump_dom, screenshot
from .jupyterhub_proc import JupyterHubServer
from .keycloak import ALICE_TOTP_SECRET, DEV_REALM_FILE, KeycloakServer, totp_code
from .ports import free_port, is_listening
from .postgres import PostgresServer
from .process import ServiceProcess, ServiceStartError, descendants
from .redis import RedisServer
from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration

CAST = {"admin", "sam", "stella", "olivia", "oscar", "aud", "alice", "bob", "carol"}


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whichever process reaps orphans here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


def _eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


# Process helper ---------------------------------------------------------------------------------


def test_a_process_that_exits_early_fails_with_its_log_tail(tmp_path: Path) -> None:
    proc = ServiceProcess("doomed", ["sh", "-c", "echo cannot bind; exit 3"], log_path=tmp_path / "log")
    proc.start()
    with pytest.raises(ServiceStartError, match=r"(?s)exited with code 3.*cannot bind"):
        proc.wait_ready(lambda: False, timeout=10, what="never")
    proc.stop()  # idempotent after the failure already stopped it


def test_a_process_that_never_gets_ready_is_killed_with_its_children(tmp_path: Path) -> None:
    proc = ServiceProcess("stuck", ["sh", "-c", "sleep 300 & echo waiting; wait"], log_path=tmp_path / "log")
    proc.start()
    pid = proc.pid
    assert pid is not None
    assert _eventually(lambda: len(descendants(pid)) == 1, timeout=10)
    tree = descendants(pid) | {pid}
    with pytest.raises(ServiceStartError, match=r"(?s)not ready after.*waiting"):
        proc.wait_ready(lambda: False, timeout=1, what="never")
    assert not proc.running()
    assert not any(_alive(p) for p in tree)


# PostgreSQL -------------------------------------------------------------------------------------


def test_postgres_starts_answers_and_stops() -> None:
    server = PostgresServer("harness_check").start()
    try:
        assert server.url == f"postgresql://postgres@127.0.0.1:{server.port}/harness_check"
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        other = server.create_database("second_db")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("second_db",)
        data_dir = server.dir
        assert data_dir is not None and data_dir.is_dir()
    finally:
        server.stop()
    assert not is_listening(server.port)
    assert not data_dir.exists()
    server.stop()


# Redis ------------------------------------------------------------------------------------------


def test_redis_starts_answers_and_stops() -> None:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        client.set("harness", "ok")
        assert client.get("harness") == b"ok"
        client.close()
        port, data_dir = server.port, server.dir
    assert not is_listening(port)
    assert data_dir is not None and not data_dir.exists()


# Keycloak ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keycloak() -> Iterator[KeycloakServer]:
    server = KeycloakServer(DEV_REALM_FILE).start()
    yield server
    port, home = server.port, server.dir
    server.stop()
    assert not is_listening(port)
    assert home is not None and not home.exists()


def test_keycloak_password_grant_gives_alice_a_token_for_the_api(keycloak: KeycloakServer) -> None:
    assert keycloak.base_url == f"http://127.0.0.1:{keycloak.port}"
    tokens = keycloak.password_token("governance-tests", "alice", "demo-alice")
    claims = _claims(tokens["access_token"])
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert "governance-api" in audience
    assert claims["iss"] == keycloak.issuer
    assert claims["preferred_username"] == "alice"
    assert claims["groups"] == ["researchers"]
    assert "researcher" in claims["realm_access"]["roles"]
    assert claims["amr"] == ["pwd"]


def test_keycloak_mfa_client_needs_alices_otp_and_says_so(keycloak: KeycloakServer) -> None:
    with pytest.raises(RuntimeError, match="invalid_grant"):
        keycloak.password_token("governance-tests-mfa", "alice", "demo-alice")
    if time.time() % 30 > 27:  # do not race the end of the 30 s window
        time.sleep(3.5)
    tokens = keycloak.password_token(
        "governance-tests-mfa", "alice", "demo-alice", totp=totp_code(ALICE_TOTP_SECRET)
    )
    assert _claims(tokens["access_token"])["amr"] == ["pwd", "otp"]


def test_keycloak_stewards_and_checkers_get_their_groups(keycloak: KeycloakServer) -> None:
    sam = _claims(keycloak.password_token("governance-tests", "sam", "demo-sam")["access_token"])
    olivia = _claims(keycloak.password_token("governance-tests", "olivia", "demo-olivia")["access_token"])
    assert (sam["groups"], olivia["groups"]) == (["stewards"], ["output-checkers"])
    assert "data_steward" in sam["realm_access"]["roles"]
    assert "output_checker" in olivia["realm_access"]["roles"]


def test_keycloak_sync_client_reads_users_and_groups_but_changes_nothing(keycloak: KeycloakServer) -> None:
    token = keycloak.client_credentials_token("governance-sync", "governance-sync-secret")["access_token"]
    assert set(_claims(token)["resource_access"]["realm-management"]["roles"]) == {
        "view-users",
        "query-users",
        "query-groups",
        "view-realm",
    }
    admin = f"{keycloak.base_url}/admin/realms/{keycloak.realm}"
    headers = {"Authorization": f"Bearer {token}"}
    users = httpx.get(f"{admin}/users", headers=headers, params={"max": 100}, timeout=30)
    assert users.status_code == 200
    assert {u["username"] for u in users.json()} >= CAST
    groups = httpx.get(f"{admin}/groups", headers=headers, timeout=30).json()
    assert {g["path"] for g in groups} == {
        "/admins",
        "/stewards",
        "/output-checkers",
        "/auditors",
        "/researchers",
    }
    created = httpx.post(f"{admin}/users", headers=headers, json={"username": "mallory"}, timeout=30)
    assert created.status_code == 403


def test_keycloak_serves_saml_metadata_and_has_the_sp_client(keycloak: KeycloakServer) -> None:
    descriptor = httpx.get(f"{keycloak.issuer}/protocol/saml/descriptor", timeout=30)
    assert descriptor.status_code == 200
    assert f'entityID="{keycloak.issuer}"' in descriptor.text
    headers = {"Authorization": f"Bearer {keycloak.admin_token()}"}
    clients = httpx.get(
        f"{keycloak.base_url}/admin/realms/{keycloak.realm}/clients",
        headers=headers,
        params={"clientId": "http://127.0.0.1:8000/saml/metadata"},
        timeout=30,
    ).json()
    assert [c["protocol"] for c in clients] == ["saml"]
    assert {m["name"] for m in clients[0]["protocolMappers"]} >= {"groups", "uid", "mail"}


# JupyterHub -------------------------------------------------------------------------------------

SMOKE_HUB_CONFIG = """
import sys

c = get_config()  # noqa: F821
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.tests.mocksu"]
c.Spawner.start_timeout = 30
c.JupyterHub.services = [{"name": "governance", "api_token": "harness-smoke-token-0123456789"}]
c.JupyterHub.load_roles = [
    {"name": "governance", "scopes": ["admin:users", "admin:servers"], "services": ["governance"]}
]
"""


def test_jupyterhub_starts_and_stops_a_users_server(tmp_path: Path) -> None:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(SMOKE_HUB_CONFIG)
    with JupyterHubServer(config, env={"HARNESS_SMOKE": "1"}) as hub:
        api = httpx.Client(
            base_url=hub.api_url,
            headers={"Authorization": "token harness-smoke-token-0123456789"},
            timeout=30,
        )
        assert api.post("/users/alice").status_code == 201
        assert api.post("/users/alice/server").status_code in (201, 202)

        def server_ready() -> bool:
            servers = api.get("/users/alice").json().get("servers", {})
            return bool(servers.get("", {}).get("ready"))

        assert _eventually(server_ready)
        echoed = httpx.get(f"{hub.url}/user/alice/harness-ping", timeout=30)
        assert echoed.text == "/user/alice/harness-ping"

        assert api.delete("/users/alice/server").status_code in (202, 204)
        assert _eventually(lambda: api.get("/users/alice").json().get("servers") == {})
        gone = httpx.get(f"{hub.url}/user/alice/harness-ping", timeout=30)
        assert gone.text != "/user/alice/harness-ping"
        ports, hub_dir = (hub.port, hub.hub_port, hub.proxy_api_port), hub.dir
    assert not any(is_listening(p) for p in ports)
    assert hub_dir is not None and not hub_dir.exists()


# Chromium ---------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>harness page</title></head>
<body><p id="static">served</p>
<script>
  const p = document.createElement("p");
  p.id = "from-script";
  p.textContent = "script ran";
  document.body.appendChild(p);
</script></body></html>
"""


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(PAGE)
    port = free_port()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/index.html"
    server.shutdown()
    server.server_close()


def test_chromium_dumps_the_dom_after_scripts_ran(local_site: str) -> None:
    dom = dump_dom(local_site)
    assert '<p id="static">served</p>' in dom
    assert '<p id="from-script">script ran</p>' in dom


def test_chromium_takes_a_screenshot_of_the_requested_size(local_site: str, tmp_path: Path) -> None:
    png = screenshot(local_site, tmp_path / "shot.png", width=640, height=480)
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (640, 480)


def test_free_ports_are_distinct_and_unused() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    assert not any(is_listening(p) for p in ports)


def test_chromium_over_devtools_runs_script_and_screenshots(local_site: str, tmp_path: Path) -> None:
    with DevToolsBrowser(width=800, height=600) as chrome:
        chrome.navigate(local_site)
        assert chrome.wait_for("document.getElementById('from-script') && document.readyState === 'complete'")
        chrome.evaluate("document.getElementById('static').textContent = 'changed by the test'; true")
        assert chrome.evaluate("document.getElementById('static').textContent") == "changed by the test"
        png = chrome.screenshot(tmp_path / "cdp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (800, 600)


def test_the_tcp_proxy_relays_until_cut(local_site: str) -> None:
    port = int(local_site.split(":")[2].split("/")[0])
    with TcpProxy("127.0.0.1", port) as proxy:
        assert httpx.get(f"{proxy.url}/index.html", timeout=5).status_code == 200
        proxy.cut()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{proxy.url}/index.html", timeout=5)
    assert proxy.connections == 1
