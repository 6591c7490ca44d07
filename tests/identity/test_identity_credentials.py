from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

NOW = datetime.now(UTC)
ACCREDITATION = {
    "kind": "safe-researcher",
    "issuer": "UK Data Service",
    "awarded_at": (NOW - timedelta(days=10)).isoformat(),
    "expires_at": (NOW + timedelta(days=3 * 365)).isoformat(),
    "evidence_ref": "UKDS-1",
}


def _record(client: TestClient, headers: dict[str, str], user: str, **extra: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/users/{user}/accreditations", json={**ACCREDITATION, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_researcher_records_own_accreditation_unverified(client: TestClient, token_for: TokenFor) -> None:
    body = _record(client, token_for("carol"), "carol")
    assert body["status"] == "unverified" and body["verified_at"] is None
    assert body["allowed_actions"] == []  # a researcher neither verifies nor revokes
    steward = client.get("/api/v1/users/carol/accreditations", headers=token_for("sam")).json()["items"]
    assert next(a for a in steward if a["id"] == body["id"])["allowed_actions"] == ["verify", "revoke"]
    [event] = events("accreditation.create")
    assert event.object_id == body["id"] and event.actor_username == "carol"
    items = client.get("/api/v1/users/carol/accreditations", headers=token_for("carol")).json()["items"]
    assert [a["status"] for a in items] == ["verified", "unverified"]


def test_researcher_cannot_touch_others_accreditations(client: TestClient, token_for: TokenFor) -> None:
    carol = token_for("carol")
    problem(
        client.post("/api/v1/users/bob/accreditations", json=ACCREDITATION, headers=carol), 404, "not-found"
    )
    problem(client.get("/api/v1/users/bob/accreditations", headers=carol), 404, "not-found")
    problem(client.get("/api/v1/users/bob/agreements", headers=carol), 404, "not-found")
    own = _record(client, carol, "carol")
    r = client.post(f"/api/v1/users/carol/accreditations/{own['id']}/verify", headers=carol)
    problem(r, 403, "forbidden")
    assert events("accreditation.verify") == []


def test_steward_records_for_someone_and_auditor_reads(client: TestClient, token_for: TokenFor) -> None:
    body = _record(client, token_for("sam"), "bob")
    items = client.get("/api/v1/users/bob/accreditations", headers=token_for("aud")).json()["items"]
    assert body["id"] in [a["id"] for a in items]
    problem(
        client.post("/api/v1/users/bob/accreditations", json=ACCREDITATION, headers=token_for("aud")),
        403,
        "forbidden",
    )


def test_nobody_verifies_their_own_accreditation(client: TestClient, token_for: TokenFor) -> None:
    own = _record(client, token_for("sam"), "sam")
    r = client.post(f"/api/v1/users/sam/accreditations/{own['id']}/verify", headers=token_for("sam"))
    problem(r, 403, "separation-of-duties")
    assert events("accreditation.verify") == []
    assert len(events("denied.post", outcome="denied")) == 1
    r = client.post(f"/api/v1/users/sam/accreditations/{own['id']}/verify", headers=token_for("stella"))
    assert r.status_code == 200 and r.json()["verified_by_id"] is not None


def test_verify_then_revoke_lifecycle(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    own = _record(client, token_for("carol"), "carol")
    url = f"/api/v1/users/carol/accreditations/{own['id']}"
    r = client.post(f"{url}/verify", headers=token_for("sam"))
    assert (
        r.status_code == 200
        and r.json()["status"] == "verified"
        and r.json()["allowed_actions"] == ["revoke"]
    )
    body = problem(client.post(f"{url}/verify", headers=token_for("stella")), 409, "illegal-transition")
    assert body["allowed_actions"] == ["revoke"] and "revoke" in body["detail"]
    assert rechecks == []
    r = client.post(f"{url}/revoke", json={"reason": "evidence was forged"}, headers=token_for("stella"))
    assert r.status_code == 200 and r.json()["status"] == "revoked" and r.json()["revoked_at"]
    assert rechecks == [
        {
            "cause": "accreditation.revoke",
            "project_id": None,
            "user_id": str(ids["carol"]),
            "dataset_id": None,
        }
    ]
    [event] = events("accreditation.revoke")
    assert event.summary["reason"] == "evidence was forged"
    problem(
        client.post(f"{url}/revoke", json={"reason": "again"}, headers=token_for("sam")),
        409,
        "illegal-transition",
    )
    problem(client.post(f"{url}/revoke", json={}, headers=token_for("sam")), 422, "validation")
    assert len(rechecks) == 1


def test_duplicate_and_malformed_accreditations(client: TestClient, token_for: TokenFor) -> None:
    carol = token_for("carol")
    _record(client, carol, "carol")
    problem(
        client.post("/api/v1/users/carol/accreditations", json=ACCREDITATION, headers=carol), 409, "duplicate"
    )
    assert len(events("accreditation.create")) == 1
    bad: list[dict[str, Any]] = [
        {**ACCREDITATION, "expires_at": (NOW - timedelta(days=20)).isoformat()},
        {**ACCREDITATION, "awarded_at": "2026-01-01T00:00:00"},
        {**ACCREDITATION, "verified": True},
        {**ACCREDITATION, "issuer": "x" * 201},
        {**ACCREDITATION, "kind": "Not A Slug"},
    ]
    for body in bad:
        r = client.post("/api/v1/users/carol/accreditations", json=body, headers=carol)
        problem(r, 422, "validation")
    problem(
        client.post(
            f"/api/v1/users/carol/accreditations/{uuid.uuid4()}/revoke",
            json={"reason": "x"},
            headers=token_for("sam"),
        ),
        404,
        "not-found",
    )


def test_user_signs_own_agreement(client: TestClient, token_for: TokenFor) -> None:
    carol = token_for("carol")
    r = client.post("/api/v1/users/carol/agreements", json={"version": "2026.2"}, headers=carol)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "in_force" and body["expires_at"] is None and body["allowed_actions"] == []
    steward = client.get("/api/v1/users/carol/agreements", headers=token_for("sam")).json()["items"]
    assert next(a for a in steward if a["id"] == body["id"])["allowed_actions"] == ["revoke"]
    signed = datetime.fromisoformat(body["signed_at"])
    assert abs((signed - datetime.now(UTC)).total_seconds()) < 60
    [event] = events("agreement.sign")
    assert event.summary["version"] == "2026.2"
    problem(
        client.post("/api/v1/users/carol/agreements", json={"version": "2026.2"}, headers=carol),
        409,
        "duplicate",
    )
    versions = [
        a["version"] for a in client.get("/api/v1/users/carol/agreements", headers=carol).json()["items"]
    ]
    assert versions == ["2026.1", "2026.2"]


def test_nobody_signs_for_someone_else(client: TestClient, token_for: TokenFor) -> None:
    r = client.post("/api/v1/users/carol/agreements", json={"version": "2026.2"}, headers=token_for("sam"))
    problem(r, 403, "forbidden")
    r = client.post("/api/v1/users/carol/agreements", json={"version": "2026.2"}, headers=token_for("bob"))
    problem(r, 404, "not-found")
    past = (NOW - timedelta(days=1)).isoformat()
    r = client.post(
        "/api/v1/users/carol/agreements",
        json={"version": "9", "expires_at": past},
        headers=token_for("carol"),
    )
    problem(r, 400, "invalid-input")
    r = client.post("/api/v1/users/carol/agreements", json={"version": "v 1"}, headers=token_for("carol"))
    problem(r, 422, "validation")
    assert events("agreement.sign") == []


def test_steward_revokes_an_agreement(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    [agreement] = client.get("/api/v1/users/alice/agreements", headers=token_for("alice")).json()["items"]
    url = f"/api/v1/users/alice/agreements/{agreement['id']}/revoke"
    problem(client.post(url, json={"reason": "breach"}, headers=token_for("alice")), 403, "forbidden")
    r = client.post(url, json={"reason": "breach of clause 4"}, headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["status"] == "lapsed"
    assert datetime.fromisoformat(r.json()["expires_at"]) <= datetime.now(UTC)
    assert [c["user_id"] for c in rechecks] == [str(ids["alice"])]
    [event] = events("agreement.revoke")
    assert event.summary["reason"] == "breach of clause 4" and event.summary["previous_expires_at"]
    body = problem(
        client.post(url, json={"reason": "again"}, headers=token_for("sam")), 409, "illegal-transition"
    )
    assert body["allowed_actions"] == []


def test_promise_nobody_verifies_their_own_accreditation_and_the_button_says_why(
    client: TestClient, token_for: TokenFor
) -> None:
    sam = token_for("sam")
    own = _record(client, sam, "sam")
    reasons = {u["action"]: u["reason"] for u in own["unavailable_actions"]}
    assert own["allowed_actions"] == ["revoke"]
    r = client.post(f"/api/v1/users/sam/accreditations/{own['id']}/verify", headers=sam)
    assert problem(r, 403, "separation-of-duties")["detail"] == reasons["verify"]
    assert reasons["verify"] == "nobody may verify their own accreditation; ask another data steward"
    theirs = client.get("/api/v1/users/sam/accreditations", headers=token_for("stella")).json()["items"]
    assert next(a for a in theirs if a["id"] == own["id"])["allowed_actions"] == ["verify", "revoke"]
