from __future__ import annotations

import uuid
from typing import Any, get_args

from fastapi.testclient import TestClient

from governance.auth.scopes import ROLES
from governance.identity.schemas import RoleName
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem


def _group(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    r = client.post("/api/v1/groups", json={"name": name, "description": f"{name} team"}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_role_names_match_the_catalogue() -> None:
    assert set(get_args(RoleName)) == set(ROLES)


def test_group_crud(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    group = _group(client, admin, "analysts")
    assert group["source"] == "local"
    problem(client.post("/api/v1/groups", json={"name": "analysts"}, headers=admin), 409, "duplicate")
    assert client.get("/api/v1/groups/analysts", headers=token_for("aud")).json()["id"] == group["id"]
    assert client.get(f"/api/v1/groups/{group['id']}", headers=token_for("sam")).json()["name"] == "analysts"
    _group(client, admin, "modellers")
    r = client.patch("/api/v1/groups/analysts", json={"name": "modellers"}, headers=admin)
    problem(r, 409, "duplicate")
    r = client.patch("/api/v1/groups/analysts", json={"description": "Statistical analysts"}, headers=admin)
    assert r.status_code == 200 and r.json()["description"] == "Statistical analysts"
    names = [g["name"] for g in client.get("/api/v1/groups", headers=admin).json()["items"]]
    assert names == ["analysts", "modellers"]
    assert len(events("group.create")) == 2 and len(events("group.update")) == 1
    problem(client.get("/api/v1/groups", headers=token_for("carol")), 403, "forbidden")
    problem(client.post("/api/v1/groups", json={"name": "x"}, headers=token_for("sam")), 403, "forbidden")
    problem(client.get("/api/v1/groups/nope", headers=admin), 404, "not-found")
    problem(client.post("/api/v1/groups", json={"name": "x" * 201}, headers=admin), 422, "validation")
    problem(
        client.post("/api/v1/groups", json={"name": "ok", "colour": "red"}, headers=admin), 422, "validation"
    )


def test_group_members(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    admin = token_for("admin")
    _group(client, admin, "analysts")
    r = client.post("/api/v1/groups/analysts/members", json={"username": "carol"}, headers=admin)
    assert r.status_code == 201 and r.json()["username"] == "carol"
    problem(
        client.post("/api/v1/groups/analysts/members", json={"username": "carol"}, headers=admin),
        409,
        "duplicate",
    )
    r = client.post("/api/v1/groups/analysts/members", json={"username": "zed"}, headers=admin)
    assert "zed" in problem(r, 400, "invalid-input")["detail"]
    members = client.get("/api/v1/groups/analysts/members", headers=token_for("sam")).json()["items"]
    assert [m["username"] for m in members] == ["carol"]
    r = client.delete(f"/api/v1/groups/analysts/members/{ids['carol']}", headers=admin)
    assert r.status_code == 200
    assert rechecks == [
        {"cause": "group.member-remove", "project_id": None, "user_id": str(ids["carol"]), "dataset_id": None}
    ]
    problem(client.delete(f"/api/v1/groups/analysts/members/{ids['carol']}", headers=admin), 404, "not-found")
    assert client.get("/api/v1/groups/analysts/members", headers=admin).json()["items"] == []
    assert len(events("group.member-add")) == 1 and len(events("group.member-remove")) == 1


def test_nobody_adds_themselves_to_a_group_carrying_roles(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    _group(client, admin, "stewards")
    r = client.post(
        "/api/v1/role-bindings", json={"role": "data_steward", "group": "stewards"}, headers=admin
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/groups/stewards/members", json={"username": "admin"}, headers=admin)
    assert "data_steward" in problem(r, 403, "separation-of-duties")["detail"]
    groups_only = token_for("admin", scopes=["read:groups", "write:groups"])
    r = client.post("/api/v1/groups/stewards/members", json={"username": "carol"}, headers=groups_only)
    assert "write:role-bindings" in problem(r, 403, "forbidden")["detail"]
    assert events("group.member-add") == []
    r = client.post("/api/v1/groups/stewards/members", json={"username": "carol"}, headers=admin)
    assert r.status_code == 201


def test_role_binding_grants_and_removes_scopes(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], rechecks: list[dict[str, Any]]
) -> None:
    admin = token_for("admin")
    r = client.post(
        "/api/v1/role-bindings", json={"role": "data_steward", "username": "carol"}, headers=admin
    )
    assert r.status_code == 201, r.text
    binding = r.json()
    assert binding["username"] == "carol" and binding["source"] == "local"
    assert "data_steward" in client.get("/api/v1/me", headers=token_for("carol")).json()["roles"]
    problem(
        client.post(
            "/api/v1/role-bindings", json={"role": "data_steward", "username": "carol"}, headers=admin
        ),
        409,
        "duplicate",
    )
    mine = client.get("/api/v1/role-bindings", params={"user": "carol"}, headers=token_for("aud")).json()[
        "items"
    ]
    assert sorted(b["role"] for b in mine) == ["data_steward", "researcher"]
    stewards = client.get("/api/v1/role-bindings", params={"role": "data_steward"}, headers=admin).json()[
        "items"
    ]
    assert sorted(b["username"] for b in stewards) == ["carol", "sam", "stella"]
    assert (
        client.get(f"/api/v1/role-bindings/{binding['id']}", headers=admin).json()["role"] == "data_steward"
    )
    r = client.delete(f"/api/v1/role-bindings/{binding['id']}", headers=admin)
    assert r.status_code == 200
    assert rechecks == [
        {"cause": "role-binding.delete", "project_id": None, "user_id": str(ids["carol"]), "dataset_id": None}
    ]
    assert client.get("/api/v1/me", headers=token_for("carol")).json()["roles"] == ["researcher"]
    problem(client.get(f"/api/v1/role-bindings/{binding['id']}", headers=admin), 404, "not-found")
    assert len(events("role-binding.create")) == 1 and len(events("role-binding.delete")) == 1


def test_nobody_grants_a_role_to_themselves(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    r = client.post("/api/v1/role-bindings", json={"role": "auditor", "username": "admin"}, headers=admin)
    problem(r, 403, "separation-of-duties")
    _group(client, admin, "mine")
    assert (
        client.post("/api/v1/groups/mine/members", json={"username": "admin"}, headers=admin).status_code
        == 201
    )
    r = client.post("/api/v1/role-bindings", json={"role": "auditor", "group": "mine"}, headers=admin)
    problem(r, 403, "separation-of-duties")
    assert events("role-binding.create") == []


def test_role_binding_bad_input(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    for body in (
        {"role": "superuser", "username": "carol"},
        {"role": "auditor", "username": "carol", "group": "g"},
        {"role": "auditor"},
        {"role": "auditor", "username": "carol", "until": "never"},
    ):
        problem(client.post("/api/v1/role-bindings", json=body, headers=admin), 422, "validation")
    r = client.post("/api/v1/role-bindings", json={"role": "auditor", "username": "zed"}, headers=admin)
    assert "zed" in problem(r, 400, "invalid-input")["detail"]
    r = client.post("/api/v1/role-bindings", json={"role": "hub", "username": "carol"}, headers=admin)
    problem(r, 400, "invalid-input")
    problem(
        client.get("/api/v1/role-bindings", params={"group": "nope"}, headers=admin), 400, "invalid-input"
    )
    problem(
        client.post(
            "/api/v1/role-bindings", json={"role": "auditor", "username": "carol"}, headers=token_for("sam")
        ),
        403,
        "forbidden",
    )
    problem(client.get("/api/v1/role-bindings", headers=token_for("carol")), 403, "forbidden")
    assert events("role-binding.create") == []


def test_last_admin_binding_cannot_be_removed(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    [binding] = client.get("/api/v1/role-bindings", params={"role": "admin"}, headers=admin).json()["items"]
    problem(client.delete(f"/api/v1/role-bindings/{binding['id']}", headers=admin), 409, "conflict")
    assert events("role-binding.delete") == []
    assert client.get(f"/api/v1/role-bindings/{binding['id']}", headers=admin).status_code == 200


def test_promise_a_role_cannot_be_granted_to_oneself_through_a_group(
    client: TestClient, token_for: TokenFor
) -> None:
    """The group's members are the parties of the separation-of-duties check: any member who grants the
    group a role is refused, with the reason, and nothing is written."""
    admin = token_for("admin")
    _group(client, admin, "auditors")
    for who in ("carol", "admin"):
        r = client.post("/api/v1/groups/auditors/members", json={"username": who}, headers=admin)
        assert r.status_code == 201, r.text
    r = client.post("/api/v1/role-bindings", json={"role": "auditor", "group": "auditors"}, headers=admin)
    assert "member of group 'auditors'" in problem(r, 403, "separation-of-duties")["detail"]
    assert events("role-binding.create") == []
    r = client.delete(f"/api/v1/groups/auditors/members/{_user_id(client, admin, 'admin')}", headers=admin)
    assert r.status_code == 200
    r = client.post("/api/v1/role-bindings", json={"role": "auditor", "group": "auditors"}, headers=admin)
    assert r.status_code == 201, r.text


def _user_id(client: TestClient, headers: dict[str, str], username: str) -> str:
    return str(client.get(f"/api/v1/users/{username}", headers=headers).json()["id"])
