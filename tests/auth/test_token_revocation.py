"""The promise that a token's children are revoked with it: the parent link is stored when a token mints a
token, and revoking a token revokes its whole subtree in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from governance.core.clock import utcnow
from governance.core.db import transaction
from governance.models import ApiToken
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _mint(client: TestClient, headers: dict[str, str], name: str) -> dict[str, Any]:
    r = client.post("/api/v1/tokens", json={"name": name, "scopes": ["read:me"]}, headers=headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _family(client: TestClient, token_for: TokenFor) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    parent = _mint(client, token_for("alice"), "parent")
    child = _mint(client, _bearer(parent["token"]), "child")
    grandchild = _mint(client, _bearer(child["token"]), "grandchild")
    return parent, child, grandchild


def test_promise_a_tokens_children_are_revoked_with_it(client: TestClient, token_for: TokenFor) -> None:
    parent, child, grandchild = _family(client, token_for)
    assert child["parent_id"] == parent["id"] and grandchild["parent_id"] == child["id"]
    assert grandchild["status"] == "active" and grandchild["allowed_actions"] == ["revoke"]
    for t in (parent, child, grandchild):
        assert client.get("/api/v1/me", headers=_bearer(t["token"])).status_code == 200
    r = client.delete(f"/api/v1/tokens/{parent['id']}", headers=token_for("alice"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and r.json()["allowed_actions"] == []
    # Refused at authentication, at once, all the way down.
    for t in (parent, child, grandchild):
        problem(client.get("/api/v1/me", headers=_bearer(t["token"])), 401, "not-authenticated")
        problem(
            client.post("/api/v1/tokens", json={"name": "escape"}, headers=_bearer(t["token"])),
            401,
            "not-authenticated",
        )
    # Stored, not only inferred: every descendant row is revoked, each with its own audit event.
    with transaction() as s:
        rows = {str(t.id): t for t in s.scalars(select(ApiToken).where(ApiToken.name != "test"))}
        assert all(rows[t["id"]].revoked_at is not None for t in (parent, child, grandchild))
    revoked = {e.object_id: e for e in events("token.revoke")}
    assert set(revoked) == {parent["id"], child["id"], grandchild["id"]}
    assert sorted(revoked[parent["id"]].summary["descendants_revoked"]) == sorted(
        [child["id"], grandchild["id"]]
    )
    assert revoked[grandchild["id"]].summary["revoked_with"] == child["id"]
    assert all(e.actor_username == "alice" for e in revoked.values())
    # The token that minted the parent is not below it, and still works.
    assert client.get("/api/v1/me", headers=token_for("alice")).status_code == 200


def test_revoking_a_child_leaves_its_parent(client: TestClient, token_for: TokenFor) -> None:
    parent, child, grandchild = _family(client, token_for)
    r = client.delete(f"/api/v1/tokens/{child['id']}", headers=_bearer(parent["token"]))
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/me", headers=_bearer(parent["token"])).status_code == 200
    problem(client.get("/api/v1/me", headers=_bearer(grandchild["token"])), 401, "not-authenticated")
    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=token_for("alice")).json()}
    assert listed[child["id"]]["status"] == listed[grandchild["id"]]["status"] == "revoked"
    assert listed[parent["id"]]["status"] == "active" and listed[parent["id"]]["allowed_actions"] == [
        "revoke"
    ]
    # Revoking again is an illegal move (409 naming the moves open), and writes nothing more.
    body = problem(
        client.delete(f"/api/v1/tokens/{child['id']}", headers=token_for("alice")), 409, "illegal-transition"
    )
    assert body["allowed_actions"] == [] and "revoked" in body["detail"]
    assert len(events("token.revoke")) == 2


def test_promise_a_token_is_refused_when_a_token_above_it_was_revoked_any_way(
    client: TestClient, token_for: TokenFor
) -> None:
    """Even a parent revoked by another path (an operator's SQL, a launch decision ending) stops its tree."""
    parent, child, grandchild = _family(client, token_for)
    with transaction() as s:
        row = s.get(ApiToken, uuid.UUID(parent["id"]))
        assert row is not None
        row.revoked_at = utcnow()
    for t in (child, grandchild):
        r = client.get("/api/v1/me", headers=_bearer(t["token"]))
        assert "revoked with the token that created it" in problem(r, 401, "not-authenticated")["detail"]


def test_only_the_owner_or_a_token_manager_revokes_a_token(client: TestClient, token_for: TokenFor) -> None:
    parent, child, _grandchild = _family(client, token_for)
    problem(client.delete(f"/api/v1/tokens/{parent['id']}", headers=token_for("carol")), 404, "not-found")
    assert client.get("/api/v1/me", headers=_bearer(child["token"])).status_code == 200
    r = client.delete(f"/api/v1/tokens/{parent['id']}", headers=token_for("admin"))  # manage:tokens
    assert r.status_code == 200
    problem(client.get("/api/v1/me", headers=_bearer(child["token"])), 401, "not-authenticated")
    assert {e.actor_username for e in events("token.revoke")} == {"admin"}
