"""`user_token` in a launch question: the service reads mfa/acr/amr from the user's own token.

The issuer here is a small real OIDC issuer on loopback (tests/auth/oidc_issuer.py); the same story
against Keycloak's password and OTP logins is in test_keycloak_integration.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from governance.app import create_app
from governance.auth import oidc
from governance.config import get_settings
from governance.core.db import transaction
from governance.demo.seed import invite_demo_cast
from governance.models import LaunchDecision
from tests.auth.oidc_issuer import LocalIssuer
from tests.conftest import TokenFor

QUESTION = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "gpu-secure",
    "datasets": ["hospital-episodes"],
    "client_ip": "10.1.2.3",
}


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.stop()


@pytest.fixture
def api(db_url: str, issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GOVERNANCE_OIDC_ISSUER", issuer.url)
    get_settings.cache_clear()
    with transaction() as s:  # the seeded cast is invited for this issuer, as the demo seed does
        invite_demo_cast(s, issuer.url)
    oidc._verifiers.clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
    oidc._verifiers.clear()


def _decide(api: TestClient, hub: dict[str, str], **body: Any) -> Any:
    return api.post("/api/v1/launch-decisions", headers=hub, json={**QUESTION, **body})


def test_the_users_token_decides_the_second_factor_not_the_hub(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    hub = token_for("jupyterhub")
    password_only = issuer.token(amr=["pwd"], acr="password")
    r = _decide(api, hub, user_token=password_only, auth={"mfa": True, "amr": ["otp"]})
    assert r.status_code == 200 and r.json()["allowed"] is False
    assert any("multi-factor" in reason for reason in r.json()["safes"]["people"]["reasons"])
    r = _decide(api, hub, user_token=issuer.token(amr=["pwd", "otp"], acr="mfa"))
    assert r.status_code == 200 and r.json()["allowed"] is True, r.json()
    with transaction() as s:
        row = s.get(LaunchDecision, uuid.UUID(r.json()["decision_id"]))
        assert row is not None
        assert "user_token" not in row.inputs, "the token is a credential and is never stored"
        assert row.inputs["auth"] == {"mfa": True, "acr": "mfa", "amr": ["pwd", "otp"]}
    # Without a user token the hub's claims are used, as before.
    assert _decide(api, hub, auth={"mfa": True, "amr": ["otp"]}).json()["allowed"] is True


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda i: i.token(amr=["otp"], lifetime=-120), "has expired"),
        (lambda i: i.token(amr=["otp"], audience="another-service"), "not issued for this service"),
        (lambda i: i.token(amr=["otp"])[:-6] + "AAAAAA", "signature"),
        (lambda i: i.token("sub-bob", preferred_username="bob", amr=["otp"]), "belongs to another user"),
        (lambda i: "not-a-jwt", "well-formed"),
    ],
)
def test_a_bad_user_token_is_refused_with_a_reason(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor, make: Any, words: str
) -> None:
    r = _decide(api, token_for("jupyterhub"), user_token=make(issuer))
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"] and r.json()["detail"].startswith("user_token")


def test_a_linked_account_must_match_the_tokens_subject(
    api: TestClient, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    # alice's account is claimed by subject sub-alice on first use; a token of another subject
    # carrying her username is then someone else's.
    hub = token_for("jupyterhub")
    assert (
        api.get("/api/v1/me", headers={"Authorization": f"Bearer {issuer.token(amr=['otp'])}"}).status_code
        == 200
    )
    r = _decide(api, hub, user_token=issuer.token("sub-impostor", preferred_username="alice", amr=["otp"]))
    assert r.status_code == 400 and "belongs to another user" in r.json()["detail"]


def test_user_token_without_a_trusted_issuer_is_refused(client: TestClient, token_for: TokenFor) -> None:
    r = client.post(
        "/api/v1/launch-decisions", headers=token_for("jupyterhub"), json={**QUESTION, "user_token": "x.y.z"}
    )
    assert r.status_code == 400 and "GOVERNANCE_OIDC_ISSUER" in r.json()["detail"]
