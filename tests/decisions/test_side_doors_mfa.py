"""Issue 9, promise 4: with GOVERNANCE_MFA_FROM_USER_TOKEN_ONLY a profile that requires MFA is satisfied
only by the user's own verified token, never by the hub's word (the default in production)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from governance.app import create_app
from governance.auth import oidc
from governance.config import Settings, get_settings
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
HUB_SAYS_MFA = {"mfa": True, "acr": "mfa", "amr": ["pwd", "otp"]}


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.stop()


def _api(monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, only_user_token: str) -> TestClient:
    monkeypatch.setenv("GOVERNANCE_OIDC_ISSUER", issuer.url)
    monkeypatch.setenv("GOVERNANCE_MFA_FROM_USER_TOKEN_ONLY", only_user_token)
    get_settings.cache_clear()
    oidc._verifiers.clear()
    with transaction() as s:
        invite_demo_cast(s, issuer.url)
    return TestClient(create_app(), raise_server_exceptions=False)


def _decide(api: TestClient, hub: dict[str, str], **body: Any) -> dict[str, Any]:
    r = api.post("/api/v1/launch-decisions", headers=hub, json={**QUESTION, **body})
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _inputs(decision_id: str) -> dict[str, Any]:
    with transaction() as s:
        row = s.get(LaunchDecision, uuid.UUID(decision_id))
        assert row is not None
        return dict(row.inputs)


def test_promise_mfa_profiles_take_mfa_only_from_the_users_own_token_when_set(
    db_url: str, monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    hub = token_for("jupyterhub")
    with _api(monkeypatch, issuer, "true") as api:
        refused = _decide(api, hub, auth=HUB_SAYS_MFA)
        assert refused["allowed"] is False and refused["safes"]["people"]["allowed"] is False
        assert any("multi-factor" in reason for reason in refused["safes"]["people"]["reasons"])
        inputs = _inputs(refused["decision_id"])
        assert inputs["auth_source"] == "none" and inputs["auth"] == {"mfa": False, "acr": None, "amr": []}
        assert inputs["hub_auth"]["mfa"] is True, "what the hub said is kept as evidence, unused"
        # The user's own token with a second factor satisfies the profile.
        allowed = _decide(api, hub, user_token=issuer.token(amr=["pwd", "otp"], acr="mfa"))
        assert allowed["allowed"] is True, allowed["safes"]
        assert _inputs(allowed["decision_id"])["auth_source"] == "user_token"
        # Its token without one does not, whatever the hub adds.
        password_only = issuer.token(amr=["pwd"], acr="password")
        assert _decide(api, hub, user_token=password_only, auth=HUB_SAYS_MFA)["allowed"] is False
        # A profile without MFA needs no token.
        assert _decide(api, hub, profile="standard")["allowed"] is True


def test_promise_the_hubs_mfa_assertion_counts_only_when_the_setting_is_off(
    db_url: str, monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    hub = token_for("jupyterhub")
    with _api(monkeypatch, issuer, "false") as api:
        allowed = _decide(api, hub, auth=HUB_SAYS_MFA)
        assert allowed["allowed"] is True, allowed["safes"]
        inputs = _inputs(allowed["decision_id"])
        assert inputs["auth_source"] == "hub" and inputs["auth"]["mfa"] is True and "hub_auth" not in inputs
        assert _decide(api, hub)["allowed"] is False  # and without the hub's word, no MFA


def test_promise_mfa_from_user_token_only_is_the_production_default() -> None:
    production = {"env": "production", "secret_key": "s" * 40}
    assert Settings(**production).mfa_needs_user_token is True  # type: ignore[arg-type]
    assert Settings(**production, mfa_from_user_token_only=False).mfa_needs_user_token is False  # type: ignore[arg-type]
    assert Settings(env="test").mfa_needs_user_token is False
    assert Settings(env="dev", mfa_from_user_token_only=True).mfa_needs_user_token is True


def test_promise_a_recheck_keeps_the_second_factor_the_launch_was_decided_with(
    db_url: str, monkeypatch: pytest.MonkeyPatch, issuer: LocalIssuer, token_for: TokenFor
) -> None:
    from governance.enforcement.service import recheck

    hub = token_for("jupyterhub")
    with _api(monkeypatch, issuer, "true") as api:
        allowed = _decide(api, hub, user_token=issuer.token(amr=["pwd", "otp"], acr="mfa"))
        assert allowed["allowed"] is True, allowed["safes"]
        report = recheck({})
    assert report.checked == 1 and report.stopped == [] and report.failed == []
    with transaction() as s:
        row = s.get(LaunchDecision, uuid.UUID(allowed["decision_id"]))
        assert row is not None and row.ended_at is None, row.end_cause
