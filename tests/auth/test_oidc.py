from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from governance.app import create_app
from governance.auth import oidc
from governance.config import get_settings
from governance.core.db import transaction
from governance.demo.seed import invite_demo_cast
from tests.auth.oidc_issuer import LocalIssuer


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    server = LocalIssuer()
    yield server
    server.stop()


@pytest.fixture
def oidc_client(db_url: str, issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("GOVERNANCE_OIDC_ISSUER", issuer.url)
    get_settings.cache_clear()
    with transaction() as s:  # as the demo seed does when it knows the issuer: the cast awaits its logins
        invite_demo_cast(s, issuer.url)
    oidc._verifiers.clear()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
    oidc._verifiers.clear()


def _me(client: TestClient, token: str) -> tuple[int, dict[str, object]]:
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()


def test_valid_token_claims_the_seeded_account_and_keeps_it(
    oidc_client: TestClient, issuer: LocalIssuer
) -> None:
    status, body = _me(oidc_client, issuer.token(email="alice@uni.example", name="Alice R"))
    assert status == 200, body
    assert (
        body["username"] == "alice"
        and body["roles"] == ["researcher"]
        and body["authenticated_via"] == "oidc"
    )
    assert body["email"] == "alice@uni.example"
    status, body = _me(oidc_client, issuer.token())
    assert status == 200 and body["username"] == "alice"


def test_first_login_provisions_a_new_user_without_roles(
    oidc_client: TestClient, issuer: LocalIssuer
) -> None:
    token = issuer.token("sub-dave", preferred_username="dave", email="dave@uni.example")
    r = oidc_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    # a new account has no roles, so not even read:me: it exists but may do nothing yet
    assert r.status_code == 403
    assert _me(oidc_client, issuer.token("sub-alice"))[0] == 200  # alice claims her seeded account
    token_other = issuer.token("sub-other", preferred_username="alice")
    status, body = _me(oidc_client, token_other)
    assert status == 403 and "not linked to your identity" in str(body["detail"])


def test_mfa_claims_reach_the_principal(oidc_client: TestClient, issuer: LocalIssuer) -> None:
    status, body = _me(oidc_client, issuer.token(amr=["pwd", "otp"]))
    assert status == 200 and body["mfa"] is True
    status, body = _me(oidc_client, issuer.token(amr=["pwd"]))
    assert status == 200 and body["mfa"] is False


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda i: i.token(audience="another-service"), "not issued for this service"),
        (lambda i: i.token(lifetime=-120), "expired"),
        (lambda i: i.token(nbf=int(time.time()) + 600), "not valid yet"),
        (lambda i: i.token(iss="https://evil.example"), "does not trust"),
        (lambda i: i.token()[:-8] + "AAAAAAAA", "signature"),
        (lambda i: "not-a-jwt", "well-formed"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(
    oidc_client: TestClient, issuer: LocalIssuer, make: object, expected: str
) -> None:
    status, body = _me(oidc_client, make(issuer))  # type: ignore[operator]
    assert status == 401
    assert expected in str(body["detail"])


def test_alg_none_and_hmac_with_the_public_key_are_refused(
    oidc_client: TestClient, issuer: LocalIssuer
) -> None:
    claims = {
        "iss": issuer.url,
        "sub": "sub-alice",
        "aud": "governance-api",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "preferred_username": "alice",
    }
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": issuer.current_kid}).encode()).rstrip(
        b"="
    )
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    status, body = _me(oidc_client, f"{header.decode()}.{payload.decode()}.")
    assert status == 401 and "'none'" in str(body["detail"])
    hmac_token = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": issuer.current_kid})
    status, body = _me(oidc_client, hmac_token)
    assert status == 401 and "HS256" in str(body["detail"])


def test_key_rotation_is_picked_up_without_restart(oidc_client: TestClient, issuer: LocalIssuer) -> None:
    assert _me(oidc_client, issuer.token())[0] == 200
    fetched = issuer.jwks_requests
    for _ in range(3):
        assert _me(oidc_client, issuer.token())[0] == 200
    assert issuer.jwks_requests == fetched, "a warm cache must not refetch the JWKS"
    issuer.rotate(drop_old=True)
    oidc._verifiers[(issuer.url, "governance-api")]._fetched_at -= 60  # past the refresh rate limit
    assert _me(oidc_client, issuer.token())[0] == 200
    assert issuer.jwks_requests == fetched + 1


def test_a_key_the_issuer_does_not_publish_is_refused(oidc_client: TestClient, issuer: LocalIssuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "iss": issuer.url,
        "sub": "s",
        "aud": "governance-api",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
    }
    token = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "unknown-kid"})
    status, body = _me(oidc_client, token)
    assert status == 401 and "does not publish" in str(body["detail"])
