"""The pages' session cookie as the third way to authenticate, its CSRF rule, logout, and the start page.

Logins through a real identity provider are in test_keycloak_integration.py; here sessions are started
directly, as the login endpoints do after validating the provider's answer.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from governance.auth.principal import AuthStrength
from governance.config import Settings, get_settings
from governance.core.clock import utcnow
from governance.core.db import transaction
from governance.identity.web_login import LOGIN_COOKIE, _login_serializer
from governance.identity.web_sessions import SESSION_SALT, csrf_token_for, end_session, start_session
from governance.models import AuditEvent, User, WebSession
from tests.conftest import TokenFor

COOKIE = "governance_session"


def _session_for(username: str, *, via: str = "oidc", mfa: bool = False) -> tuple[str, WebSession]:
    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        strength = AuthStrength(
            mfa=mfa, acr="mfa" if mfa else "password", amr=("pwd", "otp") if mfa else ("pwd",)
        )
        issued = start_session(s, user, via=via, strength=strength, id_token=None)
        s.expunge(issued.row)
    return issued.cookie_value, issued.row


def _cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={value}"}


def test_the_session_cookie_authenticates_api_calls_with_its_strength(client: TestClient) -> None:
    value, row = _session_for("alice", mfa=True)
    r = client.get("/api/v1/me", headers=_cookie(value))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["username"] == "alice" and body["authenticated_via"] == "session" and body["mfa"] is True
    assert row.secret_hash not in value and "alice" not in value


def test_tampered_foreign_ended_and_expired_cookies_are_refused(client: TestClient) -> None:
    value, row = _session_for("alice")
    flipped = value[:-3] + ("A" if value[-3] != "A" else "B") + value[-2:]
    r = client.get("/api/v1/me", headers=_cookie(flipped))
    assert r.status_code == 401 and "not valid" in r.json()["detail"]
    foreign = URLSafeTimedSerializer("another-deployment's-secret-key-0123456789", salt=SESSION_SALT).dumps(
        {"s": "guess"}
    )
    assert client.get("/api/v1/me", headers=_cookie(foreign)).status_code == 401

    with transaction() as s:
        stored = s.get(WebSession, row.id)
        assert stored is not None
        stored.expires_at = utcnow() - timedelta(seconds=1)
    r = client.get("/api/v1/me", headers=_cookie(value))
    assert r.status_code == 401 and "ended" in r.json()["detail"]

    value, row = _session_for("bob")
    with transaction() as s:
        stored = s.get(WebSession, row.id)
        assert stored is not None
        end_session(s, stored, "test")
    r = client.get("/api/v1/me", headers=_cookie(value))
    assert r.status_code == 401 and "log in again" in r.json()["detail"]


def test_a_suspended_user_cannot_use_an_open_session(client: TestClient) -> None:
    value, _row = _session_for("carol")
    with transaction() as s:
        carol = s.scalar(select(User).where(User.username == "carol"))
        assert carol is not None
        carol.status = "suspended"
    r = client.get("/api/v1/me", headers=_cookie(value))
    assert r.status_code == 403 and "suspended" in r.json()["detail"]


def test_state_changing_cookie_requests_need_the_csrf_header(client: TestClient, token_for: TokenFor) -> None:
    value, _row = _session_for("alice")
    body = {"name": "from the page", "expires_in_hours": 1}
    r = client.post("/api/v1/tokens", json=body, headers=_cookie(value))
    assert r.status_code == 403 and "X-Requested-With" in r.json()["detail"]
    r = client.post(
        "/api/v1/tokens",
        json=body,
        headers={**_cookie(value), "X-Requested-With": "fetch", "Origin": "https://evil.example"},
    )
    assert r.status_code == 403 and "another site" in r.json()["detail"]
    r = client.post(
        "/api/v1/tokens", json=body, headers={**_cookie(value), "X-Requested-With": "fetch", "Origin": "null"}
    )
    assert r.status_code == 403
    own_origin = get_settings().base_url.rstrip("/")
    r = client.post(
        "/api/v1/tokens",
        json=body,
        headers={**_cookie(value), "X-Requested-With": "fetch", "Origin": own_origin},
    )
    assert r.status_code == 201, r.text
    # Bearer callers are not affected by the cookie rule, and a bearer header wins over a cookie.
    r = client.post("/api/v1/tokens", json=body, headers=token_for("bob"))
    assert r.status_code == 201
    r = client.get("/api/v1/me", headers={**_cookie(value), **token_for("bob")})
    assert r.json()["username"] == "bob"


def test_logout_ends_the_server_side_session_and_clears_the_cookie(client: TestClient) -> None:
    value, row = _session_for("alice", via="saml")
    r = client.post(
        "/logout",
        data={"csrf_token": csrf_token_for(row)},
        headers=_cookie(value),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cleared = r.headers["set-cookie"]
    assert cleared.startswith(f"{COOKIE}=") and "Max-Age=0" in cleared
    with transaction() as s:
        stored = s.get(WebSession, row.id)
        assert stored is not None and stored.ended_at is not None
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "session.end")) is not None
    assert client.get("/api/v1/me", headers=_cookie(value)).status_code == 401
    # Logging out without a session is harmless.
    assert client.post("/logout", follow_redirects=False).status_code == 303


def test_the_start_page_shows_who_is_signed_in_or_how_to_sign_in(client: TestClient) -> None:
    anonymous = client.get("/")
    assert anonymous.status_code == 200 and "No browser login is configured" in anonymous.text
    assert "frame-ancestors 'none'" in anonymous.headers["content-security-policy"]
    assert anonymous.headers["x-content-type-options"] == "nosniff"
    value, _row = _session_for("sam", mfa=True)
    page = client.get("/", headers=_cookie(value))
    assert 'id="username">sam<' in page.text and 'id="mfa">yes<' in page.text and "data_steward" in page.text
    css = client.get("/assets/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_names_are_escaped_on_the_start_page(client: TestClient) -> None:
    with transaction() as s:
        bob = s.scalar(select(User).where(User.username == "bob"))
        assert bob is not None
        bob.display_name = "<script>alert(1)</script>"
    value, _row = _session_for("bob")
    page = client.get("/", headers=_cookie(value))
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_browser_login_says_clearly_when_it_is_not_configured(client: TestClient) -> None:
    r = client.get("/login?next=/", follow_redirects=False)
    assert r.status_code == 503 and "GOVERNANCE_OIDC_ISSUER" in r.text


def test_a_callback_without_a_matching_login_is_refused(client: TestClient) -> None:
    r = client.get("/auth/callback?code=abc&state=xyz")
    assert r.status_code == 400 and "not started here" in r.text
    pending = _login_serializer(get_settings()).dumps(
        {"state": "right-state", "nonce": "n", "verifier": "v" * 43, "next": "/"}
    )
    headers = {"Cookie": f"{LOGIN_COOKIE}={pending}"}
    r = client.get("/auth/callback?code=abc&state=wrong-state", headers=headers)
    assert r.status_code == 400 and "does not match" in r.text
    r = client.get(
        "/auth/callback?state=right-state&error=access_denied&error_description=%3Cb%3Eno%3C/b%3E",
        headers=headers,
    )
    assert r.status_code == 401 and "refused the login" in r.text and "&lt;b&gt;no&lt;/b&gt;" in r.text


@pytest.mark.parametrize(
    ("env", "base_url", "ok"),
    [
        ("test", "http://127.0.0.1:8000", True),
        ("dev", "http://localhost:8000", True),
        ("production", "http://127.0.0.1:8000", False),
        ("test", "https://tre.example", False),
    ],
)
def test_insecure_session_cookies_only_in_dev_or_test_over_plain_http(
    env: str, base_url: str, ok: bool
) -> None:
    values = {"env": env, "base_url": base_url, "session_cookie_secure": False, "secret_key": "k" * 40}
    if ok:
        assert Settings(**values).session_cookie_secure is False  # type: ignore[arg-type]
    else:
        with pytest.raises(ValueError, match="SESSION_COOKIE_SECURE"):
            Settings(**values)  # type: ignore[arg-type]
