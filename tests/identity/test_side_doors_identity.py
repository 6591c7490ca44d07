"""Issue 9, promises 2 and 4: identities link only by issuer + subject or an invitation; names are clean;
logging out is a POST with a CSRF token.

The issuer is the small real OIDC issuer of tests/auth/oidc_issuer.py; SAML and the browser login reach
accounts through the same function (provisioning.user_from_claims), exercised here with their claims.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.app import create_app
from governance.auth import oidc
from governance.auth.principal import AuthStrength
from governance.config import DEFAULT_KEYCLOAK_SYNC_MAPPING, get_settings
from governance.core.db import transaction
from governance.core.errors import DomainError
from governance.identity.keycloak_directory import DirectorySnapshot, KeycloakUser
from governance.identity.keycloak_sync import sync_snapshot
from governance.identity.provisioning import user_from_claims
from governance.identity.web_sessions import start_session
from governance.models import AuditEvent, User, WebSession
from tests.auth.oidc_issuer import LocalIssuer
from tests.conftest import TokenFor

UNSAFE = ["\u202e", "\u202a", "\u200f", "\u200e", "\u2066", "\u2069", "\u061c", "\u0000", "\u001b", "\u007f"]
UNSAFE += ["\u0085", "\u009f", "a\nb", "a\tb"]


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.stop()


@pytest.fixture
def api(db_url: str, issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GOVERNANCE_OIDC_ISSUER", issuer.url)
    get_settings.cache_clear()
    oidc._verifiers.clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
    oidc._verifiers.clear()


def _me(api: TestClient, token: str) -> Any:
    return api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _user(session: Session, username: str) -> User:
    session.expire_all()
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# Linking --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("claimed", ["sam", "SAM", "Sam", " sam ", "sam!"])
def test_promise_precreated_accounts_are_never_claimed_by_a_matching_username(
    api: TestClient, issuer: LocalIssuer, session: Session, claimed: str
) -> None:
    r = _me(api, issuer.token("sub-mallory", preferred_username=claimed, amr=["otp"]))
    body = _problem(r, 403)
    assert "an account named 'sam' already exists and is not linked to your identity" in body["detail"]
    assert "ask an administrator to link it" in body["detail"]
    sam = _user(session, "sam")
    assert (sam.issuer, sam.subject) == (None, None), "the seeded steward stays unclaimed"
    assert session.scalar(select(User).where(User.subject == "sub-mallory")) is None


def test_promise_saml_and_web_logins_do_not_claim_precreated_accounts_either(db_url: str) -> None:
    saml_claims = {"sub": "stella", "preferred_username": "stella", "email": "x@idp.example"}
    web_claims = {"sub": "2b8f-…", "preferred_username": "stella", "name": "Not Stella"}
    for issuer, claims in (
        ("urn:idp:another-saml-idp", saml_claims),
        ("https://idp.example/realm", web_claims),
    ):
        with transaction() as s, pytest.raises(DomainError) as refused:
            user_from_claims(s, issuer, claims, provision=True)
        assert refused.value.status == 403 and "not linked to your identity" in refused.value.detail
    with transaction() as s:
        stella = s.scalar(select(User).where(User.username == "stella"))
        assert stella is not None and stella.subject is None and stella.display_name == "Stella Steward"


def test_promise_an_invited_account_is_linked_once_by_its_exact_username(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor, session: Session
) -> None:
    r = api.patch("/api/v1/users/sam", json={"issuer": issuer.url}, headers=token_for("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["issuer"] == issuer.url and r.json()["subject"] is None
    # Not exactly the invited name (the provider's "Sam" normalises to "sam"): refused, still invited.
    _problem(_me(api, issuer.token("sub-sam", preferred_username="Sam")), 403)
    assert _user(session, "sam").subject is None
    r = _me(api, issuer.token("sub-sam", preferred_username="sam"))
    assert r.status_code == 200 and r.json()["username"] == "sam", r.text
    sam = _user(session, "sam")
    assert (sam.issuer, sam.subject) == (issuer.url, "sub-sam")
    link = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.link"))
    assert link is not None and link.summary["subject"] == "sub-sam" and link.summary["via"] == "invitation"
    # The invitation is used up: another identity with the same name is refused.
    _problem(_me(api, issuer.token("sub-impostor", preferred_username="sam")), 403)
    # An invitation for another issuer does not open the account to this one.
    api.patch(
        "/api/v1/users/stella", json={"issuer": "https://elsewhere.example"}, headers=token_for("admin")
    )
    _problem(_me(api, issuer.token("sub-stella", preferred_username="stella")), 403)


def test_promise_an_account_created_with_issuer_and_subject_is_reached_by_them(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor, session: Session
) -> None:
    admin = token_for("admin")
    body = {"username": "dave", "issuer": issuer.url, "subject": "sub-dave", "display_name": "Dave"}
    created = api.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    # The provider calls him "david": the subject decides, no second account appears.
    r = _me(api, issuer.token("sub-dave", preferred_username="david"))
    assert r.status_code == 403 and "read:me" in r.json()["detail"], r.text  # linked, but no roles yet
    session.expire_all()
    assert session.scalar(select(User).where(User.username == "david")) is None
    # A subject needs its issuer; an identity links to one account only; unlinking sends both nulls.
    _problem(api.post("/api/v1/users", json={"username": "erin", "subject": "s"}, headers=admin), 422)
    twin = {"username": "dave2", "issuer": issuer.url, "subject": "sub-dave"}
    _problem(api.post("/api/v1/users", json=twin, headers=admin), 409)
    _problem(api.patch("/api/v1/users/dave", json={"issuer": None}, headers=admin), 422)
    # Nobody links their own account to an identity of their choosing.
    carol = token_for("carol")
    _problem(
        api.patch("/api/v1/users/carol", json={"issuer": issuer.url, "subject": "x"}, headers=carol), 403
    )


def test_promise_the_directory_sync_links_only_invited_accounts(db_url: str, session: Session) -> None:
    realm = "https://keycloak.example/realms/five-safes"
    users = {
        "kc-sam": KeycloakUser("kc-sam", "sam", "sam@example.org", "Sam S", True),
        "kc-erin": KeycloakUser("kc-erin", "erin", "erin@example.org", "Erin \u202eNew\u0007", True),
    }
    snap = DirectorySnapshot(issuer=realm, users=users, groups={}, members={}, role_members={}, api_calls=1)
    with transaction() as s:
        report = sync_snapshot(s, snap, DEFAULT_KEYCLOAK_SYNC_MAPPING, dry_run=False)
    assert any("an account named sam exists here and is not linked" in c for c in report.plan.conflicts)
    assert report.plan.link_users == []
    assert _user(session, "sam").subject is None
    erin = _user(session, "erin")
    assert (erin.issuer, erin.subject) == (realm, "kc-erin"), "synced users carry issuer + subject"
    assert erin.display_name == "Erin New", "names from the directory are cleaned before storing"
    with transaction() as s:
        sam = s.scalar(select(User).where(User.username == "sam"))
        assert sam is not None
        sam.issuer = realm  # the administrator's invitation
    with transaction() as s:
        report = sync_snapshot(s, snap, DEFAULT_KEYCLOAK_SYNC_MAPPING, dry_run=False)
    assert [u.username for _, u in report.plan.link_users] == ["sam"] and report.plan.conflicts == []
    assert _user(session, "sam").subject == "kc-sam"


def test_promise_a_user_token_of_an_unlinked_namesake_does_not_count_for_mfa(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    question = {
        "username": "alice",
        "project": "diabetes-outcomes",
        "profile": "gpu-secure",
        "datasets": ["hospital-episodes"],
        "client_ip": "10.1.2.3",
        "user_token": issuer.token("sub-namesake", preferred_username="alice", amr=["pwd", "otp"]),
    }
    r = api.post("/api/v1/launch-decisions", json=question, headers=token_for("jupyterhub"))
    assert r.status_code == 400 and "belongs to another user" in r.json()["detail"], r.text


# Display names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", UNSAFE)
def test_promise_display_names_refuse_control_and_bidi_characters(
    client: TestClient, token_for: TokenFor, bad: str
) -> None:
    admin = token_for("admin")
    name = f"Eve{bad}lyn"
    body = _problem(
        client.post("/api/v1/users", json={"username": "eve", "display_name": name}, headers=admin), 422
    )
    assert "bidirectional" in body["detail"] and "remove it" in body["detail"]
    _problem(
        client.patch("/api/v1/users/carol", json={"display_name": name}, headers=token_for("carol")), 422
    )
    _problem(client.patch("/api/v1/users/carol", json={"display_name": name}, headers=admin), 422)


def test_promise_display_names_keep_ordinary_unicode(client: TestClient, token_for: TokenFor) -> None:
    name = "José Núñez-山田 (Åsa) O'Brien"
    r = client.post(
        "/api/v1/users", json={"username": "jose", "display_name": name}, headers=token_for("admin")
    )
    assert r.status_code == 201 and r.json()["display_name"] == name, r.text


def test_promise_names_from_identity_providers_are_cleaned_before_storing(
    api: TestClient, issuer: LocalIssuer, session: Session
) -> None:
    token = issuer.token(
        "sub-frank", preferred_username="frank", name="Frank \u202eknarF\u0000\u200f", amr=["pwd"]
    )
    _me(api, token)  # a new account (no roles yet, so the call itself is refused)
    frank = _user(session, "frank")
    assert frank.display_name == "Frank knarF"
    with transaction() as s:
        user = user_from_claims(
            s, "urn:idp:saml", {"sub": "grace", "name": "\u2066Grace\u2069 Hopper\u001b[31m"}, provision=True
        )
        assert user.display_name == "Grace Hopper[31m"


# Logout ---------------------------------------------------------------------------------------------


def _session_cookie(username: str) -> tuple[dict[str, str], WebSession]:
    with transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        issued = start_session(s, user, via="saml", strength=AuthStrength(mfa=False, acr=None, amr=()))
        s.expunge(issued.row)
    return {"Cookie": f"{get_settings().session_cookie_name}={issued.cookie_value}"}, issued.row


def test_promise_logout_is_a_post_with_the_csrf_token(client: TestClient, session: Session) -> None:
    cookie, row = _session_cookie("alice")
    page = client.get("/", headers=cookie)
    assert page.status_code == 200 and 'method="post" action="/logout"' in page.text
    assert 'href="/logout"' not in page.text, "no link logs anyone out"
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    token = found.group(1)

    def still_signed_in() -> bool:
        return client.get("/api/v1/me", headers=cookie).status_code == 200

    # A link (or an <img> on another site) logs nobody out.
    r = client.get("/logout", headers=cookie, follow_redirects=False)
    assert _problem(r, 405) and r.headers["allow"] == "POST" and still_signed_in()
    # Another site's form: no token, or the right token from another origin; a forged token.
    evil = {**cookie, "Origin": "https://evil.example"}
    body = _problem(client.post("/logout", headers=cookie, follow_redirects=False), 403)
    assert "CSRF token" in body["detail"] and still_signed_in()
    body = _problem(client.post("/logout", headers=evil, follow_redirects=False), 403)
    assert "another site" in body["detail"] and still_signed_in()
    _problem(client.post("/logout", data={"csrf_token": token}, headers=evil, follow_redirects=False), 403)
    _problem(client.post("/logout", data={"csrf_token": token[:-2] + "xx"}, headers=cookie), 403)
    assert still_signed_in()
    session.expire_all()
    stored = session.get(WebSession, row.id)
    assert stored is not None and stored.ended_at is None
    # The start page's own form logs out, and the session no longer works.
    own = get_settings().base_url.rstrip("/")
    r = client.post(
        "/logout", data={"csrf_token": token}, headers={**cookie, "Origin": own}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert not still_signed_in()
    session.expire_all()
    stored = session.get(WebSession, row.id)
    assert stored is not None and stored.ended_at is not None
