from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from governance.core.db import transaction
from governance.models import User
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

DAVE = {
    "username": "dave",
    "email": "dave@example.org",
    "display_name": "Dave",
    "organisation": "demo-university",
}


def test_admin_creates_and_reads_a_user(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    r = client.post("/api/v1/users", json=DAVE, headers=token_for("admin"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "active" and body["organisation_id"] == str(ids["demo-university"])
    assert client.get("/api/v1/users/dave", headers=token_for("sam")).json()["id"] == body["id"]
    assert client.get(f"/api/v1/users/{body['id']}", headers=token_for("sam")).json()["username"] == "dave"
    [event] = events("user.create")
    assert event.object_id == body["id"] and event.actor_username == "admin"


def test_duplicate_username_is_409_and_writes_nothing(client: TestClient, token_for: TokenFor) -> None:
    r = client.post("/api/v1/users", json={**DAVE, "username": "carol"}, headers=token_for("admin"))
    problem(r, 409, "duplicate")
    assert events("user.create") == []


def test_unknown_organisation_is_400_naming_it(client: TestClient, token_for: TokenFor) -> None:
    r = client.post("/api/v1/users", json={**DAVE, "organisation": "nowhere"}, headers=token_for("admin"))
    assert "nowhere" in problem(r, 400, "invalid-input")["detail"]
    with transaction() as s:
        assert s.scalar(select(User).where(User.username == "dave")) is None
    assert events("user.create") == []


def test_malformed_bodies_are_422(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    bad: list[dict[str, Any]] = [
        {**DAVE, "is_admin": True},
        {**DAVE, "display_name": "x" * 201},
        {**DAVE, "email": "not-an-email"},
        {**DAVE, "username": "Dave Smith"},
        {**DAVE, "kind": "robot"},
    ]
    for body in bad:
        problem(client.post("/api/v1/users", json=body, headers=admin), 422, "validation")
    problem(client.patch("/api/v1/users/bob", json={"status": "banned"}, headers=admin), 422, "validation")


def test_researcher_sees_only_themselves(client: TestClient, token_for: TokenFor) -> None:
    page = client.get("/api/v1/users", headers=token_for("carol")).json()
    assert [u["username"] for u in page["items"]] == ["carol"]
    assert client.get("/api/v1/users/carol", headers=token_for("carol")).status_code == 200
    problem(client.get("/api/v1/users/bob", headers=token_for("carol")), 404, "not-found")
    problem(
        client.patch("/api/v1/users/bob", json={"display_name": "B"}, headers=token_for("carol")),
        404,
        "not-found",
    )
    problem(client.post("/api/v1/users", json=DAVE, headers=token_for("carol")), 403, "forbidden")


def test_researcher_edits_own_name_but_not_status_or_organisation(
    client: TestClient, token_for: TokenFor
) -> None:
    carol = token_for("carol")
    r = client.patch(
        "/api/v1/users/carol", json={"display_name": "Carol C.", "email": "c@example.org"}, headers=carol
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Carol C."
    [event] = events("user.update")
    assert event.summary["after"] == {"display_name": "Carol C.", "email": "c@example.org"}
    problem(
        client.patch("/api/v1/users/carol", json={"status": "suspended"}, headers=carol), 403, "forbidden"
    )
    problem(client.patch("/api/v1/users/carol", json={"organisation": None}, headers=carol), 403, "forbidden")


def test_suspension_lifecycle_and_recheck(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    admin, bob = token_for("admin"), token_for("bob")
    assert client.get("/api/v1/me", headers=bob).status_code == 200
    r = client.patch("/api/v1/users/bob", json={"status": "suspended"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    assert rechecks == [
        {"cause": "user.suspend", "project_id": None, "user_id": str(ids["bob"]), "dataset_id": None}
    ]
    problem(client.get("/api/v1/me", headers=bob), 403, "forbidden")
    body = problem(
        client.patch("/api/v1/users/bob", json={"status": "suspended"}, headers=admin),
        409,
        "illegal-transition",
    )
    assert sorted(body["allowed_actions"]) == ["deactivate", "reactivate"]
    assert (
        client.patch("/api/v1/users/bob", json={"status": "active"}, headers=admin).json()["status"]
        == "active"
    )
    assert client.get("/api/v1/me", headers=bob).status_code == 200
    r = client.patch("/api/v1/users/bob", json={"status": "deactivated"}, headers=admin)
    assert r.json()["status"] == "deactivated" and len(rechecks) == 2
    body = problem(
        client.patch("/api/v1/users/bob", json={"status": "active"}, headers=admin), 409, "illegal-transition"
    )
    assert body["allowed_actions"] == [] and "none" in body["detail"]
    # Each status change is its declared move, audited as such (not as a profile update).
    moves = sorted(
        events("user.suspend") + events("user.reactivate") + events("user.deactivate"), key=lambda e: e.seq
    )
    assert [(e.action, e.summary["to"]) for e in moves] == [
        ("user.suspend", "suspended"),
        ("user.reactivate", "active"),
        ("user.deactivate", "deactivated"),
    ]
    assert events("user.update") == []


def test_nobody_changes_their_own_status(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    for status in ("suspended", "deactivated"):
        r = client.patch("/api/v1/users/admin", json={"status": status}, headers=admin)
        assert "your own account" in problem(r, 403, "separation-of-duties")["detail"]
    me = client.get("/api/v1/users/admin", headers=admin).json()
    reasons = {u["action"]: u["reason"] for u in me["unavailable_actions"]}
    # The refusal and the button agree word for word.
    assert me["allowed_actions"] == [] and reasons["deactivate"] == r.json()["detail"]
    assert reasons["suspend"] == "you cannot suspend your own account; ask another administrator"
    assert events("user.update") == [] and events("user.suspend") == [] and events("user.deactivate") == []


def test_failed_patch_leaves_nothing_behind(client: TestClient, token_for: TokenFor) -> None:
    r = client.patch(
        "/api/v1/users/bob",
        json={"display_name": "Robert", "organisation": "nowhere"},
        headers=token_for("admin"),
    )
    problem(r, 400, "invalid-input")
    assert (
        client.get("/api/v1/users/bob", headers=token_for("admin")).json()["display_name"] == "Bob Researcher"
    )
    assert events("user.update") == []


def test_list_filters_and_keyset_pages(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    client.patch("/api/v1/users/bob", json={"status": "suspended"}, headers=admin)
    suspended = client.get("/api/v1/users", params={"status": "suspended"}, headers=admin).json()["items"]
    assert [u["username"] for u in suspended] == ["bob"]
    found = client.get("/api/v1/users", params={"q": "STEWARD"}, headers=admin).json()["items"]
    assert {u["username"] for u in found} == {"sam", "stella"}
    assert client.get("/api/v1/users", params={"q": "%"}, headers=admin).json()["items"] == []
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/users", params=params, headers=admin).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 10
    problem(client.get("/api/v1/users", params={"cursor": "garbage"}, headers=admin), 400, "invalid-input")


def test_organisations(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    r = client.post(
        "/api/v1/organisations", json={"slug": "north-uni", "name": "North University"}, headers=admin
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    problem(
        client.post("/api/v1/organisations", json={"slug": "north-uni", "name": "Again"}, headers=admin),
        409,
        "duplicate",
    )
    assert (
        client.get(f"/api/v1/organisations/{org_id}", headers=token_for("sam")).json()["slug"] == "north-uni"
    )
    r = client.patch("/api/v1/organisations/north-uni", json={"name": "Northern University"}, headers=admin)
    assert r.json()["name"] == "Northern University"
    slugs = [o["slug"] for o in client.get("/api/v1/organisations", headers=token_for("sam")).json()["items"]]
    assert slugs == ["demo-university", "north-uni"]
    assert [e.action for e in events("organisation.create") + events("organisation.update")] == [
        "organisation.create",
        "organisation.update",
    ]
    problem(client.get("/api/v1/organisations", headers=token_for("carol")), 403, "forbidden")
    problem(
        client.patch("/api/v1/organisations/north-uni", json={"name": "X"}, headers=token_for("sam")),
        403,
        "forbidden",
    )
    problem(client.get("/api/v1/organisations/nowhere", headers=admin), 404, "not-found")
    problem(
        client.post("/api/v1/organisations", json={"slug": "Bad Slug", "name": "x"}, headers=admin),
        422,
        "validation",
    )
    r = client.patch("/api/v1/users/carol", json={"organisation": "north-uni"}, headers=admin)
    assert r.json()["organisation_id"] == org_id
