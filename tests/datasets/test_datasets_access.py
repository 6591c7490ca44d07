from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.core.db import transaction
from governance.models import AccessRequest, Grant, Membership, Project
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

ASK = {
    "project": "diabetes-outcomes",
    "dataset": "census-extract",
    "justification": "Deprivation as a confounder.",
}


def _ask(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/access-requests", json={**ASK, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _grants() -> int:
    with transaction() as s:
        return s.scalar(select(func.count()).select_from(Grant)) or 0


def test_lead_asks_and_independent_steward_approves(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    asked = _ask(client, token_for("alice"))
    assert asked["status"] == "pending" and asked["allowed_actions"] == []  # never her own approval
    steward_view = client.get(f"/api/v1/access-requests/{asked['id']}", headers=token_for("sam")).json()
    assert steward_view["allowed_actions"] == ["approve", "reject"]
    [event] = events("access-request.create")
    assert event.project_id == str(ids["diabetes-outcomes"])
    r = client.post(
        f"/api/v1/access-requests/{asked['id']}/approve", json={"note": "fine"}, headers=token_for("sam")
    )
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved" and approved["grant_id"] and approved["decision_note"] == "fine"
    grant = client.get(f"/api/v1/grants/{approved['grant_id']}", headers=token_for("alice")).json()
    assert grant["status"] == "active" and grant["conditions"] == "No attempt to re-identify individuals."
    end = datetime.combine(
        date(date.today().year + 2, 12, 31) + timedelta(days=1), datetime.min.time(), tzinfo=UTC
    )
    assert datetime.fromisoformat(grant["expires_at"]) == end
    assert [e.object_id for e in events("access-request.approve")] == [asked["id"]]
    assert [e.object_id for e in events("grant.create")] == [grant["id"]]
    body = problem(
        client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("stella")),
        409,
        "illegal-transition",
    )
    assert body["allowed_actions"] == []


def test_requested_expiry_is_kept_or_capped_at_project_end(client: TestClient, token_for: TokenFor) -> None:
    soon = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    asked = _ask(client, token_for("alice"), expires_at=soon.isoformat())
    r = client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("sam"))
    grant = client.get(f"/api/v1/grants/{r.json()['grant_id']}", headers=token_for("sam")).json()
    assert datetime.fromisoformat(grant["expires_at"]) == soon
    late = datetime(date.today().year + 10, 1, 1, tzinfo=UTC).isoformat()
    asked = _ask(client, token_for("bob"), dataset="gp-prescribing")
    r = client.post(
        f"/api/v1/access-requests/{asked['id']}/approve",
        json={"expires_at": late, "conditions": "none"},
        headers=token_for("stella"),
    )
    grant = client.get(f"/api/v1/grants/{r.json()['grant_id']}", headers=token_for("sam")).json()
    assert datetime.fromisoformat(grant["expires_at"]).year == date.today().year + 3
    assert grant["conditions"] == "none"


def test_approval_in_the_past_writes_nothing(client: TestClient, token_for: TokenFor) -> None:
    asked = _ask(client, token_for("alice"))
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    r = client.post(
        f"/api/v1/access-requests/{asked['id']}/approve", json={"expires_at": past}, headers=token_for("sam")
    )
    problem(r, 400, "invalid-input")
    assert _grants() == 1  # the demo grant only
    assert (
        client.get(f"/api/v1/access-requests/{asked['id']}", headers=token_for("sam")).json()["status"]
        == "pending"
    )
    assert events("access-request.approve") == [] and events("grant.create") == []


def test_requester_and_project_members_cannot_approve(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    project = {"slug": "admin-study", "title": "Admin's study", "tier": 1}
    assert client.post("/api/v1/projects", json=project, headers=admin).status_code == 201
    own = _ask(client, admin, project="admin-study")
    r = client.post(f"/api/v1/access-requests/{own['id']}/approve", headers=admin)
    problem(r, 403, "separation-of-duties")
    asked = _ask(client, token_for("alice"))
    r = client.post(
        "/api/v1/projects/diabetes-outcomes/members", json={"username": "sam"}, headers=token_for("alice")
    )
    assert r.status_code == 201
    member = r.json()["id"]
    r = client.post(f"/api/v1/projects/diabetes-outcomes/members/{member}/accept", headers=token_for("sam"))
    assert r.status_code == 200
    r = client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("sam"))
    assert "diabetes-outcomes" in problem(r, 403, "separation-of-duties")["detail"]
    r = client.post(
        f"/api/v1/access-requests/{asked['id']}/reject", json={"note": "no"}, headers=token_for("sam")
    )
    problem(r, 403, "separation-of-duties")
    problem(
        client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("alice")),
        403,
        "forbidden",
    )
    assert _grants() == 1
    assert events("access-request.approve") == [] and events("access-request.reject") == []
    r = client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("stella"))
    assert r.status_code == 200


def test_who_may_ask(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    r = client.post("/api/v1/access-requests", json=ASK, headers=token_for("carol"))
    assert "diabetes-outcomes" in problem(r, 400, "invalid-input")["detail"]
    session.add(
        Membership(
            id=uuid.uuid4(),
            project_id=ids["diabetes-outcomes"],
            user_id=ids["carol"],
            role="viewer",
            status="approved",
        )
    )
    session.commit()
    problem(client.post("/api/v1/access-requests", json=ASK, headers=token_for("carol")), 403, "forbidden")
    problem(client.post("/api/v1/access-requests", json=ASK, headers=token_for("sam")), 403, "forbidden")
    problem(client.post("/api/v1/access-requests", json=ASK, headers=token_for("aud")), 403, "forbidden")
    assert _ask(client, token_for("bob"))["requested_by_id"] == str(ids["bob"])
    assert events("access-request.create") and len(events("access-request.create")) == 1


def test_bad_requests(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    alice = token_for("alice")
    r = client.post("/api/v1/access-requests", json={**ASK, "dataset": "nope"}, headers=alice)
    assert "nope" in problem(r, 400, "invalid-input")["detail"]
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "justification": ""}, headers=alice),
        422,
        "validation",
    )
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "justification": "x" * 10_001}, headers=alice),
        422,
        "validation",
    )
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "grant_now": True}, headers=alice),
        422,
        "validation",
    )
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "expires_at": past}, headers=alice),
        400,
        "invalid-input",
    )
    r = client.post("/api/v1/access-requests", json={**ASK, "dataset": "hospital-episodes"}, headers=alice)
    assert "already has access" in problem(r, 409, "duplicate")["detail"]
    _ask(client, alice)
    problem(client.post("/api/v1/access-requests", json=ASK, headers=alice), 409, "duplicate")
    client.patch("/api/v1/datasets/gp-prescribing", json={"status": "retired"}, headers=token_for("sam"))
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "dataset": "gp-prescribing"}, headers=alice),
        409,
        "conflict",
    )
    project = session.get(Project, ids["school-attainment"])
    assert project is not None
    project.status = "rejected"
    session.commit()
    problem(
        client.post("/api/v1/access-requests", json={**ASK, "project": "school-attainment"}, headers=alice),
        409,
        "conflict",
    )
    assert len(events("access-request.create")) == 1


def test_visibility_of_requests(client: TestClient, token_for: TokenFor) -> None:
    asked = _ask(client, token_for("alice"))
    assert client.get("/api/v1/access-requests", headers=token_for("carol")).json()["items"] == []
    problem(
        client.get(f"/api/v1/access-requests/{asked['id']}", headers=token_for("carol")), 404, "not-found"
    )
    problem(
        client.post(f"/api/v1/access-requests/{asked['id']}/approve", headers=token_for("olivia")),
        403,
        "forbidden",
    )
    problem(client.get("/api/v1/access-requests/not-a-uuid", headers=token_for("sam")), 404, "not-found")
    bob_sees = client.get(
        "/api/v1/access-requests", params={"status": "pending"}, headers=token_for("bob")
    ).json()
    assert [r["id"] for r in bob_sees["items"]] == [asked["id"]]
    all_requests = client.get("/api/v1/access-requests", headers=token_for("aud")).json()["items"]
    assert len(all_requests) == 2
    r = client.get(
        "/api/v1/access-requests", params={"project": "school-attainment"}, headers=token_for("carol")
    )
    problem(r, 400, "invalid-input")


def test_reject_needs_a_note(client: TestClient, token_for: TokenFor) -> None:
    asked = _ask(client, token_for("alice"))
    url = f"/api/v1/access-requests/{asked['id']}"
    problem(client.post(f"{url}/reject", json={"note": "  "}, headers=token_for("sam")), 422, "validation")
    problem(client.post(f"{url}/reject", json={}, headers=token_for("sam")), 422, "validation")
    r = client.post(
        f"{url}/reject", json={"note": "census is not needed for this question"}, headers=token_for("sam")
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["grant_id"] is None
    assert [e.summary["note"] for e in events("access-request.reject")] == [
        "census is not needed for this question"
    ]
    body = problem(client.post(f"{url}/approve", headers=token_for("stella")), 409, "illegal-transition")
    assert "rejected" in body["detail"] and body["allowed_actions"] == []
    assert _ask(client, token_for("alice"))["status"] == "pending"


def test_grants_list_and_revoke(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    sam = token_for("sam")
    [grant] = client.get(
        "/api/v1/grants", params={"project": "diabetes-outcomes", "active": True}, headers=token_for("alice")
    ).json()["items"]
    assert grant["dataset_id"] == str(ids["hospital-episodes"]) and grant["allowed_actions"] == []
    assert client.get(f"/api/v1/grants/{grant['id']}", headers=sam).json()["allowed_actions"] == ["revoke"]
    assert client.get("/api/v1/grants", headers=token_for("carol")).json()["items"] == []
    problem(client.get(f"/api/v1/grants/{grant['id']}", headers=token_for("carol")), 404, "not-found")
    url = f"/api/v1/grants/{grant['id']}/revoke"
    problem(client.post(url, json={"reason": "x"}, headers=token_for("alice")), 403, "forbidden")
    problem(client.post(url, json={}, headers=sam), 422, "validation")
    assert rechecks == []
    r = client.post(url, json={"reason": "data breach at the custodian"}, headers=sam)
    assert (
        r.status_code == 200
        and r.json()["status"] == "revoked"
        and r.json()["revoked_by_id"] == str(ids["sam"])
    )
    assert rechecks == [
        {
            "cause": "grant.revoke",
            "project_id": str(ids["diabetes-outcomes"]),
            "user_id": None,
            "dataset_id": str(ids["hospital-episodes"]),
        }
    ]
    body = problem(client.post(url, json={"reason": "again"}, headers=sam), 409, "illegal-transition")
    assert body["allowed_actions"] == []
    assert [e.summary["reason"] for e in events("grant.revoke")] == ["data breach at the custodian"]
    assert client.get("/api/v1/grants", params={"active": True}, headers=sam).json()["items"] == []
    assert len(client.get("/api/v1/grants", params={"active": False}, headers=sam).json()["items"]) == 1
    _ask(client, token_for("alice"), dataset="hospital-episodes")


def test_expired_grant_shows_expired_and_can_still_be_revoked(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    grant = session.scalar(select(Grant).where(Grant.project_id == ids["diabetes-outcomes"]))
    assert grant is not None
    grant.expires_at = datetime.now(UTC) - timedelta(days=1)
    session.commit()
    got = client.get(f"/api/v1/grants/{grant.id}", headers=token_for("sam")).json()
    assert got["status"] == "expired"
    assert (
        client.get("/api/v1/grants", params={"active": True}, headers=token_for("sam")).json()["items"] == []
    )
    r = client.post(f"/api/v1/grants/{grant.id}/revoke", json={"reason": "tidy up"}, headers=token_for("sam"))
    assert r.json()["status"] == "revoked"
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(AccessRequest)) == 1
