"""Issue 9, promises 3 and 4: refusals are audited without flooding the log; edge inputs are 4xx, never 500.

- A known caller's refused read of file content, the audit log or a launch decision is one audit event.
- Unauthenticated refusals are counted and summed into one audit event per interval, reason and route.
- null for a field a record cannot be without is a 422, not a 409.
- Ids that only look numeric, and numbers past 64 bits (or Infinity), are 4xx, never 500.
- /metrics needs its token in production.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.app import create_app
from governance.config import get_settings
from governance.core.metrics import REGISTRY
from governance.core.problems import DenialAggregator
from governance.models import AuditEvent, Organisation, Project, User
from tests.conftest import TokenFor

HUB_QUESTION = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "client_ip": "10.1.2.3",
}


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _events(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _denials_counted(route: str) -> float:
    value = REGISTRY.get_sample_value(
        "governance_denied_unauthenticated_total", {"route": route, "reason": "not-authenticated"}
    )
    return value or 0.0


# Refusals in the audit log -------------------------------------------------------------------------


def test_promise_unauthenticated_denials_are_counted_and_aggregated_not_one_row_each(
    db_url: str, session: Session
) -> None:
    before = _denials_counted("/api/v1/projects")
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        for i in range(50):
            if i % 2:
                r = client.get("/api/v1/projects")
            else:
                r = client.post(
                    "/api/v1/projects", json={"slug": "x"}, headers={"Authorization": "Bearer junk"}
                )
            _problem(r, 401)
        assert _events(session, "denied.unauthenticated") == []
        assert _events(session, "denied.post") == [] and _events(session, "denied.get") == []
    # Leaving the client shuts the app down: the aggregator is flushed once.
    [event] = _events(session, "denied.unauthenticated")
    assert event.summary["count"] == 50 and event.summary["route"] == "/api/v1/projects"
    assert event.summary["methods"] == {"GET": 25, "POST": 25} and event.outcome == "denied"
    assert event.summary["reason"] == "not-authenticated" and event.actor_id is None
    assert 1 <= len(event.summary["examples"]) <= DenialAggregator.MAX_DETAILS
    assert _denials_counted("/api/v1/projects") - before == 50


def test_promise_denial_aggregator_writes_at_most_once_per_interval(db_url: str, session: Session) -> None:
    now = [1000.0]
    aggregator = DenialAggregator(interval_seconds=60, clock=lambda: now[0])
    for _ in range(50):
        aggregator.add("not-authenticated", "/api/v1/audit/events", "GET", "send a bearer token")
    aggregator.add("not-authenticated", "/api/v1/me", "GET", "send a bearer token")
    assert not aggregator.due() and aggregator.flush() == 0
    assert _events(session, "denied.unauthenticated") == []
    now[0] += 60
    assert aggregator.due() and aggregator.flush() == 2
    events = {e.summary["route"]: e.summary["count"] for e in _events(session, "denied.unauthenticated")}
    assert events == {"/api/v1/audit/events": 50, "/api/v1/me": 1}
    aggregator.add("not-authenticated", "/api/v1/me", "GET", "x")
    assert not aggregator.due() and aggregator.flush() == 0, "a second write within the interval waits"
    assert aggregator.flush(force=True) == 1  # shutdown
    assert aggregator.pending() == 0
    for i in range(DenialAggregator.MAX_KEYS + 10):  # keys are bounded whatever arrives
        aggregator.add("not-authenticated", f"/route/{i}", "GET", "x")
    assert len(aggregator._tallies) == DenialAggregator.MAX_KEYS + 1


def test_promise_a_researchers_denied_read_of_a_decision_is_audited(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    decided = client.post("/api/v1/launch-decisions", json=HUB_QUESTION, headers=token_for("jupyterhub"))
    assert decided.status_code == 200, decided.text
    decision_id = decided.json()["decision_id"]
    r = client.get(f"/api/v1/launch-decisions/{decision_id}", headers=token_for("carol"))
    refusal = _problem(r, 403)
    [event] = _events(session, "denied.get")
    assert event.actor_username == "carol" and event.outcome == "denied"
    assert event.summary["path"] == f"/api/v1/launch-decisions/{decision_id}"
    assert event.summary["route"] == "/api/v1/launch-decisions/{decision_id}"
    assert event.summary["reason"] == refusal["type"].rsplit("/", 1)[-1] and event.summary["status"] == 403
    # The steward who may read it is not refused, and so not audited as a denial.
    assert client.get(f"/api/v1/launch-decisions/{decision_id}", headers=token_for("sam")).status_code == 200
    assert len(_events(session, "denied.get")) == 1


def test_promise_denied_reads_of_file_content_and_the_audit_log_are_audited(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    content = f"/api/v1/output-requests/{uuid.uuid4()}/files/{uuid.uuid4()}/content"
    _problem(client.get(content, headers=token_for("carol")), 404)
    _problem(client.get("/api/v1/audit/checkpoints", headers=token_for("olivia")), 403)
    _problem(client.get("/api/v1/audit/events", headers=token_for("olivia")), 403)
    # Other refused reads are not (a 404 for a project is an everyday answer).
    _problem(client.get("/api/v1/projects/no-such-project", headers=token_for("carol")), 404)
    events = _events(session, "denied.get")
    assert sorted((e.actor_username, e.summary["path"], e.summary["status"]) for e in events) == sorted(
        [
            ("carol", content, 404),
            ("olivia", "/api/v1/audit/checkpoints", 403),
            ("olivia", "/api/v1/audit/events", 403),
        ]
    )
    # Unauthenticated reads of the same routes are counted, not written one by one.
    _problem(client.get(content), 401)
    assert len(_events(session, "denied.get")) == 3


# null for required fields ---------------------------------------------------------------------------


def test_promise_null_for_a_required_field_is_422_not_409(
    client: TestClient, token_for: TokenFor, session: Session
) -> None:
    sam, admin, alice = token_for("sam"), token_for("admin"), token_for("alice")
    title = session.scalar(select(Project.title).where(Project.slug == "diabetes-outcomes"))
    for field in ("title", "lay_summary", "purpose", "tier"):
        r = client.patch("/api/v1/projects/diabetes-outcomes", json={field: None}, headers=sam)
        body = _problem(r, 422)
        assert field in body["detail"] and "null" in body["detail"], body
    session.expire_all()
    assert session.scalar(select(Project.title).where(Project.slug == "diabetes-outcomes")) == title
    created = {"slug": "null-test", "title": "t", "organisation": "demo-university", "tier": 1}
    for field in ("slug", "title"):
        _problem(client.post("/api/v1/projects", json={**created, field: None}, headers=alice), 422)
    _problem(client.post("/api/v1/projects/school-attainment/approve", json={"note": None}, headers=sam), 422)
    _problem(client.patch("/api/v1/users/carol", json={"status": None}, headers=admin), 422)
    _problem(client.patch("/api/v1/organisations/demo-university", json={"name": None}, headers=admin), 422)
    group = client.post("/api/v1/groups", json={"name": "null-group"}, headers=admin)
    assert group.status_code == 201, group.text
    for field in ("name", "description"):
        _problem(client.patch("/api/v1/groups/null-group", json={field: None}, headers=admin), 422)
    _problem(client.post("/api/v1/users", json={"username": None}, headers=admin), 422)
    session.expire_all()
    assert session.scalar(select(Organisation.name).where(Organisation.slug == "demo-university"))
    assert session.scalar(select(User.status).where(User.username == "carol")) == "active"
    assert session.scalar(select(Project.id).where(Project.slug == "null-test")) is None


# Numbers and ids ------------------------------------------------------------------------------------

LOOKALIKES = [
    "\u0661\u0662\u0663",
    "\uff11\uff12\uff13",
    "\u00b2\u00b3",
    "\u0663",
    "99999999999999999999",
    "1e309",
    "-1",
    "0x1",
]


@pytest.mark.parametrize("ref", LOOKALIKES)
def test_promise_ids_that_only_look_numeric_are_4xx_never_500(
    client: TestClient, token_for: TokenFor, ref: str
) -> None:
    for path, user in (
        (f"/api/v1/audit/events/{ref}", "aud"),
        (f"/api/v1/projects/{ref}", "sam"),
        (f"/api/v1/users/{ref}", "admin"),
        (f"/api/v1/datasets/{ref}", "sam"),
        (f"/api/v1/environment-profiles/{ref}", "admin"),
        (f"/api/v1/launch-decisions/{ref}", "sam"),
        (f"/api/v1/output-requests/{ref}", "alice"),
    ):
        r = client.get(path, headers=token_for(user))
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def _raw(client: TestClient, path: str, text: str, headers: dict[str, str]) -> Any:
    return client.post(path, content=text, headers={**headers, "content-type": "application/json"})


def _refused(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")


def test_promise_out_of_range_numbers_are_4xx_never_500(client: TestClient, token_for: TokenFor) -> None:
    aud, hub, sam = token_for("aud"), token_for("jupyterhub"), token_for("sam")
    huge = str(2**70)
    for path in ("/api/v1/audit/events", "/api/v1/projects", "/api/v1/datasets", "/api/v1/launch-decisions"):
        for value in ("99999999999999999999", "1e309", "\u0661\u0662", "\uff11\uff12", "\u00b2"):
            r = client.get(path, params={"limit": value}, headers=aud)
            _problem(r, 422)
    for value in ("1e309", "99999999999999999999", "\u0661", "nan"):
        _problem(client.get("/api/v1/datasets", params={"tier": value}, headers=sam), 422)
    _problem(_raw(client, "/api/v1/audit/verify", f'{{"from": 1, "to": {huge}}}', aud), 422)
    _problem(_raw(client, "/api/v1/audit/verify", f'{{"from": {huge}}}', aud), 422)
    question = json.dumps(HUB_QUESTION)[:-1]
    for requested in (f'{{"gpu": {huge}}}', '{"cpu": 1e309}', '{"memory_gb": -1e309}', '{"cpu": NaN}'):
        _refused(_raw(client, "/api/v1/launch-decisions", f'{question}, "requested": {requested}}}', hub))
    _problem(
        _raw(
            client, "/api/v1/projects", f'{{"slug": "n", "title": "t", "tier": {huge}}}', token_for("alice")
        ),
        422,
    )
    # A cursor that decodes to a number past 64 bits is the client's mistake too.
    cursor = base64.urlsafe_b64encode(json.dumps({"s": 2**70, "o": "asc"}).encode()).decode().rstrip("=")
    _refused(client.get("/api/v1/audit/events", params={"cursor": cursor, "order": "asc"}, headers=aud))
    for since in ("99999-01-01T00:00:00Z", "\u0661\u0669\u0669\u0669-01-01T00:00:00Z", "1e309"):
        _refused(client.get("/api/v1/audit/events", params={"since": since}, headers=aud))


# /metrics ------------------------------------------------------------------------------------------


@pytest.fixture
def production(db_url: str, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("GOVERNANCE_ENV", "production")
    monkeypatch.setenv("GOVERNANCE_SECRET_KEY", "p" * 40)
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("GOVERNANCE_KEK_KEYS", json.dumps({"1": base64.b64encode(os.urandom(32)).decode()}))
    get_settings.cache_clear()
    return monkeypatch


def test_promise_metrics_need_a_token_in_production(production: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        body = _problem(client.get("/metrics"), 401)
        assert "GOVERNANCE_METRICS_TOKEN" in body["detail"]
    production.setenv("GOVERNANCE_METRICS_TOKEN", "m" * 32)
    get_settings.cache_clear()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        _problem(client.get("/metrics"), 401)
        _problem(client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 31}), 401)
        _problem(client.get("/metrics", headers={"Authorization": "Basic " + "m" * 32}), 401)
        ok = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
        assert ok.status_code == 200 and "governance_http_request_seconds" in ok.text


def test_promise_metrics_are_open_in_development(client: TestClient) -> None:
    assert get_settings().env == "test" and not get_settings().metrics_token
    assert client.get("/metrics").status_code == 200


def test_promise_metrics_need_a_token_behind_a_proxy_root_path(production: pytest.MonkeyPatch) -> None:
    production.setenv("GOVERNANCE_METRICS_TOKEN", "m" * 32)
    get_settings.cache_clear()
    app = create_app()
    with TestClient(app, root_path="/gov", raise_server_exceptions=False) as client:
        for path in ("/gov/metrics", "/gov/metrics/"):
            r = client.get(path)
            assert r.status_code in (401, 404), (path, r.status_code)
            assert "governance_http_request_seconds" not in r.text
        ok = client.get("/gov/metrics", headers={"Authorization": "Bearer " + "m" * 32})
        assert ok.status_code == 200 and "governance_http_request_seconds" in ok.text
