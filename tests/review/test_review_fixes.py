"""Regressions found in review: token scope escalation, 500s on naive timestamps, N+1 list queries."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from governance.models.identity import Group, GroupMember, RoleBinding, User
from governance.models.projects import Membership
from tests.conftest import TokenFor


def _cursor(created: str, row_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created, row_id]).encode()).decode().rstrip("=")


def test_a_scoped_token_cannot_mint_a_wider_token(client: TestClient, token_for: TokenFor) -> None:
    narrow = token_for("sam", ["read:me"])
    r = client.post(
        "/api/v1/tokens", json={"name": "wider", "scopes": ["read:me", "approve:projects"]}, headers=narrow
    )
    assert r.status_code == 403, r.text
    assert r.json()["required_scopes"] == ["approve:projects"]
    # Narrower or equal is fine, and the default is the token's own scopes, not the roles'.
    r = client.post("/api/v1/tokens", json={"name": "same"}, headers=narrow)
    assert r.status_code == 201 and r.json()["scopes"] == ["read:me"]
    r = client.post("/api/v1/tokens", json={"name": "same", "scopes": ["read:me"]}, headers=narrow)
    assert r.status_code == 201
    # A person's own credential (here a full token) still names any scopes of their roles.
    r = client.post(
        "/api/v1/tokens", json={"name": "steward", "scopes": ["approve:projects"]}, headers=token_for("sam")
    )
    assert r.status_code == 201


def test_a_cursor_with_a_naive_timestamp_is_a_400_not_a_500(client: TestClient, token_for: TokenFor) -> None:
    naive = _cursor("2024-01-01T00:00:00", "00000000-0000-0000-0000-000000000000")
    for path in ("/api/v1/projects", "/api/v1/users", "/api/v1/datasets", "/api/v1/launch-decisions"):
        r = client.get(path, params={"cursor": naive}, headers=token_for("admin"))
        assert r.status_code == 400, (path, r.text)
    aware = _cursor("2000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000")
    r = client.get("/api/v1/projects", params={"cursor": aware}, headers=token_for("admin"))
    assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_membership_expiry_without_a_timezone_is_a_422_not_a_500(
    client: TestClient, token_for: TokenFor
) -> None:
    url = "/api/v1/projects/diabetes-outcomes/members"
    r = client.post(
        url, json={"username": "carol", "expires_at": "2030-01-01T00:00:00"}, headers=token_for("alice")
    )
    assert r.status_code == 422, r.text
    r = client.post(
        url, json={"username": "carol", "expires_at": "2030-01-01T00:00:00Z"}, headers=token_for("alice")
    )
    assert r.status_code == 201, r.text
    r = client.patch(
        f"{url}/{r.json()['id']}", json={"expires_at": "2031-01-01T00:00:00"}, headers=token_for("sam")
    )
    assert r.status_code == 422, r.text


@contextmanager
def _count_user_lookups(db_url: str) -> Iterator[list[str]]:
    from governance.core.db import engine_for

    seen: list[str] = []

    def listener(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "FROM users" in statement:
            seen.append(statement)

    engine = engine_for(db_url)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_member_and_binding_lists_name_users_in_one_query(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID], db_url: str
) -> None:
    group = Group(id=uuid.uuid4(), name="many", source="local")
    session.add(group)
    session.flush()
    for i in range(12):
        user = User(id=uuid.uuid4(), username=f"extra{i}", status="active")
        session.add(user)
        session.flush()
        session.add(
            Membership(
                id=uuid.uuid4(),
                project_id=ids["diabetes-outcomes"],
                user_id=user.id,
                role="researcher",
                status="requested",
            )
        )
        session.add(GroupMember(group_id=group.id, user_id=user.id, source="local"))
        session.add(RoleBinding(id=uuid.uuid4(), role="researcher", user_id=user.id, source="local"))
    session.commit()
    headers = token_for("admin")
    for path, minimum in (
        ("/api/v1/projects/diabetes-outcomes/members", 12),
        ("/api/v1/groups/many/members", 12),
        ("/api/v1/role-bindings?role=researcher", 12),
    ):
        with _count_user_lookups(db_url) as seen:
            r = client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert len(items) >= minimum and all(item["username"] for item in items)
        # Authentication reads the caller once; naming the rows must not add one query per row.
        assert len(seen) <= 3, (path, len(seen))


def test_a_steward_involved_in_a_project_cannot_change_its_memberships(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    # sam (data steward) is also an approved researcher of the project: he must not extend his own access.
    row = Membership(
        id=uuid.uuid4(),
        project_id=ids["diabetes-outcomes"],
        user_id=ids["sam"],
        role="viewer",
        status="approved",
    )
    session.add(row)
    session.commit()
    url = f"/api/v1/projects/diabetes-outcomes/members/{row.id}"
    body = {"role": "researcher", "expires_at": "2099-01-01T00:00:00Z"}
    r = client.patch(url, json=body, headers=token_for("sam"))
    assert r.status_code == 403 and "involved" in r.json()["detail"], r.text
    session.refresh(row)
    assert row.role == "viewer" and row.expires_at is None
    r = client.patch(url, json=body, headers=token_for("stella"))
    assert r.status_code == 200 and r.json()["role"] == "researcher"


def test_a_token_minted_by_a_token_never_outlives_it(client: TestClient, token_for: TokenFor) -> None:
    parent = client.post(
        "/api/v1/tokens", json={"name": "short", "expires_in_hours": 1}, headers=token_for("alice")
    ).json()
    child = client.post(
        "/api/v1/tokens",
        json={"name": "child", "scopes": ["read:me"], "expires_in_hours": 48},
        headers={"Authorization": f"Bearer {parent['token']}"},
    )
    assert child.status_code == 201, child.text
    assert child.json()["expires_at"] <= parent["expires_at"]


def test_a_chunked_json_body_over_the_limit_is_413(client: TestClient, token_for: TokenFor) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"slug": "x", "title": "'
        for _ in range(1100):
            yield b"a" * 1024
        yield b'"}'

    r = client.post(
        "/api/v1/projects",
        content=chunks(),
        headers={**token_for("alice"), "content-type": "application/json"},
    )
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem+json")


def test_the_last_personal_admin_binding_cannot_be_removed_by_counting_group_bindings(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    group = client.post("/api/v1/groups", json={"name": "empty-admins"}, headers=token_for("admin"))
    assert group.status_code == 201, group.text
    bound = client.post(
        "/api/v1/role-bindings", json={"role": "admin", "group": "empty-admins"}, headers=token_for("admin")
    )
    assert bound.status_code == 201, bound.text
    admin_binding = session.scalar(
        select(RoleBinding.id).where(RoleBinding.role == "admin", RoleBinding.user_id.is_not(None))
    )
    r = client.delete(f"/api/v1/role-bindings/{admin_binding}", headers=token_for("admin"))
    assert r.status_code == 409 and "last admin" in r.json()["detail"]
