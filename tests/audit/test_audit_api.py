"""The audit API: events with filters and keyset pages, checkpoints, published keys and verification."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from governance.audit.checkpoints import generate_private_key_text, parse_public_key
from governance.audit.record import record
from governance.audit.sealing import seal_pending
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.db import get_engine, transaction
from tests.conftest import TokenFor

EVENTS = "/api/v1/audit/events"
VERIFY = "/api/v1/audit/verify"


class Who:
    def __init__(self, user_id: uuid.UUID, username: str) -> None:
        self.user_id, self.username = user_id, username


def add_events(ids: dict[str, uuid.UUID]) -> None:
    alice, sam = Who(ids["alice"], "alice"), Who(ids["sam"], "sam")
    with transaction() as s:
        for i in range(6):
            record(
                s,
                alice,
                "test.note",
                "project",
                str(i),
                project_id=ids["diabetes-outcomes"],
                summary={"i": i},
            )
        record(s, sam, "test.approve", "project", "x", project_id=ids["school-attainment"], outcome="denied")
        record(s, sam, "test.login", "user", str(ids["sam"]), source="cli")


def items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_auditors_read_every_event_with_filters(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    add_events(ids)
    aud = token_for("aud")
    notes = items(client.get(EVENTS, params={"action": "test.note", "limit": 200}, headers=aud))
    assert [e["object_id"] for e in notes] == ["5", "4", "3", "2", "1", "0"]  # newest first
    assert all(e["actor_username"] == "alice" and e["chain_index"] is None for e in notes)
    assert len(items(client.get(EVENTS, params={"action": "test.", "limit": 200}, headers=aud))) == 8
    assert [e["action"] for e in items(client.get(EVENTS, params={"outcome": "denied"}, headers=aud))] == [
        "test.approve"
    ]
    by_id = items(client.get(EVENTS, params={"actor": str(ids["sam"]), "source": "cli"}, headers=aud))
    assert [e["action"] for e in by_id] == ["test.login"]
    school = items(client.get(EVENTS, params={"project": "school-attainment"}, headers=aud))
    assert {e["action"] for e in school} >= {"test.approve"}
    assert all(e["project_id"] == str(ids["school-attainment"]) for e in school)
    obj = items(client.get(EVENTS, params={"object_type": "project", "object_id": "3"}, headers=aud))
    assert [e["summary"] for e in obj] == [{"i": 3}]
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert items(client.get(EVENTS, params={"since": later}, headers=aud)) == []
    assert len(items(client.get(EVENTS, params={"until": later, "action": "test.note"}, headers=aud))) == 6
    one = notes[0]
    by_seq = client.get(f"{EVENTS}/{one['seq']}", headers=aud).json()
    assert by_seq == client.get(f"{EVENTS}/{one['id']}", headers=aud).json() == one


def test_keyset_pages_cover_everything_once_in_both_orders(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    add_events(ids)
    aud = token_for("aud")
    everything = [
        e["seq"] for e in items(client.get(EVENTS, params={"limit": 200, "order": "asc"}, headers=aud))
    ]
    assert everything == sorted(everything) and len(everything) >= 8
    for order in ("asc", "desc"):
        seen: list[int] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3, "order": order}
            if cursor:
                params["cursor"] = cursor
            body = client.get(EVENTS, params=params, headers=aud).json()
            seen += [e["seq"] for e in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == (everything if order == "asc" else everything[::-1])
    first = client.get(EVENTS, params={"limit": 2, "order": "asc"}, headers=aud).json()["next_cursor"]
    wrong = client.get(EVENTS, params={"cursor": first, "order": "desc"}, headers=aud)
    assert wrong.status_code == 400 and "another listing" in wrong.json()["detail"]
    assert client.get(EVENTS, params={"cursor": "garbage!"}, headers=aud).status_code == 400
    naive = client.get(EVENTS, params={"since": "2026-01-01T00:00:00"}, headers=aud)
    assert naive.status_code == 400 and "timezone" in naive.json()["detail"]


def test_researchers_see_only_the_events_of_their_own_projects(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    add_events(ids)
    bob = items(client.get(EVENTS, params={"limit": 200}, headers=token_for("bob")))
    assert bob and {e["project_id"] for e in bob} == {str(ids["diabetes-outcomes"])}
    alice = items(client.get(EVENTS, params={"limit": 200}, headers=token_for("alice")))
    assert {e["project_id"] for e in alice} == {str(ids["diabetes-outcomes"]), str(ids["school-attainment"])}
    assert items(client.get(EVENTS, headers=token_for("carol"))) == []
    hidden = client.get(EVENTS, params={"project": "school-attainment"}, headers=token_for("bob"))
    assert hidden.status_code == 404
    login = items(client.get(EVENTS, params={"action": "test.login"}, headers=token_for("aud")))[0]
    assert client.get(f"{EVENTS}/{login['id']}", headers=token_for("alice")).status_code == 404
    # read-only: the API has no way to change an event, and researchers cannot verify or read reports
    assert client.delete(f"{EVENTS}/{login['id']}", headers=token_for("aud")).status_code == 405
    assert client.post(VERIFY, json={}, headers=token_for("alice")).status_code == 403


def test_promise_blinding_researchers_never_see_a_checkers_name_nor_a_hash_that_would_confirm_it(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID]
) -> None:
    """Checkers' events in a researcher's project are shown without the actor; and since an event's hash
    covers its actor, a researcher trying names against the hash could find the reviewer: no hashes."""
    olivia = Who(ids["olivia"], "olivia")
    with transaction() as s:
        for action in ("output_request.release", "output_request.block", "output_request.approve"):
            record(s, olivia, action, "output_request", "r1", project_id=ids["diabetes-outcomes"])
        record(s, Who(ids["bob"], "bob"), "test.note", "project", "x", project_id=ids["diabetes-outcomes"])
    assert seal_pending().sealed
    for researcher in ("alice", "bob"):
        shown = items(client.get(EVENTS, params={"limit": 200}, headers=token_for(researcher)))
        moves = [e for e in shown if e["action"].startswith("output_request.")]
        assert len(moves) == 3 and all(e["actor_username"] is None and e["redacted"] for e in moves)
        assert all(e["hash"] is None and e["prev_hash"] is None for e in shown)
        assert [e["actor_username"] for e in shown if e["action"] == "test.note"] == ["bob"]
        assert items(client.get(EVENTS, params={"actor": "olivia"}, headers=token_for(researcher))) == []
        one = client.get(f"{EVENTS}/{moves[0]['id']}", headers=token_for(researcher)).json()
        assert one["actor_id"] is None and one["hash"] is None and one["redacted"] is True
    audited = items(client.get(EVENTS, params={"actor": "olivia"}, headers=token_for("aud")))
    assert len(audited) == 3 and all(e["hash"] and not e["redacted"] for e in audited)


def test_checkpoints_and_published_keys_survive_a_key_change(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_events(ids)
    first = seal_pending()
    assert first.sealed and first.checkpoints == 1
    old_keys = client.get("/api/v1/audit/checkpoints/keys").json()["keys"]  # no token: published
    assert len(old_keys) == 1 and old_keys[0]["current"]
    monkeypatch.setenv("GOVERNANCE_AUDIT_SIGNING_KEY", generate_private_key_text())
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY_N", "1")
    get_settings.cache_clear()
    add_events(ids)
    assert seal_pending().checkpoints == 1
    keys = client.get("/api/v1/audit/checkpoints/keys").json()["keys"]
    assert next(k["key_id"] for k in keys) == old_keys[0]["key_id"] and len(keys) == 2
    assert [k["current"] for k in keys] == [False, True]
    assert all(parse_public_key({f: k[f] for f in ("key_id", "algorithm", "public_key")}) for k in keys)
    cps = client.get("/api/v1/audit/checkpoints", headers=token_for("aud")).json()["items"]
    assert [c["key_id"] for c in cps] == [k["key_id"] for k in keys]
    assert cps[-1]["created_at"].endswith("Z") and len(cps[-1]["hash"]) == 64
    report = client.post(VERIFY, json={}, headers=token_for("aud")).json()
    assert report["ok"] and report["last_checkpoint_verified"] == cps[-1]["chain_index"], report
    assert any(
        old_keys[0]["key_id"] in w for w in report["warnings"]
    )  # a retired key, read from the database
    page = client.get("/api/v1/audit/checkpoints", params={"limit": 1}, headers=token_for("aud")).json()
    rest = client.get(
        "/api/v1/audit/checkpoints", params={"cursor": page["next_cursor"]}, headers=token_for("aud")
    ).json()
    assert [c["chain_index"] for c in page["items"] + rest["items"]] == [c["chain_index"] for c in cps]


def _sealed(ids: dict[str, uuid.UUID], monkeypatch: pytest.MonkeyPatch, rounds: int = 4) -> int:
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY_N", "5")
    monkeypatch.setenv("GOVERNANCE_AUDIT_SEAL_BATCH", "5")
    get_settings.cache_clear()
    for _ in range(rounds):
        add_events(ids)
    return seal_pending().head


def _tamper(sql: str) -> None:
    with get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        else:
            for name in ("audit_events_seal_only", "audit_events_no_delete", "audit_checkpoints_no_update"):
                conn.execute(text(f"DROP TRIGGER {name}"))
        conn.execute(text(sql))


def test_verify_ranges_and_clear_verdicts(
    client: TestClient, token_for: TokenFor, ids: dict[str, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = _sealed(ids, monkeypatch)
    aud = token_for("aud")
    whole = client.post(VERIFY, json={}, headers=aud).json()
    assert whole["ok"] and whole["checked"] == head and whole["sealed_head"] == head, whole
    part = client.post(VERIFY, json={"from": 12, "to": 23}, headers=aud).json()
    assert part["ok"] and part["verified_from"] == 11 and part["last_index"] == 23, part
    assert part["requested"] == {"from": 12, "to": 23}
    missing = client.post(VERIFY, json={"from": head + 100, "to": head + 200}, headers=aud).json()
    assert missing["ok"] is False and missing["problem"] == (
        f"range {head + 100}-{head + 200} does not exist: the sealed log ends at {head}"
    )
    beyond = client.post(VERIFY, json={"from": 3, "to": head + 5}, headers=aud).json()
    assert beyond["ok"] is False and "past the end of the sealed log" in beyond["problem"]
    backwards = client.post(VERIFY, json={"from": 9, "to": 3}, headers=aud)
    assert backwards.status_code == 400 and "ends before it starts" in backwards.json()["detail"]
    assert client.post(VERIFY, json={"from": 0}, headers=aud).status_code == 422
    assert client.post(VERIFY, json={"from": "x"}, headers=aud).status_code == 422
    assert client.post(VERIFY, json={"start": 1}, headers=aud).status_code == 422


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        (
            "UPDATE audit_events SET summary = '{\"i\": 99}' WHERE chain_index = 13",
            "event 13 was modified (hash mismatch)",
        ),
        ("DELETE FROM audit_events WHERE chain_index = 13", "gap: event 13 is missing"),
        (
            "UPDATE audit_checkpoints SET signature = :other WHERE chain_index = 15",
            "checkpoint at 15 has a bad signature",
        ),
        (
            "DELETE FROM audit_events WHERE chain_index > 26",
            "log truncated: checkpoint covers 30 but the log ends at 26",
        ),
    ],
)
def test_tampering_gives_a_verdict_naming_it(
    client: TestClient,
    token_for: TokenFor,
    ids: dict[str, uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    problem: str,
) -> None:
    assert _sealed(ids, monkeypatch) >= 30
    other_signature = "A" * 86 + "=="
    _tamper(sql.replace(":other", f"'{other_signature}'"))
    report = client.post(VERIFY, json={}, headers=token_for("aud")).json()
    assert report["ok"] is False and report["problem"] == problem, report
