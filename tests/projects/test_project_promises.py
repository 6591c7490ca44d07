"""The promises about projects: dual approval cannot be bypassed, independence cannot be manufactured.

Each test is named for the promise it protects; each goes through the API as an attacker would.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.models import AuditEvent, ProjectApproval
from tests.conftest import TokenFor

NEW = {
    "slug": "air-quality",
    "title": "Air quality and asthma admissions",
    "lay_summary": "Does air pollution send more children to hospital?",
    "purpose": "Time-series analysis",
    "public_benefit": "Cleaner air policy",
    "tier": 2,
    "starts_on": "2026-01-01",
    "ends_on": "2027-06-30",
}
URL = "/api/v1/projects/air-quality"


def _submitted(client: TestClient, token_for: TokenFor, **overrides: Any) -> dict[str, Any]:
    r = client.post("/api/v1/projects", json={**NEW, **overrides}, headers=token_for("carol"))
    assert r.status_code == 201, r.text
    r = client.post(f"{URL}/submit", headers=token_for("carol"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def _events(session: Session, action: str) -> int:
    session.expire_all()
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    return session.scalar(count) or 0


def test_promise_dual_approval_application_frozen_from_submission(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    _submitted(client, token_for)
    for who in ("carol", "sam", "admin"):
        r = client.patch(URL, json={"tier": 1}, headers=token_for(who))
        assert r.status_code == 409, (who, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "frozen" in r.json()["detail"] and "return it" in r.json()["detail"]
    client.post(f"{URL}/approve", headers=token_for("sam"))
    r = client.patch(URL, json={"purpose": "Something else entirely"}, headers=token_for("stella"))
    assert r.status_code == 409
    assert client.get(URL, headers=token_for("carol")).json()["tier"] == 2
    assert _events(session, "project.update") == 0


def test_promise_dual_approval_count_fixed_by_tier_at_submission(
    client: TestClient, token_for: TokenFor
) -> None:
    body = _submitted(client, token_for)
    assert body["approvals_required"] == 2
    r = client.post(f"{URL}/approve", headers=token_for("sam"))
    assert r.json()["status"] == "in_review"
    # The one way to change the tier now is to send the application back; then it is submitted afresh.
    r = client.post(f"{URL}/return", json={"note": "Tier 1 is enough"}, headers=token_for("stella"))
    assert r.json()["status"] == "returned"
    assert client.patch(URL, json={"tier": 1}, headers=token_for("carol")).status_code == 200
    body = client.post(f"{URL}/submit", headers=token_for("carol")).json()
    assert body["approvals_required"] == 1 and body["review_round"] == 2
    # sam's approval of round 1 does not count for round 2, and sam, who returned nothing, may approve.
    r = client.post(f"{URL}/approve", headers=token_for("sam"))
    assert r.json()["status"] == "approved"


def test_promise_dual_approval_change_after_approval_resets_approvals(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    _submitted(client, token_for)
    client.post(f"{URL}/approve", headers=token_for("sam"))
    assert client.post(f"{URL}/approve", headers=token_for("stella")).json()["status"] == "approved"
    client.post(f"{URL}/activate", headers=token_for("admin"))
    r = client.patch(URL, json={"tier": 3}, headers=token_for("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "submitted" and body["review_round"] == 2 and body["approvals_required"] == 2
    assert _events(session, "project.approvals_reset") == 1
    # admin edited it, so admin is involved; sam and stella must approve the changed application afresh.
    r = client.post(f"{URL}/approve", headers=token_for("admin"))
    assert r.status_code == 403 and r.json()["type"].endswith("/separation-of-duties")
    client.post(f"{URL}/approve", headers=token_for("sam"))
    assert client.get(URL, headers=token_for("sam")).json()["status"] == "in_review"
    assert client.post(f"{URL}/approve", headers=token_for("stella")).json()["status"] == "approved"
    session.expire_all()
    project_id = client.get(URL, headers=token_for("sam")).json()["id"]
    rounds = session.scalars(
        select(ProjectApproval.review_round).where(ProjectApproval.project_id == uuid.UUID(project_id))
    ).all()
    assert sorted(rounds) == [1, 1, 2, 2]


def test_promise_dual_approval_shortening_an_approved_project_keeps_approvals(
    client: TestClient, token_for: TokenFor
) -> None:
    _submitted(client, token_for)
    client.post(f"{URL}/approve", headers=token_for("sam"))
    client.post(f"{URL}/approve", headers=token_for("stella"))
    r = client.patch(URL, json={"ends_on": "2027-01-31"}, headers=token_for("admin"))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = client.patch(URL, json={"ends_on": "2028-01-31"}, headers=token_for("admin"))
    assert r.status_code == 200 and r.json()["status"] == "submitted"


def test_promise_dual_approval_a_steward_who_edits_is_involved(
    client: TestClient, token_for: TokenFor
) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    r = client.patch(URL, json={"purpose": "Sharper aims"}, headers=token_for("sam"))
    assert r.status_code == 200
    client.post(f"{URL}/submit", headers=token_for("carol"))
    r = client.post(f"{URL}/approve", headers=token_for("sam"))
    assert r.status_code == 403
    assert "involved" in r.json()["detail"]
    view = client.get(URL, headers=token_for("sam")).json()
    assert "approve" not in view["allowed_actions"]
    reasons = {u["action"]: u["reason"] for u in view["unavailable_actions"]}
    assert reasons["approve"] == r.json()["detail"]  # the button and the refusal agree word for word


def test_promise_independence_cannot_be_manufactured_by_invitation(
    client: TestClient, token_for: TokenFor
) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    for steward in ("sam", "stella"):
        r = client.post(f"{URL}/members", json={"username": steward}, headers=token_for("carol"))
        assert r.status_code == 201 and r.json()["status"] == "invited"
    client.post(f"{URL}/submit", headers=token_for("carol"))
    # Invitations the stewards never accepted do not make them involved.
    assert client.post(f"{URL}/approve", headers=token_for("sam")).status_code == 200
    assert client.post(f"{URL}/approve", headers=token_for("stella")).json()["status"] == "approved"


def test_promise_independence_only_the_invitee_answers_an_invitation(
    client: TestClient, token_for: TokenFor
) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    member = client.post(f"{URL}/members", json={"username": "alice"}, headers=token_for("carol")).json()
    path = f"{URL}/members/{member['id']}"
    r = client.post(f"{path}/accept", headers=token_for("carol"))
    assert r.status_code in (403, 404)
    r = client.post(f"{path}/approve", headers=token_for("sam"))
    assert r.status_code == 409 and "approve" not in r.json()["allowed_actions"]
    view = client.get(f"{URL}/members", headers=token_for("alice")).json()["items"]
    mine = next(m for m in view if m["username"] == "alice")
    assert mine["allowed_actions"] == ["accept", "decline", "remove"]  # a member may leave
    assert client.post(f"{path}/accept", headers=token_for("alice")).json()["status"] == "requested"
    r = client.post(f"{path}/approve", headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_promise_a_rejected_applicant_loses_sight_of_the_project(
    client: TestClient, token_for: TokenFor
) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    r = client.post(f"{URL}/members", json={"username": "bob"}, headers=token_for("bob"))
    assert r.status_code == 404  # bob cannot see it yet, so cannot ask to join by guessing
    member = client.post(f"{URL}/members", json={"username": "bob"}, headers=token_for("carol")).json()
    assert client.get(URL, headers=token_for("bob")).status_code == 200
    client.post(f"{URL}/members/{member['id']}/accept", headers=token_for("bob"))
    r = client.post(f"{URL}/members/{member['id']}/reject", json={"note": "no"}, headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert client.get(URL, headers=token_for("bob")).status_code == 404
    slugs = {p["slug"] for p in client.get("/api/v1/projects", headers=token_for("bob")).json()["items"]}
    assert "air-quality" not in slugs


def test_promise_a_researcher_is_never_offered_approval_of_her_own_application(
    client: TestClient, token_for: TokenFor
) -> None:
    _submitted(client, token_for)
    view = client.get(URL, headers=token_for("carol")).json()
    assert view["allowed_actions"] == []
    assert all(u["action"] != "approve" for u in view["unavailable_actions"])  # not her button at all
    steward = client.get(URL, headers=token_for("sam")).json()
    assert steward["allowed_actions"] == ["approve", "return", "reject"]


def test_promise_independence_is_not_regained_by_leaving_the_project(
    client: TestClient, token_for: TokenFor
) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    member = client.post(f"{URL}/members", json={"username": "admin"}, headers=token_for("admin")).json()
    assert member["status"] == "requested"
    r = client.post(f"{URL}/members/{member['id']}/approve", headers=token_for("sam"))
    assert r.status_code == 200
    client.post(f"{URL}/submit", headers=token_for("carol"))
    assert client.post(f"{URL}/approve", headers=token_for("admin")).status_code == 403
    r = client.delete(f"{URL}/members/{member['id']}", headers=token_for("admin"))
    assert r.status_code == 200 and r.json()["status"] == "removed"
    r = client.post(f"{URL}/approve", headers=token_for("admin"))
    assert r.status_code == 403 and "involved" in r.json()["detail"]
    # A rejected request to join involves its author too; an invitation never accepted does not.
    r = client.post(f"{URL}/approve", headers=token_for("sam"))
    assert r.status_code == 200
