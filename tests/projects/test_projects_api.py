from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.models import AuditEvent, Project
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


def test_full_lifecycle_needs_two_independent_stewards_at_tier_2(
    client: TestClient, token_for: TokenFor
) -> None:
    r = client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "draft" and body["allowed_actions"] == ["submit"]
    r = client.post("/api/v1/projects/air-quality/submit", headers=token_for("carol"))
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    r = client.post("/api/v1/projects/air-quality/approve", headers=token_for("sam"))
    assert r.json()["status"] == "in_review"
    r = client.post("/api/v1/projects/air-quality/approve", headers=token_for("sam"))
    assert r.status_code == 409 and "already approved" in r.json()["detail"]
    r = client.post("/api/v1/projects/air-quality/approve", headers=token_for("stella"))
    assert r.json()["status"] == "approved"
    r = client.post("/api/v1/projects/air-quality/activate", headers=token_for("sam"))
    assert r.json()["status"] == "active"


def test_illegal_transition_names_allowed_moves(client: TestClient, token_for: TokenFor) -> None:
    r = client.post("/api/v1/projects/diabetes-outcomes/approve", headers=token_for("sam"))
    assert r.status_code == 409
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("/illegal-transition")
    assert sorted(problem["allowed_actions"]) == ["close", "suspend"]
    assert "suspend, close" in problem["detail"]


def test_researcher_sees_only_own_projects_and_404_for_others(
    client: TestClient, token_for: TokenFor
) -> None:
    r = client.get("/api/v1/projects", headers=token_for("carol"))
    assert r.status_code == 200 and r.json()["items"] == []
    r = client.get("/api/v1/projects/diabetes-outcomes", headers=token_for("carol"))
    assert r.status_code == 404
    slugs = {p["slug"] for p in client.get("/api/v1/projects", headers=token_for("alice")).json()["items"]}
    assert slugs == {"diabetes-outcomes", "school-attainment"}


def test_member_steward_cannot_approve(client: TestClient, token_for: TokenFor, session: Session) -> None:
    client.post("/api/v1/projects", json=NEW, headers=token_for("carol"))
    r = client.post(
        "/api/v1/projects/air-quality/members", json={"username": "sam"}, headers=token_for("carol")
    )
    assert r.status_code == 201 and r.json()["status"] == "invited"
    r = client.post(f"/api/v1/projects/air-quality/members/{r.json()['id']}/accept", headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["status"] == "requested"
    client.post("/api/v1/projects/air-quality/submit", headers=token_for("carol"))
    r = client.post("/api/v1/projects/air-quality/approve", headers=token_for("sam"))
    assert r.status_code == 403 and r.json()["type"].endswith("/separation-of-duties")
    denied = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")
    )
    assert denied == 1


def test_pagination_is_keyset_and_complete(client: TestClient, token_for: TokenFor) -> None:
    for i in range(5):
        client.post("/api/v1/projects", json={**NEW, "slug": f"p-{i}"}, headers=token_for("carol"))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/projects", params=params, headers=token_for("sam")).json()
        seen += [p["slug"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7
    r = client.get("/api/v1/projects", params={"cursor": "garbage!"}, headers=token_for("sam"))
    assert r.status_code == 400 and "cursor" in r.json()["detail"]


def test_bad_input_is_4xx_and_writes_nothing(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(Project))
    h = token_for("carol")
    cases = [
        client.post(
            "/api/v1/projects", content=b"{not json", headers={**h, "content-type": "application/json"}
        ),
        client.post("/api/v1/projects", json={**NEW, "tier": "two"}, headers=h),
        client.post("/api/v1/projects", json={**NEW, "tier": 9}, headers=h),
        client.post("/api/v1/projects", json={**NEW, "title": "x" * 301}, headers=h),
        client.post("/api/v1/projects", json={**NEW, "colour": "blue"}, headers=h),
        client.post("/api/v1/projects", json={**NEW, "slug": "Bad Slug"}, headers=h),
        client.post("/api/v1/projects", json={**NEW, "ends_on": "2025-01-01"}, headers=h),
        client.get("/api/v1/projects", params={"status": "sleeping"}, headers=h),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"]
    assert cases[0].status_code == 400 and cases[0].json()["type"].endswith("/malformed-json")
    r = client.post("/api/v1/projects", json={**NEW, "slug": "diabetes-outcomes"}, headers=h)
    assert r.status_code == 409
    assert session.scalar(select(func.count()).select_from(Project)) == before
