from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from governance.core.db import transaction
from governance.models import EnvironmentProfile, ProfileProject
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

NEW: dict[str, Any] = {
    "slug": "restricted",
    "title": "Restricted workspace",
    "image": "quay.io/jupyter/r-notebook:2026-01-05",
    "cpu": 4,
    "memory_gb": 16,
    "max_tier": 3,
    "egress": "proxy",
    "allowed_networks": ["10.0.0.0/8", "2001:db8::/32"],
    "mfa_required": True,
    "max_session_hours": 6,
    "all_projects": False,
    "projects": ["diabetes-outcomes", "school-attainment"],
}


def _create(client: TestClient, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    r = client.post("/api/v1/environment-profiles", json={**NEW, **extra}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _profile_rows() -> tuple[int, int]:
    with transaction() as s:
        profiles = s.scalar(select(func.count()).select_from(EnvironmentProfile)) or 0
        links = s.scalar(select(func.count()).select_from(ProfileProject)) or 0
    return profiles, links


def test_admin_creates_a_profile_for_some_projects(client: TestClient, token_for: TokenFor) -> None:
    body = _create(client, token_for("admin"))
    assert body["projects"] == ["diabetes-outcomes", "school-attainment"]
    assert body["allowed_networks"] == ["10.0.0.0/8", "2001:db8::/32"] and body["gpu"] == 0
    assert body["status"] == "active" and body["allowed_actions"] == ["retire"]
    [event] = events("profile.create")
    assert event.object_id == body["id"] and len(event.summary["project_ids"]) == 2
    assert (
        client.get(f"/api/v1/environment-profiles/{body['id']}", headers=token_for("sam")).json()["slug"]
        == "restricted"
    )


def test_projects_are_shown_only_as_far_as_the_caller_sees_them(
    client: TestClient, token_for: TokenFor
) -> None:
    _create(client, token_for("admin"), projects=["diabetes-outcomes", "school-attainment"])
    assert client.get("/api/v1/environment-profiles/restricted", headers=token_for("bob")).json()[
        "projects"
    ] == ["diabetes-outcomes"]
    assert (
        client.get("/api/v1/environment-profiles/restricted", headers=token_for("carol")).json()["projects"]
        == []
    )
    slugs = [
        p["slug"]
        for p in client.get("/api/v1/environment-profiles", headers=token_for("carol")).json()["items"]
    ]
    assert slugs == ["standard", "gpu-secure", "restricted"]


def test_bad_profiles_are_refused_and_write_nothing(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    bad: list[dict[str, Any]] = [
        {"allowed_networks": ["10.0.0.1/8"]},
        {"allowed_networks": ["not-a-network"]},
        {"allowed_networks": ["10.0.0.0/33"]},
        {"allowed_networks": [f"10.{i}.0.0/16" for i in range(51)]},
        {"max_session_hours": 0},
        {"max_session_hours": 24 * 7 + 1},
        {"egress": "wide"},
        {"max_tier": 5},
        {"cpu": 0},
        {"image": "bad image name"},
        {"all_projects": True},
        {"sudo": True},
        {"title": "x" * 301},
    ]
    for extra in bad:
        r = client.post("/api/v1/environment-profiles", json={**NEW, **extra}, headers=admin)
        problem(r, 422, "validation")
    r = client.post(
        "/api/v1/environment-profiles", json={**NEW, "projects": ["diabetes-outcomes", "nope"]}, headers=admin
    )
    assert "'nope'" in problem(r, 400, "invalid-input")["detail"]
    problem(
        client.post("/api/v1/environment-profiles", json={**NEW, "slug": "standard"}, headers=admin),
        409,
        "duplicate",
    )
    problem(client.post("/api/v1/environment-profiles", json=NEW, headers=token_for("sam")), 403, "forbidden")
    assert _profile_rows() == (2, 0)
    assert events("profile.create") == []
    problem(client.get("/api/v1/environment-profiles/nope", headers=admin), 404, "not-found")


def test_narrowing_rechecks_running_servers(
    client: TestClient, token_for: TokenFor, rechecks: list[dict[str, Any]]
) -> None:
    admin = token_for("admin")
    url = "/api/v1/environment-profiles/standard"
    r = client.patch(url, json={"max_session_hours": 10, "title": "Standard (longer)"}, headers=admin)
    assert r.status_code == 200 and r.json()["max_session_hours"] == 10
    assert rechecks == []
    r = client.patch(url, json={"max_session_hours": 4}, headers=admin)
    assert r.json()["max_session_hours"] == 4
    assert rechecks == [{"cause": "profile.update", "project_id": None, "user_id": None, "dataset_id": None}]
    client.patch(url, json={"allowed_networks": ["192.168.0.0/16"]}, headers=admin)
    client.patch(url, json={"allowed_networks": ["192.168.0.0/16", "10.0.0.0/8"]}, headers=admin)
    client.patch(url, json={"egress": "open"}, headers=admin)
    assert len(rechecks) == 2
    client.patch(url, json={"egress": "none"}, headers=admin)
    client.patch(url, json={"mfa_required": True}, headers=admin)
    assert len(rechecks) == 4
    [first, *_] = events("profile.update")
    assert first.summary["before"]["max_session_hours"] == "8.0"


def test_removing_a_project_rechecks_that_project(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    admin = token_for("admin")
    _create(client, admin)
    r = client.patch(
        "/api/v1/environment-profiles/restricted", json={"projects": ["diabetes-outcomes"]}, headers=admin
    )
    assert r.json()["projects"] == ["diabetes-outcomes"]
    assert rechecks == [
        {
            "cause": "profile.update",
            "project_id": str(ids["school-attainment"]),
            "user_id": None,
            "dataset_id": None,
        }
    ]
    [event] = events("profile.update")
    assert event.summary["projects_removed"] == [str(ids["school-attainment"])]
    r = client.patch("/api/v1/environment-profiles/restricted", json={"all_projects": True}, headers=admin)
    assert r.json()["all_projects"] is True and r.json()["projects"] == []
    assert len(rechecks) == 1
    problem(
        client.patch(
            "/api/v1/environment-profiles/restricted", json={"projects": ["school-attainment"]}, headers=admin
        ),
        400,
        "invalid-input",
    )
    r = client.patch("/api/v1/environment-profiles/standard", json={"all_projects": False}, headers=admin)
    assert r.json()["projects"] == [] and len(rechecks) == 2


def test_retire_lifecycle(client: TestClient, token_for: TokenFor, rechecks: list[dict[str, Any]]) -> None:
    admin = token_for("admin")
    url = "/api/v1/environment-profiles/gpu-secure"
    r = client.patch(url, json={"status": "retired"}, headers=admin)
    assert (
        r.json()["status"] == "retired"
        and r.json()["allowed_actions"] == ["reactivate"]
        and len(rechecks) == 1
    )
    body = problem(client.patch(url, json={"status": "retired"}, headers=admin), 409, "illegal-transition")
    assert body["allowed_actions"] == ["reactivate"]
    active = client.get("/api/v1/environment-profiles", params={"status": "active"}, headers=admin).json()[
        "items"
    ]
    assert [p["slug"] for p in active] == ["standard"]
    assert client.patch(url, json={"status": "active"}, headers=admin).json()["status"] == "active"
    problem(client.patch(url, json={"cpu": None}, headers=admin), 400, "invalid-input")
    problem(client.patch(url, json={"status": "deleted"}, headers=admin), 422, "validation")
    problem(client.patch(url, json={"cpu": 1}, headers=token_for("alice")), 403, "forbidden")
    assert len(events("profile.retire")) == 1 and len(events("profile.reactivate")) == 1
    assert events("profile.update") == []  # the status changes are the declared moves
