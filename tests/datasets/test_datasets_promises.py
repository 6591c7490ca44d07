"""The promises about Safe Data: an application's datasets are frozen under review, nobody decides their
own access, and the buttons, the refusals and the moves agree. Each goes through the API as an attacker would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from governance.core.db import get_engine, transaction
from governance.models import AccessRequest, Grant
from tests.conftest import TokenFor
from tests.identity.api_support import events, problem

FROZEN = "the application is under review; its datasets are frozen until a decision"
NEW_PROJECT = {
    "slug": "air-quality",
    "title": "Air quality and asthma admissions",
    "lay_summary": "Does air pollution send more children to hospital?",
    "purpose": "Time-series analysis",
    "public_benefit": "Cleaner air policy",
    "tier": 1,
    "starts_on": "2026-01-01",
    "ends_on": "2027-06-30",
}


def _ask(client: TestClient, headers: dict[str, str], project: str, dataset: str) -> Any:
    return client.post(
        "/api/v1/access-requests",
        json={"project": project, "dataset": dataset, "justification": "Needed for the aims."},
        headers=headers,
    )


def _grants() -> int:
    with transaction() as s:
        return s.scalar(select(func.count()).select_from(Grant)) or 0


def test_promise_dual_approval_datasets_frozen_from_submission_until_a_decision(
    client: TestClient, token_for: TokenFor
) -> None:
    # school-attainment (alice leads it) is submitted: no dataset joins what the stewards are approving.
    r = _ask(client, token_for("alice"), "school-attainment", "census-extract")
    assert problem(r, 409, "conflict")["detail"] == FROZEN
    assert events("access-request.create") == []
    # Nor through a request asked for while the application was a draft, then decided during review.
    carol = token_for("carol")
    assert client.post("/api/v1/projects", json=NEW_PROJECT, headers=carol).status_code == 201
    asked = _ask(client, carol, "air-quality", "census-extract")
    assert asked.status_code == 201, asked.text
    url = f"/api/v1/access-requests/{asked.json()['id']}"
    assert client.post("/api/v1/projects/air-quality/submit", headers=carol).status_code == 200
    view = client.get(url, headers=token_for("sam")).json()
    reasons = {u["action"]: u["reason"] for u in view["unavailable_actions"]}
    assert "approve" not in view["allowed_actions"] and reasons["approve"] == FROZEN
    r = client.post(url + "/approve", headers=token_for("sam"))
    assert problem(r, 409, "conflict")["detail"] == FROZEN  # the button and the refusal agree
    assert _grants() == 1 and events("access-request.approve") == [] and events("grant.create") == []
    # After a decision (here: returned for changes) the access can be decided again.
    r = client.post(
        "/api/v1/projects/air-quality/return", json={"note": "Say why census"}, headers=token_for("stella")
    )
    assert r.status_code == 200, r.text
    r = client.post(url + "/approve", headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["grant_id"]


def test_promise_nobody_decides_their_own_access_request(client: TestClient, token_for: TokenFor) -> None:
    admin = token_for("admin")
    project = {"slug": "admin-study", "title": "Admin's study", "tier": 1}
    assert client.post("/api/v1/projects", json=project, headers=admin).status_code == 201
    own = _ask(client, admin, "admin-study", "census-extract").json()
    view = client.get(f"/api/v1/access-requests/{own['id']}", headers=admin).json()
    reasons = {u["action"]: u["reason"] for u in view["unavailable_actions"]}
    assert view["allowed_actions"] == []
    assert (
        reasons["approve"] == reasons["reject"] == "you asked for this access, so someone else must decide it"
    )
    r = client.post(f"/api/v1/access-requests/{own['id']}/approve", headers=admin)
    assert problem(r, 403, "separation-of-duties")["detail"] == reasons["approve"]
    # The researcher who asked is never offered the decision at all: it is not her button.
    asked = _ask(client, token_for("alice"), "diabetes-outcomes", "census-extract").json()
    mine = client.get(f"/api/v1/access-requests/{asked['id']}", headers=token_for("alice")).json()
    assert mine["allowed_actions"] == [] and mine["unavailable_actions"] == []
    assert _grants() == 1


def test_an_illegal_move_names_the_moves_open_to_the_caller(client: TestClient, token_for: TokenFor) -> None:
    asked = _ask(client, token_for("alice"), "diabetes-outcomes", "census-extract").json()
    url = f"/api/v1/access-requests/{asked['id']}"
    r = client.post(f"{url}/reject", json={"note": "Census is not needed"}, headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["decision_note"] == "Census is not needed"
    [rejected] = events("access-request.reject")
    assert rejected.summary["from"] == "pending" and rejected.summary["to"] == "rejected"
    body = problem(client.post(f"{url}/approve", headers=token_for("stella")), 409, "illegal-transition")
    assert "rejected" in body["detail"] and body["allowed_actions"] == []
    assert body["current_state"] == "rejected"


def test_revoking_a_grant_is_one_declared_move(
    client: TestClient, token_for: TokenFor, rechecks: list[dict[str, Any]]
) -> None:
    sam = token_for("sam")
    [grant] = client.get("/api/v1/grants", params={"active": True}, headers=sam).json()["items"]
    assert grant["status"] == "active" and grant["allowed_actions"] == ["revoke"]
    url = f"/api/v1/grants/{grant['id']}/revoke"
    problem(client.post(url, json={"reason": "  "}, headers=sam), 422, "validation")
    assert rechecks == [] and events("grant.revoke") == []
    r = client.post(url, json={"reason": "agreement with the custodian ended"}, headers=sam)
    assert r.json()["status"] == "revoked" and r.json()["allowed_actions"] == []
    [revoked] = events("grant.revoke")
    assert (revoked.summary["from"], revoked.summary["to"]) == ("active", "revoked")
    assert revoked.project_id == grant["project_id"] and len(rechecks) == 1


@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_listing_access_requests_asks_a_fixed_number_of_queries(
    client: TestClient, token_for: TokenFor
) -> None:
    """Each row's actions need its project and dataset: they are fetched for the page, not per row."""
    admin, sam = token_for("admin"), token_for("sam")
    for i in range(4):
        dataset = {
            "slug": f"extra-{i}",
            "title": f"Extra {i}",
            "tier": 1,
            "storage_uri": f"s3://tre-data/extra-{i}/",
        }
        assert client.post("/api/v1/datasets", json=dataset, headers=admin).status_code == 201
    assert _ask(client, token_for("alice"), "diabetes-outcomes", "extra-0").status_code == 201
    client.get("/api/v1/access-requests", headers=sam)  # warm up (token, principal)
    with _statements() as one_pending:
        page = client.get("/api/v1/access-requests", headers=sam).json()["items"]
    assert len(page) == 2
    for i in range(1, 4):
        assert _ask(client, token_for("alice"), "diabetes-outcomes", f"extra-{i}").status_code == 201
    with _statements() as four_pending:
        page = client.get("/api/v1/access-requests", headers=sam).json()["items"]
    assert len(page) == 5 and sum(p["allowed_actions"] == ["approve", "reject"] for p in page) == 4
    assert len(four_pending) == len(one_pending), four_pending


def test_the_grant_is_created_with_the_approval_or_not_at_all(
    client: TestClient, token_for: TokenFor
) -> None:
    asked = _ask(client, token_for("alice"), "diabetes-outcomes", "census-extract").json()
    r = client.post(
        f"/api/v1/access-requests/{asked['id']}/approve",
        json={"expires_at": "2000-01-01T00:00:00Z"},
        headers=token_for("sam"),
    )
    problem(r, 400, "invalid-input")
    with transaction() as s:
        row = s.get(AccessRequest, uuid.UUID(asked["id"]))
        assert row is not None and row.status == "pending" and row.decided_by_id is None
    assert _grants() == 1 and events("access-request.approve") == [] and events("grant.create") == []
