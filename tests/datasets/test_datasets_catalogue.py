from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

NEW = {
    "slug": "mortality-register",
    "title": "Mortality register",
    "description": "Deaths registered 2010-2025.",
    "tier": 3,
    "storage_uri": "s3://tre-data/mortality/v1/",
    "use_conditions": "Aggregate outputs only.",
    "custodian": "stella",
}


def test_admin_adds_a_dataset(client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]) -> None:
    r = client.post("/api/v1/datasets", json=NEW, headers=token_for("admin"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["custodian_id"] == str(ids["stella"]) and body["status"] == "active"
    assert body["storage_uri"] == NEW["storage_uri"] and body["allowed_actions"] == ["retire"]
    [event] = events("dataset.create")
    assert event.object_id == body["id"] and event.summary["custodian"] == "stella"
    assert (
        client.get(f"/api/v1/datasets/{body['id']}", headers=token_for("sam")).json()["slug"] == NEW["slug"]
    )


def test_storage_uri_is_hidden_from_researchers(client: TestClient, token_for: TokenFor) -> None:
    r = client.get("/api/v1/datasets/hospital-episodes", headers=token_for("alice"))
    assert r.status_code == 200 and r.json()["storage_uri"] is None and r.json()["title"]
    assert all(
        d["storage_uri"] is None
        for d in client.get("/api/v1/datasets", headers=token_for("olivia")).json()["items"]
    )
    assert client.get("/api/v1/datasets/hospital-episodes", headers=token_for("aud")).json()["storage_uri"]
    assert client.get("/api/v1/datasets/hospital-episodes", headers=token_for("sam")).json()["storage_uri"]


def test_bad_dataset_bodies(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    problem(
        client.post("/api/v1/datasets", json={**NEW, "slug": "census-extract"}, headers=admin),
        409,
        "duplicate",
    )
    r = client.post("/api/v1/datasets", json={**NEW, "custodian": "zed"}, headers=admin)
    assert "zed" in problem(r, 400, "invalid-input")["detail"]
    bad: list[dict[str, Any]] = [
        {**NEW, "tier": 5},
        {**NEW, "storage_uri": "not a uri"},
        {**NEW, "title": "x" * 301},
        {**NEW, "owner": "me"},
        {k: v for k, v in NEW.items() if k != "tier"},
    ]
    for body in bad:
        problem(client.post("/api/v1/datasets", json=body, headers=admin), 422, "validation")
    assert events("dataset.create") == []
    problem(client.post("/api/v1/datasets", json=NEW, headers=token_for("alice")), 403, "forbidden")


def test_catalogue_filters(client: TestClient, token_for: TokenFor) -> None:
    alice = token_for("alice")

    def slugs(**params: Any) -> list[str]:
        return [
            d["slug"] for d in client.get("/api/v1/datasets", params=params, headers=alice).json()["items"]
        ]

    assert sorted(slugs()) == ["census-extract", "gp-prescribing", "hospital-episodes"]
    assert slugs(tier=2) == ["hospital-episodes"]
    assert slugs(q="census") == ["census-extract"]
    assert slugs(status="retired") == []
    problem(client.get("/api/v1/datasets", params={"tier": 9}, headers=alice), 422, "validation")
    problem(client.get("/api/v1/datasets", params={"status": "gone"}, headers=alice), 422, "validation")
    problem(client.get("/api/v1/datasets/nope", headers=alice), 404, "not-found")


def test_retire_and_reactivate(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    sam = token_for("sam")
    r = client.patch("/api/v1/datasets/gp-prescribing", json={"status": "retired"}, headers=sam)
    assert (
        r.status_code == 200
        and r.json()["status"] == "retired"
        and r.json()["allowed_actions"] == ["reactivate"]
    )
    assert rechecks == [
        {
            "cause": "dataset.retire",
            "project_id": None,
            "user_id": None,
            "dataset_id": str(ids["gp-prescribing"]),
        }
    ]
    body = problem(
        client.patch("/api/v1/datasets/gp-prescribing", json={"status": "retired"}, headers=sam),
        409,
        "illegal-transition",
    )
    assert body["allowed_actions"] == ["reactivate"]
    r = client.patch(
        "/api/v1/datasets/gp-prescribing", json={"status": "active", "title": "GP prescriptions"}, headers=sam
    )
    assert r.json()["status"] == "active" and r.json()["title"] == "GP prescriptions"
    r = client.patch("/api/v1/datasets/gp-prescribing", json={"description": "only words"}, headers=sam)
    assert r.status_code == 200 and len(rechecks) == 1
    client.patch("/api/v1/datasets/gp-prescribing", json={"tier": 4}, headers=sam)
    assert len(rechecks) == 2
    # The status changes are the declared moves, audited as such; the other fields as an update.
    assert [(e.summary["from"], e.summary["to"]) for e in events("dataset.retire")] == [("active", "retired")]
    assert [(e.summary["from"], e.summary["to"]) for e in events("dataset.reactivate")] == [
        ("retired", "active")
    ]
    assert [e.summary["after"] for e in events("dataset.update")] == [
        {"title": "GP prescriptions"},
        {"description": "only words"},
        {"tier": 4},
    ]
    problem(
        client.patch(
            "/api/v1/datasets/gp-prescribing", json={"status": "retired"}, headers=token_for("alice")
        ),
        403,
        "forbidden",
    )
    problem(
        client.patch("/api/v1/datasets/gp-prescribing", json={"tier": None}, headers=sam),
        400,
        "invalid-input",
    )
    problem(client.patch("/api/v1/datasets/gp-prescribing", json={}, headers=sam), 400, "invalid-input")
