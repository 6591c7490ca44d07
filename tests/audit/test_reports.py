"""Auditor reports: dataset access and why, a project's launch decisions, releases with their records."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.core.clock import as_utc, utcnow
from governance.models import Accreditation, Agreement, Grant, Membership, OutputRelease, OutputRequest
from tests.conftest import TokenFor

REPORTS = "/api/v1/audit/reports"
ASK: dict[str, Any] = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "server_name": "",
    "client_ip": "10.1.2.3",
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}


def test_who_can_open_a_dataset_now_and_the_chain_that_lets_them(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    r = client.get(f"{REPORTS}/dataset-access/hospital-episodes", headers=token_for("aud"))
    assert r.status_code == 200, r.text
    body = r.json()
    # bob is a member too, but his accreditation expired; carol is in no project
    assert [(u["username"], u["project"]) for u in body["users"]] == [("alice", "diabetes-outcomes")]
    alice = body["users"][0]
    grant = session.scalar(select(Grant).where(Grant.project_id == ids["diabetes-outcomes"]))
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == ids["alice"], Membership.project_id == ids["diabetes-outcomes"]
        )
    )
    accreditation = session.scalar(select(Accreditation).where(Accreditation.user_id == ids["alice"]))
    agreement = session.scalar(select(Agreement).where(Agreement.user_id == ids["alice"]))
    assert grant and membership and accreditation and agreement
    assert alice["grant"]["id"] == str(grant.id) and alice["membership"]["id"] == str(membership.id)
    assert alice["accreditation"]["id"] == str(accreditation.id) and alice["agreement"]["id"] == str(
        agreement.id
    )
    expiries = [
        as_utc(e)
        for e in (grant.expires_at, membership.expires_at, accreditation.expires_at, agreement.expires_at)
    ]
    assert datetime.fromisoformat(alice["access_until"]) == min(e for e in expiries if e is not None)

    # revoking the grant ends everyone's access at once; the report says so
    grant.revoked_at = utcnow() - timedelta(seconds=1)
    session.commit()
    after = client.get(f"{REPORTS}/dataset-access/hospital-episodes", headers=token_for("aud")).json()
    assert after["users"] == []
    assert (
        client.get(f"{REPORTS}/dataset-access/gp-prescribing", headers=token_for("aud")).json()["users"] == []
    )
    assert client.get(f"{REPORTS}/dataset-access/no-such-data", headers=token_for("aud")).status_code == 404
    assert (
        client.get(f"{REPORTS}/dataset-access/hospital-episodes", headers=token_for("alice")).status_code
        == 403
    )


def test_every_launch_decision_of_a_project(client: TestClient, token_for: TokenFor) -> None:
    hub = token_for("jupyterhub")
    assert client.post("/api/v1/launch-decisions", json=ASK, headers=hub).json()["allowed"] is True
    denied = client.post("/api/v1/launch-decisions", json={**ASK, "username": "bob"}, headers=hub).json()
    assert denied["allowed"] is False
    r = client.get(
        f"{REPORTS}/project-decisions/diabetes-outcomes", params={"limit": 1}, headers=token_for("aud")
    )
    assert r.status_code == 200, r.text
    first = r.json()
    rest = client.get(
        f"{REPORTS}/project-decisions/diabetes-outcomes",
        params={"cursor": first["next_cursor"]},
        headers=token_for("aud"),
    ).json()
    decisions = first["items"] + rest["items"]
    assert [(d["username"], d["allowed"]) for d in decisions] == [("alice", True), ("bob", False)]
    assert decisions[1]["denied_safes"] == ["people"] and decisions[1]["reasons"]
    assert decisions[0]["denied_safes"] == [] and len(decisions[0]["policy_version"]) == 64
    assert decisions[0]["datasets"] and decisions[0]["expires_at"]
    empty = client.get(f"{REPORTS}/project-decisions/school-attainment", headers=token_for("aud")).json()
    assert empty["items"] == [] and empty["project"] == "school-attainment"


def test_every_release_with_its_record(
    client: TestClient, token_for: TokenFor, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    request = OutputRequest(
        id=uuid.uuid4(),
        project_id=ids["diabetes-outcomes"],
        title="Table 1",
        requester_id=ids["alice"],
        status="released",
        tier=2,
    )
    session.add(request)
    session.flush()
    record = {"request": str(request.id), "files": [{"name": "t1.csv", "sha256": "ab" * 32}]}
    release = OutputRelease(
        id=uuid.uuid4(),
        request_id=request.id,
        record=record,
        record_sha256="cd" * 32,
        released_by_id=ids["olivia"],
        released_at=utcnow(),
    )
    session.add(release)
    session.commit()
    body = client.get(f"{REPORTS}/releases", headers=token_for("aud")).json()
    assert [(i["id"], i["record"], i["project_id"]) for i in body["items"]] == [
        (str(release.id), record, str(ids["diabetes-outcomes"]))
    ]
    other = client.get(
        f"{REPORTS}/releases", params={"project": "school-attainment"}, headers=token_for("aud")
    )
    assert other.json()["items"] == []
    assert (
        client.get(f"{REPORTS}/releases", params={"project": "nope"}, headers=token_for("aud")).status_code
        == 404
    )
