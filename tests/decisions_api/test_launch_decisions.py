from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from governance.core.db import get_engine
from governance.models import ApiToken, AuditEvent, LaunchDecision
from tests.conftest import TokenFor

ASK: dict[str, Any] = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "server_name": "",
    "client_ip": "10.1.2.3",
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}


def _ask(client: TestClient, token_for: TokenFor, **changes: Any) -> dict[str, Any]:
    r = client.post("/api/v1/launch-decisions", json={**ASK, **changes}, headers=token_for("jupyterhub"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_alice_is_allowed_with_obligations_and_a_workspace_token(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    answer = _ask(client, token_for)
    assert answer["allowed"] is True, answer["safes"]
    assert all(s["allowed"] for s in answer["safes"].values())
    ob = answer["obligations"]
    assert ob["image"].startswith("quay.io/jupyter/scipy-notebook")
    assert [m["storage_uri"] for m in ob["mounts"]] == ["s3://tre-data/hospital-episodes/v1/"]
    assert all(m["read_only"] for m in ob["mounts"]) and ob["egress"] == "none"
    env = ob["environment"]
    assert env["GOVERNANCE_URL"] and env["GOVERNANCE_TOKEN"].startswith("fsg_")
    assert answer["expires_at"] and len(answer["policy_version"]) == 64
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {env['GOVERNANCE_TOKEN']}"})
    assert me.status_code == 403  # the workspace token may only submit outputs for this project
    row = session.get(LaunchDecision, __import__("uuid").UUID(answer["decision_id"]))
    assert row is not None and row.allowed and row.obligations is not None
    assert row.obligations["environment"]["GOVERNANCE_TOKEN"] == "(redacted)"
    token = session.get(ApiToken, row.workspace_token_id)
    assert token is not None and token.scopes == ["create:outputs"] and token.project_id == row.project_id
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "launch.decide"))
    assert audit is not None and audit.summary["allowed"] is True


def test_bob_is_refused_for_safe_people(client: TestClient, token_for: TokenFor) -> None:
    answer = _ask(client, token_for, username="bob")
    assert answer["allowed"] is False and answer["obligations"] is None
    assert answer["safes"]["people"]["allowed"] is False
    assert any("accreditation" in r for r in answer["safes"]["people"]["reasons"])
    assert answer["safes"]["projects"]["allowed"] is True


def test_carol_is_refused_for_safe_projects(client: TestClient, token_for: TokenFor) -> None:
    answer = _ask(client, token_for, username="carol")
    assert answer["allowed"] is False
    assert answer["safes"]["projects"]["allowed"] is False and answer["safes"]["projects"]["reasons"]
    assert answer["safes"]["people"]["allowed"] is True


def test_ungranted_dataset_is_refused_for_safe_data(client: TestClient, token_for: TokenFor) -> None:
    answer = _ask(client, token_for, datasets=["hospital-episodes", "gp-prescribing"])
    assert answer["allowed"] is False and answer["safes"]["data"]["allowed"] is False
    assert any("gp-prescribing" in r for r in answer["safes"]["data"]["reasons"])


def test_mfa_profile_needs_mfa_and_the_network(client: TestClient, token_for: TokenFor) -> None:
    answer = _ask(client, token_for, profile="gpu-secure")
    assert answer["safes"]["people"]["allowed"] is False
    answer = _ask(client, token_for, profile="gpu-secure", auth={"mfa": False, "amr": ["pwd", "otp"]})
    assert answer["allowed"] is True
    answer = _ask(client, token_for, profile="gpu-secure", client_ip="192.168.1.9", auth={"amr": ["otp"]})
    assert answer["safes"]["settings"]["allowed"] is False


def test_unknown_names_are_denials_that_do_not_leak(client: TestClient, token_for: TokenFor) -> None:
    unknown = _ask(client, token_for, project="no-such-project")
    not_member = _ask(client, token_for, username="carol")
    assert unknown["allowed"] is False and unknown["safes"]["projects"]["allowed"] is False
    assert _ask(client, token_for, username="nobody")["safes"]["people"]["allowed"] is False
    assert _ask(client, token_for, profile="nope")["safes"]["settings"]["allowed"] is False
    assert _ask(client, token_for, datasets=["nope"])["safes"]["data"]["allowed"] is False
    assert unknown["safes"]["projects"]["reasons"][0].replace("no-such-project", "X") == not_member["safes"][
        "projects"
    ]["reasons"][0].replace("diabetes-outcomes", "X")


def test_malformed_questions_are_422_and_only_the_hub_may_ask(
    client: TestClient, token_for: TokenFor
) -> None:
    h = token_for("jupyterhub")
    for bad in (
        {**ASK, "datasets": "x"},
        {**ASK, "extra": 1},
        {k: v for k, v in ASK.items() if k != "username"},
        {**ASK, "requested": {"cpu": -1}},
    ):
        r = client.post("/api/v1/launch-decisions", json=bad, headers=h)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert client.post("/api/v1/launch-decisions", json=ASK, headers=token_for("alice")).status_code == 403


def test_simulation_has_no_side_effects(client: TestClient, token_for: TokenFor, session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    r = client.post("/api/v1/launch-decisions/simulate", json=ASK, headers=token_for("sam"))
    assert r.status_code == 200 and r.json()["allowed"] is True and r.json()["simulated"] is True
    assert "GOVERNANCE_TOKEN" not in r.json()["obligations"]["environment"]
    assert session.scalar(select(func.count()).select_from(LaunchDecision)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_past_decision_can_be_read(client: TestClient, token_for: TokenFor) -> None:
    answer = _ask(client, token_for, username="bob")
    r = client.get(f"/api/v1/launch-decisions/{answer['decision_id']}", headers=token_for("aud"))
    assert r.status_code == 200 and r.json()["inputs"]["username"] == "bob" and r.json()["allowed"] is False
    assert (
        client.get(
            f"/api/v1/launch-decisions/{answer['decision_id']}", headers=token_for("alice")
        ).status_code
        == 403
    )


def test_slice_is_loaded_with_a_fixed_number_of_queries(client: TestClient, token_for: TokenFor) -> None:
    h = token_for("jupyterhub")
    client.post("/api/v1/launch-decisions/simulate", json=ASK, headers=token_for("sam"))  # warm caches
    counts = []
    for datasets in (
        ["hospital-episodes"],
        ["hospital-episodes", "census-extract", "gp-prescribing", "x", "y"],
    ):
        statements: list[str] = []

        def count(*args: Any, statements: list[str] = statements) -> None:
            statements.append(str(args[2]))

        event.listen(get_engine(), "before_cursor_execute", count)
        try:
            client.post(
                "/api/v1/launch-decisions/simulate",
                json={**ASK, "datasets": datasets},
                headers=token_for("sam"),
            )
        finally:
            event.remove(get_engine(), "before_cursor_execute", count)
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1] <= 14, counts
    del h
