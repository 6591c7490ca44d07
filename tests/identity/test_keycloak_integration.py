"""Against a real Keycloak (one per module, realm deploy/keycloak/realm.json): API tokens and key rotation,
browser login (httpx and headless Chromium), suspended users, MFA in launch decisions, directory sync.

The tests run in file order; Keycloak state they change (users, groups, keys) is either new or restored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.cli import main as cli_main
from governance.config import get_settings
from governance.core.db import transaction
from governance.identity.keycloak_sync import run_sync
from governance.identity.sync_errors import KeycloakUnreachable
from governance.identity.web_login import LOGIN_COOKIE
from governance.models import AuditEvent, Group, GroupMember, RoleBinding, User, WebSession
from tests.conftest import TokenFor
from tests.harness.chromium import DevToolsBrowser
from tests.harness.keycloak import ALICE_TOTP_SECRET, KeycloakServer, totp_code
from tests.harness.tcp_proxy import TcpProxy
from tests.identity.keycloak_support import (
    AppServer,
    KeycloakAdminApi,
    browser,
    cookie_value,
    first_form,
    follow,
    keycloak_login,
    link_demo_cast,
    new_port,
    running_service,
    service_env,
)

pytestmark = pytest.mark.integration

EVIL_NEXT = [
    "//evil.example",
    "https://evil.example",
    "\\\\evil.example",
    "/\\evil.example",
    "///evil.example",
    "/%5Cevil.example",
]


@pytest.fixture(scope="module")
def keycloak() -> Iterator[KeycloakServer]:
    server = KeycloakServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def kc_admin(keycloak: KeycloakServer) -> KeycloakAdminApi:
    return KeycloakAdminApi(keycloak)


@pytest.fixture(scope="module")
def short_lived_token(keycloak: KeycloakServer, kc_admin: KeycloakAdminApi) -> dict[str, Any]:
    """A real access token that lives one second, taken at module start and checked at module end."""
    kc_admin.create_client(
        {
            "clientId": "short-lived",
            "publicClient": True,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False,
            "attributes": {"access.token.lifespan": "1"},
            "protocolMappers": [_audience_mapper()],
        }
    )
    token = keycloak.password_token("short-lived", "bob", "demo-bob")["access_token"]
    return {"token": token, "taken_at": time.time()}


@pytest.fixture
def service(db_url: str, keycloak: KeycloakServer, kc_admin: KeycloakAdminApi) -> Iterator[AppServer]:
    link_demo_cast(kc_admin)  # the seeded cast is linked to the realm's users by issuer + subject
    port = new_port()
    with running_service(service_env(keycloak, port), port) as server:
        yield server


def _audience_mapper() -> dict[str, Any]:
    return {
        "name": "audience governance-api",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-audience-mapper",
        "config": {"included.client.audience": "governance-api", "access.token.claim": "true"},
    }


def _me(service: AppServer, token: str) -> httpx.Response:
    return httpx.get(f"{service.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _login(
    service: AppServer, client: httpx.Client, username: str, password: str, next_url: str = "/"
) -> httpx.Response:
    """Drive the whole browser login; returns the service's answer to /auth/callback (not followed)."""
    start = client.get(f"{service.url}/login", params={"next": next_url})
    assert start.status_code == 303, start.text
    page = client.get(start.headers["location"])
    # With Keycloak's SSO session from an earlier login there is no form the second time.
    answer = page if page.is_redirect else keycloak_login(client, page, username, password)
    assert answer.is_redirect, answer.text[:800]
    callback = answer.headers["location"]
    assert callback.startswith(f"{service.url}/auth/callback"), callback
    return client.get(callback)


# API tokens ---------------------------------------------------------------------------------------


def test_keycloak_access_tokens_are_accepted_for_the_api(
    service: AppServer, keycloak: KeycloakServer, short_lived_token: dict[str, Any]
) -> None:
    assert short_lived_token["token"]  # taken now; the last test checks it has expired
    token = keycloak.password_token("governance-tests", "alice", "demo-alice")["access_token"]
    r = _me(service, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["username"] == "alice" and body["authenticated_via"] == "oidc" and body["mfa"] is False
    with transaction() as s:
        alice = s.scalar(select(User).where(User.username == "alice"))
        assert alice is not None and alice.issuer == keycloak.issuer and alice.subject == _sub(token)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return value


def _sub(token: str) -> str:
    return str(_claims(token)["sub"])


def _header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return value


def test_a_rotated_keycloak_key_is_picked_up_without_a_restart(
    service: AppServer, keycloak: KeycloakServer, kc_admin: KeycloakAdminApi
) -> None:
    old = keycloak.password_token("governance-tests", "carol", "demo-carol")["access_token"]
    assert _me(service, old).status_code == 200
    kc_admin.add_rsa_key("rotated-in-test", priority=1000)
    new = keycloak.password_token("governance-tests", "carol", "demo-carol")["access_token"]
    assert _header(new)["kid"] != _header(old)["kid"] == _header(old)["kid"]
    assert _header(new)["kid"] == kc_admin.active_kid()
    # The verifier refetches the JWKS on an unknown kid, at most once per 10 s: allow that window.
    deadline = time.monotonic() + 20
    while (r := _me(service, new)).status_code != 200 and time.monotonic() < deadline:
        assert r.status_code == 401 and "does not publish" in r.json()["detail"], r.text
        time.sleep(1)
    assert r.status_code == 200, r.text
    assert _me(service, old).status_code == 200, "the old key is still published, so its tokens still count"


def test_tokens_keycloak_issued_for_others_are_refused(
    service: AppServer, keycloak: KeycloakServer, kc_admin: KeycloakAdminApi
) -> None:
    kc_admin.create_client(
        {
            "clientId": "no-audience",
            "publicClient": True,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False,
        }
    )
    r = _me(service, keycloak.password_token("no-audience", "bob", "demo-bob")["access_token"])
    assert r.status_code == 401 and "'aud'" in r.json()["detail"]
    kc_admin.create_client(
        {
            "clientId": "another-service-client",
            "publicClient": True,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False,
            "protocolMappers": [
                {
                    "name": "audience",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {"included.custom.audience": "another-service", "access.token.claim": "true"},
                }
            ],
        }
    )
    other_audience = keycloak.password_token("another-service-client", "bob", "demo-bob")["access_token"]
    assert "another-service" in str(_claims(other_audience)["aud"])
    r = _me(service, other_audience)
    assert r.status_code == 401 and "not issued for this service" in r.json()["detail"]

    kc_admin.call(
        "POST",
        "",
        base=f"{keycloak.base_url}/admin/realms",
        json={
            "realm": "elsewhere",
            "enabled": True,
            "clients": [
                {
                    "clientId": "tests",
                    "publicClient": True,
                    "directAccessGrantsEnabled": True,
                    "standardFlowEnabled": False,
                    "protocolMappers": [_audience_mapper()],
                }
            ],
            "users": [
                {
                    "username": "alice",
                    "enabled": True,
                    "email": "alice@elsewhere.example",
                    "emailVerified": True,
                    "firstName": "Alice",
                    "lastName": "Elsewhere",
                    "credentials": [{"type": "password", "value": "elsewhere", "temporary": False}],
                }
            ],
        },
    )
    second_realm = httpx.post(
        f"{keycloak.base_url}/realms/elsewhere/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": "tests", "username": "alice", "password": "elsewhere"},
        timeout=30,
    ).json()["access_token"]
    r = _me(service, second_realm)
    # Refused on its signing key, which the trusted realm does not publish (its issuer is wrong as well).
    assert r.status_code == 401 and "does not publish" in r.json()["detail"]
    # Same realm and keys (a valid signature) but another issuer: Keycloak names the host it was asked on.
    via_localhost = httpx.post(
        f"http://localhost:{keycloak.port}/realms/{keycloak.realm}/protocol/openid-connect/token",
        data={
            "grant_type": "password",
            "client_id": "governance-tests",
            "username": "bob",
            "password": "demo-bob",
        },
        timeout=30,
    ).json()["access_token"]
    assert _claims(via_localhost)["iss"] != keycloak.issuer
    r = _me(service, via_localhost)
    assert r.status_code == 401 and "does not trust" in r.json()["detail"]

    good = keycloak.password_token("governance-tests", "bob", "demo-bob")["access_token"]
    head, payload, signature = good.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    r = _me(service, f"{head}.{payload}.{flipped}")
    assert r.status_code == 401 and "signature" in r.json()["detail"]

    # Algorithm confusion: HS256 "signed" with the realm's public key as the HMAC secret; and alg none.
    jwk = next(
        k
        for k in httpx.get(f"{keycloak.issuer}/protocol/openid-connect/certs", timeout=30).json()["keys"]
        if k["kid"] == _header(good)["kid"]
    )
    for alg in ("HS256", "none"):
        header = base64.urlsafe_b64encode(json.dumps({"alg": alg, "kid": jwk["kid"]}).encode()).rstrip(b"=")
        signing_input = header + b"." + payload.encode()
        mac = hmac.new(jwk["n"].encode(), signing_input, hashlib.sha256).digest() if alg == "HS256" else b""
        forged = (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
        r = _me(service, forged)
        assert r.status_code == 401 and f"'{alg}' are not accepted" in r.json()["detail"], r.text


# Browser login ------------------------------------------------------------------------------------


def test_browser_login_with_pkce_sets_a_safe_session_cookie_and_logout_ends_it(
    service: AppServer, keycloak: KeycloakServer
) -> None:
    client, cookies = browser()
    start = client.get(f"{service.url}/login", params={"next": "/"})
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(f"{keycloak.issuer}/protocol/openid-connect/auth")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["client_id"] == ["governance-web"] and query["state"] and query["nonce"]
    assert query["redirect_uri"] == [f"{service.url}/auth/callback"]
    login_cookie = start.headers["set-cookie"].lower()
    assert LOGIN_COOKIE in login_cookie and "httponly" in login_cookie and "samesite=lax" in login_cookie

    answer = keycloak_login(client, client.get(start.headers["location"]), "alice", "demo-alice")
    done = client.get(answer.headers["location"])
    assert done.status_code == 303 and done.headers["location"] == "/"
    session_cookie = next(
        h for h in done.headers.get_list("set-cookie") if h.startswith("governance_session=")
    )
    flags = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path"} <= flags and "samesite=lax" in session_cookie.lower()
    raw_cookie = cookie_value(cookies, "governance_session")
    assert raw_cookie is not None and "alice" not in raw_cookie  # only a signed random session secret

    home = client.get(f"{service.url}/")
    assert 'id="username">alice<' in home.text and "OpenID Connect" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]
    me = client.get(f"{service.url}/api/v1/me")
    assert me.status_code == 200 and me.json()["authenticated_via"] == "session"

    # A state-changing call with the cookie needs the CSRF header; with it the call goes through.
    body = {"name": "from-the-page", "expires_in_hours": 1}
    refused = client.post(f"{service.url}/api/v1/tokens", json=body)
    assert refused.status_code == 403 and "X-Requested-With" in refused.json()["detail"]
    cross_site = client.post(
        f"{service.url}/api/v1/tokens",
        json=body,
        headers={"X-Requested-With": "fetch", "Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403 and "another site" in cross_site.json()["detail"]
    accepted = client.post(f"{service.url}/api/v1/tokens", json=body, headers={"X-Requested-With": "fetch"})
    assert accepted.status_code in (200, 201), accepted.text

    # A link logs nobody out; the start page's form (POST with its CSRF token) does.
    assert client.get(f"{service.url}/logout").status_code == 405
    assert client.get(f"{service.url}/api/v1/me").status_code == 200
    action, fields = first_form(home)
    assert action == f"{service.url}/logout" and fields["csrf_token"]
    assert f"form-action 'self' {keycloak.base_url}" in home.headers["content-security-policy"]
    out = client.post(action, data=fields)
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    logout_query = parse_qs(target.query)
    assert out.headers["location"].startswith(f"{keycloak.issuer}/protocol/openid-connect/logout")
    assert logout_query["post_logout_redirect_uri"] == [f"{service.url}/"] and logout_query["id_token_hint"]
    back = follow(client, client.get(out.headers["location"]))
    assert str(back.url) == f"{service.url}/" and 'id="login"' in back.text
    stale = httpx.get(f"{service.url}/api/v1/me", cookies={"governance_session": raw_cookie}, timeout=30)
    assert stale.status_code == 401 and "ended" in stale.json()["detail"]
    # Keycloak's own session ended too: logging in again shows the password form.
    again = client.get(client.get(f"{service.url}/login").headers["location"])
    assert again.status_code == 200 and 'name="password"' in again.text
    with transaction() as s:
        assert (
            s.scalar(select(func.count()).select_from(WebSession).where(WebSession.ended_at.is_not(None)))
            == 1
        )
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "web_session")))
    assert actions == {"session.start", "session.end"}


def test_next_only_ever_redirects_within_the_service(service: AppServer) -> None:
    client, _ = browser()
    for value in EVIL_NEXT:
        done = _login(service, client, "bob", "demo-bob", value)
        assert done.status_code == 303 and done.headers["location"] == "/", value
    done = _login(service, client, "bob", "demo-bob", "/projects?tab=mine")
    assert done.headers["location"] == "/projects?tab=mine"


def test_first_login_creates_the_user_from_keycloak(
    service: AppServer, keycloak: KeycloakServer, kc_admin: KeycloakAdminApi
) -> None:
    kc_id = kc_admin.create_user("dave", "demo-dave")
    client, _ = browser()
    done = _login(service, client, "dave", "demo-dave")
    assert done.status_code == 303
    page = client.get(f"{service.url}/")
    assert 'id="username">dave<' in page.text and "none yet" in page.text
    with transaction() as s:
        dave = s.scalar(select(User).where(User.username == "dave"))
        assert dave is not None and (dave.issuer, dave.subject) == (keycloak.issuer, kc_id)
        assert dave.email == "dave@example.org" and dave.display_name == "Dave Tester"
    kc_admin.delete_user("dave")


def test_a_suspended_user_is_refused_with_a_clear_message(
    service: AppServer, keycloak: KeycloakServer, session: Session
) -> None:
    alice = session.scalar(select(User).where(User.username == "alice"))
    assert alice is not None
    alice.status = "suspended"
    session.commit()
    client, cookies = browser()
    done = _login(service, client, "alice", "demo-alice")
    assert done.status_code == 403
    assert "your account is suspended" in done.text and "contact the data steward" in done.text
    assert cookie_value(cookies, "governance_session") is None
    token = keycloak.password_token("governance-tests", "alice", "demo-alice")["access_token"]
    r = _me(service, token)
    assert r.status_code == 403 and "suspended" in r.json()["detail"]
    with transaction() as s:
        refused = s.scalars(select(AuditEvent).where(AuditEvent.action == "session.refused")).all()
    assert len(refused) == 1 and refused[0].outcome == "denied"


def test_headless_chromium_logs_in_through_keycloak(service: AppServer, tmp_path: Path) -> None:
    with DevToolsBrowser() as chrome:
        chrome.navigate(f"{service.url}/login?next=/")
        chrome.wait_for("document.readyState === 'complete' && !!document.getElementById('kc-form-login')")
        chrome.evaluate(
            "document.getElementById('username').value = 'alice';"
            "document.getElementById('password').value = 'demo-alice';"
            "document.getElementById('kc-form-login').submit(); true"
        )
        chrome.wait_for(f"location.href === '{service.url}/' && !!document.getElementById('username')")
        assert chrome.evaluate("document.getElementById('username').textContent") == "alice"
        assert "Signed in as Alice Researcher" in chrome.evaluate("document.body.innerText")
        cookies = chrome.send("Network.getCookies", {"urls": [service.url]})["cookies"]
        session_cookie = next(c for c in cookies if c["name"] == "governance_session")
        assert session_cookie["httpOnly"] and session_cookie["secure"] and session_cookie["sameSite"] == "Lax"
        assert chrome.evaluate("document.cookie") == "", "HttpOnly: page scripts cannot read the session"
        shot = chrome.screenshot(tmp_path / "logged-in.png")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 800)
    artefacts = Path(__file__).resolve().parents[2] / "var" / "test-artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    (artefacts / "keycloak-login.png").write_bytes(data)


# Authentication strength in launch decisions --------------------------------------------------------


def test_gpu_secure_needs_the_otp_login_and_trusts_the_token_over_the_hub(
    service: AppServer, keycloak: KeycloakServer, token_for: TokenFor
) -> None:
    hub = token_for("jupyterhub")
    question = {
        "username": "alice",
        "project": "diabetes-outcomes",
        "profile": "gpu-secure",
        "datasets": ["hospital-episodes"],
        "client_ip": "10.1.2.3",
    }

    def decide(user_token: str, **extra: Any) -> dict[str, Any]:
        r = httpx.post(
            f"{service.url}/api/v1/launch-decisions",
            headers=hub,
            json={**question, "user_token": user_token, **extra},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    password_only = keycloak.password_token("governance-tests", "alice", "demo-alice")["access_token"]
    assert _claims(password_only)["amr"] == ["pwd"]
    refused = decide(password_only)
    assert refused["allowed"] is False and refused["safes"]["people"]["allowed"] is False
    assert any("multi-factor" in reason for reason in refused["safes"]["people"]["reasons"])
    # The hub claiming MFA does not override what the identity provider says.
    assert decide(password_only, auth={"mfa": True, "amr": ["otp"]})["allowed"] is False

    with_otp = keycloak.password_token(
        "governance-tests-mfa", "alice", "demo-alice", totp=totp_code(ALICE_TOTP_SECRET)
    )["access_token"]
    allowed = decide(with_otp)
    assert allowed["allowed"] is True, allowed["safes"]
    with transaction() as s:
        from governance.models import LaunchDecision

        row = s.get(LaunchDecision, uuid.UUID(allowed["decision_id"]))
        assert row is not None and "user_token" not in row.inputs and row.inputs["auth"]["mfa"] is True
        assert "otp" in row.inputs["auth"]["amr"]

    bobs = keycloak.password_token("governance-tests", "bob", "demo-bob")["access_token"]
    r = httpx.post(
        f"{service.url}/api/v1/launch-decisions",
        headers=hub,
        json={**question, "user_token": bobs},
        timeout=30,
    )
    assert r.status_code == 400 and "belongs to another user" in r.json()["detail"]


# Directory sync -----------------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    with transaction() as s:
        return {
            model.__name__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (User, Group, GroupMember, RoleBinding, AuditEvent)
        }


def _roles(username: str) -> set[str]:
    from governance.auth.principal import roles_of

    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return set(roles_of(s, user.id))


def test_sync_mirrors_groups_and_realm_roles_idempotently(
    service: AppServer, keycloak: KeycloakServer
) -> None:
    first = run_sync()
    assert first.applied and first.plan.change_count > 0
    assert first.plan.api_calls <= 1 + 2 + 1 + 5 + 5 + 2  # token, users, groups, members, roles (+slack)
    with transaction() as s:
        stewards = s.scalar(select(Group).where(Group.source == "keycloak", Group.name == "/stewards"))
        assert stewards is not None and stewards.external_id
        binding = s.scalar(select(RoleBinding).where(RoleBinding.group_id == stewards.id))
        assert binding is not None and (binding.role, binding.source) == ("data_steward", "keycloak-sync")
        members = set(
            s.scalars(
                select(User.username)
                .join(GroupMember, GroupMember.user_id == User.id)
                .where(GroupMember.group_id == stewards.id)
            )
        )
        assert members == {"sam", "stella"}
        sam = s.scalar(select(User).where(User.username == "sam"))
        assert sam is not None and sam.issuer == keycloak.issuer and sam.subject
        synced_events = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.source == "keycloak-sync")
        )
    assert synced_events == first.plan.change_count + 1  # one per change, plus the run's summary
    before = _counts()
    second = run_sync()
    assert not second.applied and second.plan.change_count == 0
    assert _counts() == before


def test_leaving_a_keycloak_group_or_role_takes_the_role_away_and_rechecks(
    service: AppServer, kc_admin: KeycloakAdminApi, rechecks: list[dict[str, Any]]
) -> None:
    kc_admin.create_user("frank", "demo-frank", groups=["/stewards"])
    kc_admin.grant_realm_role("frank", "auditor")
    try:
        run_sync()
        assert _roles("frank") == {"data_steward", "auditor"}
        assert "data_steward" in _roles("sam")
        rechecks.clear()
        kc_admin.remove_from_group("frank", "/stewards")
        kc_admin.revoke_realm_role("frank", "auditor")
        report = run_sync()
        assert {line.split(" of ")[0] for line in report.plan.lines() if line.startswith("- member")} == {
            "- member frank"
        }
        assert any(line.startswith("- role auditor from user frank") for line in report.plan.lines())
        assert _roles("frank") == set()
        with transaction() as s:
            frank = s.scalar(select(User.id).where(User.username == "frank"))
            local = s.scalars(
                select(RoleBinding.source)
                .join(User, User.id == RoleBinding.user_id)
                .where(User.username == "sam")
            ).all()
        assert {r["user_id"] for r in rechecks} == {str(frank)}
        assert local == ["demo"], "bindings made here are never touched by the sync"
        assert "data_steward" in _roles("sam")
    finally:
        kc_admin.delete_user("frank")


def test_a_group_the_mapping_does_not_know_is_mirrored_and_reported(
    service: AppServer, kc_admin: KeycloakAdminApi
) -> None:
    kc_admin.create_group("visitors")
    kc_admin.add_to_group("carol", "/visitors")
    try:
        result = CliRunner().invoke(cli_main, ["identity", "sync", "--dry-run", "--limit", "0"])
        assert result.exit_code == 0, result.output
        assert "? group /visitors ignored for roles (not in the mapping)" in result.output
        assert "+ group /visitors" in result.output and "would make" in result.output
        with transaction() as s:
            assert s.scalar(select(Group).where(Group.name == "/visitors")) is None, "--dry-run wrote nothing"
        report = run_sync()
        assert "/visitors" in report.plan.ignored_groups
        with transaction() as s:
            visitors = s.scalar(select(Group).where(Group.name == "/visitors"))
            assert visitors is not None and visitors.source == "keycloak"
            assert s.scalar(select(RoleBinding).where(RoleBinding.group_id == visitors.id)) is None
            carol = s.scalar(select(User.id).where(User.username == "carol"))
            assert s.get(GroupMember, (visitors.id, carol)) is not None
    finally:
        kc_admin.call("DELETE", f"/groups/{kc_admin.group_id('/visitors')}")


def test_an_unreachable_keycloak_fails_the_sync_clearly_and_changes_nothing(
    service: AppServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts()
    closed = new_port()
    monkeypatch.setenv("GOVERNANCE_KEYCLOAK_URL", f"http://127.0.0.1:{closed}")
    get_settings.cache_clear()
    with pytest.raises(KeycloakUnreachable) as caught:
        run_sync()
    assert "could not be reached" in caught.value.detail and "nothing was changed" in caught.value.detail
    assert _counts() == before
    result = CliRunner().invoke(cli_main, ["identity", "sync"])
    assert result.exit_code == 1 and "could not be reached" in result.output


def test_keycloak_going_away_in_the_middle_of_a_sync_changes_nothing(
    service: AppServer, keycloak: KeycloakServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _counts()
    with TcpProxy("127.0.0.1", keycloak.port) as proxy:
        monkeypatch.setenv("GOVERNANCE_KEYCLOAK_URL", proxy.url)
        monkeypatch.setenv("GOVERNANCE_KEYCLOAK_ISSUER", keycloak.issuer)
        get_settings.cache_clear()
        phases: list[str] = []

        def progress(phase: str, done: int, total: int) -> None:
            phases.append(phase)
            if phase == "users":  # users fetched; groups and members not yet
                proxy.cut()

        with pytest.raises(KeycloakUnreachable):
            run_sync(progress=progress)
        assert phases == ["users"] and proxy.connections >= 1
    assert _counts() == before


def test_an_expired_keycloak_token_is_refused(service: AppServer, short_lived_token: dict[str, Any]) -> None:
    # The verifier allows 30 s of clock skew; the token lived 1 s.
    wait = short_lived_token["taken_at"] + 33 - time.time()
    if wait > 0:
        time.sleep(wait)
    r = _me(service, short_lived_token["token"])
    assert r.status_code == 401 and "expired" in r.json()["detail"]
