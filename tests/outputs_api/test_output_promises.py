"""The Safe Outputs promises, each tried as an attacker would (issue 9, "close the side doors").

* Unreleased files never leave through the API to anyone but independent checkers; a workspace token
  creates, uploads, submits and reads status, never downloads, and works only while its launch holds.
* Blinding holds everywhere: no project member learns who reviewed or how they voted until the request
  leaves review — not from the request's view, the audit log, download events or the release record —
  and reviewers are never named to the project at all.
* Findings shown to anyone but the checkers carry coordinates and the rule broken, never a value.
* Two check workers finishing the same request move it once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from governance.config import get_settings
from governance.core.db import transaction
from governance.models import (
    ApiToken,
    AuditEvent,
    Grant,
    LaunchDecision,
    Membership,
    OutputCheckResult,
    OutputFile,
    OutputRelease,
    OutputRequest,
    RoleBinding,
)
from tests.outputs_api.support import BASE, GOOD_CSV, Api, problem

AUDIT = "/api/v1/audit/events"
SMALL_CELLS = b"ward,patients\nA,125\nB,3\nC,240\n"
THRESHOLD = "Column 'patients', data row 2 is below the threshold of 10; suppress or combine it."
ASK: dict[str, Any] = {
    "username": "alice",
    "project": "diabetes-outcomes",
    "profile": "standard",
    "datasets": ["hospital-episodes"],
    "server_name": "",
    "client_ip": "10.1.2.3",
    "auth": {"mfa": False, "acr": None, "amr": ["pwd"]},
}


def launch(api: Api) -> tuple[dict[str, str], uuid.UUID]:
    """A real launch decision; the workspace gets its token from the obligations."""
    answer = api.client.post("/api/v1/launch-decisions", json=ASK, headers=api.h("jupyterhub"))
    assert answer.status_code == 200 and answer.json()["allowed"], answer.text
    token = answer.json()["obligations"]["environment"]["GOVERNANCE_TOKEN"]
    return {"Authorization": f"Bearer {token}"}, uuid.UUID(answer.json()["decision_id"])


def as_workspace(api: Api, ws: dict[str, str]) -> dict[str, Any]:
    """What a workspace token can do: create, upload, submit, read status."""
    created = api.client.post(BASE, json={"project": "diabetes-outcomes", "title": "From inside"}, headers=ws)
    assert created.status_code == 201, created.text
    rid = str(created.json()["id"])
    uploaded = api.upload(rid, "t.csv", GOOD_CSV, headers=ws)
    assert uploaded.status_code == 201, uploaded.text
    return {"rid": rid, "fid": str(uploaded.json()["id"])}


def revoke_the_grant(session: Session) -> None:
    session.execute(update(Grant).values(revoked_at=func.now()))
    session.commit()


def audit_items(api: Api, user: str, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(AUDIT, params={"limit": 200, **params}, headers=api.h(user))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def count(session: Session, request_id: str, action: str) -> int:
    session.expire_all()
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_id == request_id, AuditEvent.action == action)
        )
        or 0
    )


# --- unreleased files, workspace tokens -----------------------------------------------------------


def test_promise_unreleased_files_never_leave_through_the_api_but_to_independent_checkers(api: Api) -> None:
    ws, _decision = launch(api)
    made = as_workspace(api, ws)
    rid, fid = made["rid"], made["fid"]
    submitted = api.client.post(f"{BASE}/{rid}/submit", headers=ws)
    assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
    status = api.client.get(f"{BASE}/{rid}", headers=ws)
    assert status.status_code == 200 and status.json()["status"] == "in_review"
    listed = api.client.get(BASE, params={"mine": "true"}, headers=ws).json()["items"]
    assert [r["id"] for r in listed] == [rid]

    inside = problem(api.content(rid, fid, ws), 403)
    assert "already in the workspace" in inside["detail"]
    assert "only by the independent output checkers" in problem(api.content(rid, fid, "alice"), 403)["detail"]
    assert "only by the independent output checkers" in problem(api.content(rid, fid, "bob"), 403)["detail"]
    problem(api.content(rid, fid, "aud"), 403)  # an auditor reads everything but the unreleased files
    assert api.content(rid, fid, "olivia").status_code == 200  # an independent checker

    api.approve_all(rid)
    assert api.post(rid, "release", "olivia").status_code == 200
    problem(api.content(rid, fid, ws), 403)  # never through a workspace token, released or not
    released = api.content(rid, fid, "bob")  # members may, once released, with their own credentials
    assert released.status_code == 200 and released.content == GOOD_CSV


def test_promise_a_workspace_token_stops_working_when_its_decision_is_revoked(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    from governance.enforcement.service import recheck

    ws, decision_id = launch(api)
    made = as_workspace(api, ws)
    decision = session.get(LaunchDecision, decision_id)
    assert decision is not None and decision.workspace_token_id is not None
    token = session.get(ApiToken, decision.workspace_token_id)
    assert (
        token is not None and decision.expires_at is not None and token.project_id == ids["diabetes-outcomes"]
    )
    # issued for the launch's lifetime: it expires with the decision (the earliest expiry of its safes)
    assert abs((token.expires_at - decision.expires_at).total_seconds()) < 60

    revoke_the_grant(session)  # the data safe no longer holds: the re-check ends the decision
    report = recheck({"cause": "grant.revoke", "project_id": str(ids["diabetes-outcomes"])})
    assert report.stopped == ["alice/(default)"]
    session.expire_all()
    assert session.get(LaunchDecision, decision_id).ended_at is not None  # type: ignore[union-attr]

    upload = problem(api.upload(made["rid"], "late.csv", GOOD_CSV, headers=ws), 401)
    assert "revoked" in upload["detail"]
    problem(api.client.post(f"{BASE}/{made['rid']}/submit", headers=ws), 401)
    problem(api.client.get(f"{BASE}/{made['rid']}", headers=ws), 401)
    # The refusal is the token's binding, not the person: alice's own token still works.
    assert api.upload(made["rid"], "late.csv", GOOD_CSV).status_code == 201


def test_promise_a_workspace_token_is_revoked_when_access_lapses_even_if_the_hub_cannot_stop_the_server(
    api: Api, session: Session, ids: dict[str, uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.enforcement.service import recheck

    ws, decision_id = launch(api)
    made = as_workspace(api, ws)
    monkeypatch.setenv("GOVERNANCE_HUB_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("GOVERNANCE_HUB_API_TOKEN", "hub-token")
    get_settings.cache_clear()
    revoke_the_grant(session)
    report = recheck({"cause": "grant.revoke", "project_id": str(ids["diabetes-outcomes"])})
    assert report.failed == ["alice/(default)"] and report.stopped == []
    session.expire_all()
    assert session.get(LaunchDecision, decision_id).ended_at is None  # type: ignore[union-attr]  # retried
    problem(api.upload(made["rid"], "late.csv", GOOD_CSV, headers=ws), 401)
    problem(api.client.post(f"{BASE}/{made['rid']}/submit", headers=ws), 401)


def test_promise_a_workspace_token_ends_with_its_launch_when_the_server_is_launched_again(api: Api) -> None:
    first, _ = launch(api)
    made = as_workspace(api, first)
    second, _ = launch(api)  # the same server launched again: the old decision is superseded
    problem(api.client.get(f"{BASE}/{made['rid']}", headers=first), 401)
    assert api.client.get(f"{BASE}/{made['rid']}", headers=second).status_code == 200


# --- blinding ------------------------------------------------------------------------------------


def grant_checker_role(session: Session, user_id: uuid.UUID) -> None:
    session.add(RoleBinding(id=uuid.uuid4(), role="output_checker", user_id=user_id, source="test"))
    session.commit()


def join(session: Session, ids: dict[str, uuid.UUID], username: str) -> None:
    """An approved membership the person asked for (so it involves them)."""
    session.add(
        Membership(
            id=uuid.uuid4(),
            project_id=ids["diabetes-outcomes"],
            user_id=ids[username],
            role="viewer",
            status="approved",
            requested_by_id=ids[username],
        )
    )
    session.commit()


def half_reviewed(api: Api) -> tuple[str, str, str]:
    """A request in review with two files: both checkers have voted on the first (so, among checkers, its
    votes are unblinded), none on the second; olivia has downloaded the first."""
    rid = api.new(title="Two tables")
    first = api.add(rid, "first.csv", GOOD_CSV)
    second = api.add(rid, "second.csv", GOOD_CSV.replace(b"2019", b"2018"))
    api.submit(rid)
    assert api.vote(rid, first, "olivia", comment="Rounded.", visibility="private").status_code == 201
    assert api.vote(rid, first, "oscar", comment="Fine.").status_code == 201
    assert api.content(rid, first, "olivia").status_code == 200
    return rid, first, second


def test_promise_blinding_holds_in_the_output_request_view(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """Until the request leaves review, the project sees no votes, no vote counts and no outcomes.

    Decision on ``votes_cast``: a count names nobody and no vote, but it is not harmless — a count above
    the reviewers required says the reviewers disagreed, and an outcome such as "conflicted" or
    "approved" on one file is a vote. So the project gets ``votes_cast: null`` and ``outcome: "pending"``
    while the request is under review; checkers still see the counts (they need them to share the work).
    Afterwards the project sees the votes and comments, never who cast them (private comments stay
    private), and never who released.
    """
    grant_checker_role(session, ids["bob"])  # a member holding the checker's role is still a member
    join(session, ids, "stella")  # so is a steward (read:all) who joined the project
    ws, _ = launch(api)
    rid, first, second = half_reviewed(api)
    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))
    for viewer in ("alice", "bob", "stella", ws):
        response = api.client.get(
            f"{BASE}/{rid}", headers=api.h(viewer) if isinstance(viewer, str) else viewer
        )
        assert response.status_code == 200 and response.json()["status"] == "in_review"
        assert not any(name in response.text for name in names), viewer
        for file in response.json()["files"]:
            assert (file["votes_cast"], file["outcome"], file["reviews"]) == (None, "pending", [])
    checker = {f["id"]: f for f in api.get(rid, "olivia")["files"]}
    assert checker[first]["votes_cast"] == 2 and checker[first]["outcome"] == "approved"
    assert [r["reviewer"] for r in checker[first]["reviews"]] == ["olivia", "oscar"]
    assert checker[second]["votes_cast"] == 0
    member_as_checker = problem(api.vote(rid, second, "bob"), 403)
    assert member_as_checker["type"].endswith("separation-of-duties")

    for user in ("olivia", "oscar"):
        assert api.vote(rid, second, user).status_code == 201
    assert api.post(rid, "release", "oscar").status_code == 200
    for viewer in ("alice", "bob", "stella"):
        body = api.get(rid, viewer)
        assert body["status"] == "released" and body["release"]["released_by"] is None
        files = {f["id"]: f for f in body["files"]}
        assert files[first]["votes_cast"] == 2 and files[first]["outcome"] == "approved"
        assert [(r["reviewer"], r["comment"]) for r in files[first]["reviews"]] == [
            (None, ""),
            (None, "Fine."),
        ]
        assert not any(name in json.dumps(body) for name in names), viewer
    assert api.get(rid, "olivia")["release"]["released_by"] == "oscar"
    assert api.get(rid, "aud")["release"]["released_by"] == "oscar"
    assert api.get(rid, "sam")["release"]["released_by"] == "oscar"  # a steward independent of it


def test_promise_blinding_holds_in_the_audit_log(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """The project's members read their projects' audit events (read:audit), but checkers' events are
    hidden while the request is under review, and afterwards shown without the actor — in the list, the
    filters (by action, by actor name or id) and the single-event read. No event hash is shown to them
    (a hash would confirm a guess of the hidden actor). Auditors see everything."""
    # stella, an auditor as well as a steward (read:all), joined the project herself: for its events she
    # is a member like any other
    session.add(RoleBinding(id=uuid.uuid4(), role="auditor", user_id=ids["stella"], source="test"))
    join(session, ids, "stella")
    rid, first, second = half_reviewed(api)
    vote_event = session.scalar(select(AuditEvent).where(AuditEvent.action == "output_review.vote"))
    download_event = session.scalar(select(AuditEvent).where(AuditEvent.action == "output_file.download"))
    assert vote_event is not None and download_event is not None
    assert download_event.actor_username == "olivia" and download_event.summary["checker"] is True
    hidden = {"output_review.vote", "output_file.download"}
    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))
    for member in ("alice", "bob", "stella"):
        everything = audit_items(api, member)
        assert everything and not {e["action"] for e in everything} & hidden, member
        assert all(e["hash"] is None and e["prev_hash"] is None for e in everything)
        assert not any(name in json.dumps(everything) for name in names)
        assert audit_items(api, member, action="output_review.vote") == []
        assert {e["action"] for e in audit_items(api, member, action="output_file.")} == {"output_file.add"}
        about_the_file = audit_items(api, member, object_id=first)
        assert [e["action"] for e in about_the_file] == ["output_file.add"]  # the upload, not the reviews
        for actor in ("olivia", str(ids["olivia"]), "oscar"):
            assert audit_items(api, member, actor=actor) == []
        for ref in (str(vote_event.id), str(vote_event.seq), str(download_event.id)):
            problem(api.client.get(f"{AUDIT}/{ref}", headers=api.h(member)), 404)
    for overseer in ("aud", "admin"):  # independent of the project
        votes = audit_items(api, overseer, action="output_review.vote")
        assert sorted(e["actor_username"] for e in votes) == ["olivia", "oscar"]

    for user in ("olivia", "oscar"):  # the second file: the request leaves review
        assert api.vote(rid, second, user).status_code == 201
    assert api.post(rid, "release", "olivia").status_code == 200
    assert api.content(rid, first, "bob").status_code == 200  # a member's own download is theirs to see
    for member in ("alice", "bob", "stella"):
        votes = audit_items(api, member, action="output_review.vote")
        assert len(votes) == 4 and all(v["actor_id"] is None and v["actor_username"] is None for v in votes)
        assert all(v["redacted"] is True and v["summary"]["vote"] == "approve" for v in votes)
        downloads = audit_items(api, member, action="output_file.download")
        assert sorted((d["actor_username"] or "", d["redacted"]) for d in downloads) == [
            ("", True),
            ("bob", False),
        ]
        for action in ("output_request.approve", "output_request.release"):
            [moved] = audit_items(api, member, action=action)
            assert moved["actor_username"] is None and moved["actor_id"] is None
        one = api.client.get(f"{AUDIT}/{vote_event.id}", headers=api.h(member)).json()
        assert one["actor_username"] is None and one["redacted"] is True and one["hash"] is None
        for actor in ("olivia", str(ids["olivia"]), "oscar"):
            assert audit_items(api, member, actor=actor) == []
        assert not any(name in json.dumps(audit_items(api, member)) for name in names)
        by_bob = audit_items(api, member, actor="bob")
        assert {e["actor_username"] for e in by_bob} == {"bob"}
        assert "output_file.download" in {e["action"] for e in by_bob}
    full = audit_items(api, "aud", action="output_file.download")
    assert sorted(d["actor_username"] for d in full) == ["bob", "olivia"] and not any(
        d["redacted"] for d in full
    )
    # the auditors' reports (all releases with their records) are not for the project's members
    problem(api.client.get("/api/v1/audit/reports/releases", headers=api.h("alice")), 403)


def test_promise_researcher_facing_release_records_never_name_reviewers(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    rid = api.new()
    small = api.add(rid, "small.csv", SMALL_CELLS)
    api.submit(rid)
    for user in ("olivia", "oscar"):
        voted = api.vote(
            rid,
            small,
            user,
            justification="A structural count.",
            comment="Private note.",
            visibility="private",
        )
        assert voted.status_code == 201, voted.text
    assert api.post(rid, "release", "oscar").status_code == 200
    stored = session.scalar(select(OutputRelease).where(OutputRelease.request_id == uuid.UUID(rid)))
    assert stored is not None
    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))

    for member in ("alice", "bob"):
        response = api.client.get(f"{BASE}/{rid}/release-record", headers=api.h(member))
        assert response.status_code == 200 and response.headers["x-record-redacted"] == "true"
        assert response.headers["x-record-sha256"] == hashlib.sha256(response.content).hexdigest()
        assert stored.record_sha256 not in response.text  # the full record's hash would confirm a guess
        assert not any(name in response.text for name in names), member
        assert "Private note." not in response.text
        record = json.loads(response.content)
        assert record["redacted"] is True and "record_sha256" not in record
        assert record["released_by"] is None and record["request"]["requester"]["username"] == "alice"
        [entry] = record["files"]
        assert [v["vote"] for v in entry["votes"]] == ["approve", "approve"]
        assert all("reviewer" not in v and v["comment"] is None for v in entry["votes"])
        assert entry["justifications"] == [{"justification": "A structural count."}] * 2
        assert entry["sha256"] == hashlib.sha256(SMALL_CELLS).hexdigest()

    for overseer in ("aud", "olivia", "sam"):
        response = api.client.get(f"{BASE}/{rid}/release-record", headers=api.h(overseer))
        assert response.status_code == 200 and response.headers["x-record-redacted"] == "false"
        assert hashlib.sha256(response.content).hexdigest() == stored.record_sha256
        record = json.loads(response.content)
        assert "redacted" not in record and record["released_by"]["username"] == "oscar"
        assert [v["reviewer"]["username"] for v in record["files"][0]["votes"]] == ["olivia", "oscar"]
    assert stored.record["released_by"]["username"] == "oscar"  # the stored record stays the full one


# --- findings ------------------------------------------------------------------------------------


def test_promise_findings_shown_to_anyone_but_checkers_carry_no_values(api: Api, session: Session) -> None:
    """Whatever a check stored, the project (and overseers, who may not read unreleased files either) see
    where and which rule, never a cell's value, an excerpt or a matched identifier; checkers see it all."""
    rid = api.new()
    fid = api.add(rid, "small.csv", SMALL_CELLS)
    api.submit(rid)
    row = session.scalar(
        select(OutputCheckResult).where(
            OutputCheckResult.file_id == uuid.UUID(fid), OutputCheckResult.check_name == "tabular"
        )
    )
    assert row is not None and row.status == "fail"
    row.findings = [
        {
            "code": "threshold",
            "message": THRESHOLD,
            "location": {"row": 1, "column": "patients", "value": 3, "excerpt": "B,3", "cell": {"v": 3}},
            "value": 3,
            "match": "943 476 5919",
        }
    ]
    session.commit()

    for viewer in ("alice", "bob", "aud"):
        file = api.get(rid, viewer)["files"][0]
        tabular = next(c for c in file["checks"] if c["name"] == "tabular")
        assert tabular["findings"] == [
            {
                "code": "threshold",
                "message": THRESHOLD,
                "location": {"row": 1, "column": "patients"},
            }
        ], viewer
    checker = next(c for c in api.get(rid, "olivia")["files"][0]["checks"] if c["name"] == "tabular")
    assert checker["findings"][0]["location"]["value"] == 3

    for user in ("olivia", "oscar"):
        assert api.vote(rid, fid, user, justification="Structural.").status_code == 201
    assert api.post(rid, "release", "olivia").status_code == 200
    record = json.loads(api.client.get(f"{BASE}/{rid}/release-record", headers=api.h("bob")).content)
    findings = next(c for c in record["files"][0]["checks"] if c["name"] == "tabular")["findings"]
    assert findings == [
        {
            "code": "threshold",
            "message": THRESHOLD,
            "location": {"row": 1, "column": "patients"},
        }
    ]


# --- declared moves: buttons, reasons, exactly-once ------------------------------------------------


def test_each_file_and_request_says_what_this_caller_may_do_and_why_not(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    grant_checker_role(session, ids["bob"])
    rid = api.new()
    fid = api.add(rid, "t.csv")
    api.submit(rid)
    olivia = api.get(rid, "olivia")
    assert olivia["files"][0]["allowed_actions"] == ["approve", "request_changes", "reject"]
    release = {u["action"]: u["reason"] for u in olivia["unavailable_actions"]}["release"]
    assert release == "the request is still in review: it needs 2 independent reviews; 0 so far"
    assert api.vote(rid, fid, "olivia").status_code == 201
    again = api.get(rid, "olivia")
    reasons = {u["action"]: u["reason"] for u in again["files"][0]["unavailable_actions"]}
    assert again["files"][0]["allowed_actions"] == []
    assert reasons["approve"].startswith("you have already voted on this file in this review round")
    refused = problem(api.post(rid, "release", "olivia"), 409)
    assert refused["detail"] == "the request is still in review: it needs 2 independent reviews; 1 so far"
    assert refused["detail"] == {u["action"]: u["reason"] for u in again["unavailable_actions"]}["release"]
    bob = api.get(rid, "bob")["files"][0]
    assert bob["allowed_actions"] == [] and all(
        "involved in project" in u["reason"] for u in bob["unavailable_actions"]
    )
    alice = api.get(rid, "alice")
    assert alice["files"][0]["allowed_actions"] == alice["files"][0]["unavailable_actions"] == []
    assert alice["allowed_actions"] == ["withdraw"]


def test_two_workers_finishing_the_checks_at_once_move_the_request_once(api: Api, session: Session) -> None:
    from governance.outputs.transitions import perform_if

    rid = api.new()
    api.add(rid)
    api.submit(rid)
    session.execute(update(OutputRequest).where(OutputRequest.id == uuid.UUID(rid)).values(status="checking"))
    session.commit()
    barrier = threading.Barrier(2, timeout=30)
    moved: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with transaction() as s:
                request = s.get(OutputRequest, uuid.UUID(rid))
                assert request is not None and request.status == "checking"
                barrier.wait()  # both have read "checking" before either moves
                moved.append(perform_if(s, request, "finish_checks"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and sorted(moved) == [False, True]
    assert count(session, rid, "output_request.finish_checks") == 2  # the submission's, and this one
    assert api.get(rid)["status"] == "in_review"


def test_a_file_that_changed_is_blocked_at_release_and_the_block_is_committed(
    api: Api, session: Session
) -> None:
    from governance.outputs.runtime import output_store

    rid = api.new()
    fid = api.add(rid, "t.csv")
    api.submit(rid)
    api.approve_all(rid)
    row = session.get(OutputFile, uuid.UUID(fid))
    assert row is not None
    output_store().path_for(row.storage_id).write_bytes(b"replaced")
    refused = problem(api.post(rid, "release", "oscar"), 409)
    assert refused["type"].endswith("integrity-failure") and refused["files"][0].startswith("t.csv")
    assert api.get(rid, "oscar")["status"] == "blocked"
    assert (
        count(session, rid, "output_request.release") == 0
        and count(session, rid, "output_request.block") == 1
    )
    assert session.scalar(select(func.count()).select_from(OutputRelease)) == 0


# --- blinding: rounds that end without a decision, denials, the auditors' report, record hashes ------


def test_promise_blinding_holds_forever_for_a_round_withdrawn_mid_review(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """Votes of a round are the project's to see only once the reviewers decided it. Round 1 is returned
    (decided: the project sees its votes, unnamed); in round 2 olivia votes reject (1 of 2), downloads the
    file, and alice withdraws: that round ended without a decision, so its vote (summary, time, round) and
    the download stay hidden from the project — the view gives no count, the log no event."""
    session.add(RoleBinding(id=uuid.uuid4(), role="auditor", user_id=ids["stella"], source="test"))
    join(session, ids, "stella")
    rid = api.new(title="Withdrawn mid-review")
    fid = api.add(rid, "t.csv", GOOD_CSV)
    api.submit(rid)
    for user in ("olivia", "oscar"):
        voted = api.vote(rid, fid, user, "request_changes", comment="Round the totals.")
        assert voted.status_code == 201, voted.text
    assert api.get(rid)["status"] == "returned"
    assert api.submit(rid)["status"] == "in_review" and api.get(rid)["round"] == 2
    assert api.vote(rid, fid, "olivia", "reject", comment="Still disclosive.").status_code == 201
    assert api.content(rid, fid, "olivia").status_code == 200
    withdrawn = api.post(rid, "withdraw", "alice")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn", withdrawn.text
    second = session.scalar(
        select(AuditEvent).where(
            AuditEvent.action == "output_review.vote", AuditEvent.summary["round"].as_integer() == 2
        )
    )
    assert second is not None and second.actor_username == "olivia"

    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))
    for member in ("alice", "bob", "stella"):
        [file] = api.get(rid, member)["files"]
        assert (file["votes_cast"], file["outcome"], file["reviews"]) == (None, "pending", []), member
        votes = audit_items(api, member, action="output_review.vote")
        assert [(v["summary"]["round"], v["summary"]["vote"]) for v in votes] == [
            (1, "request_changes"),
            (1, "request_changes"),
        ], member
        assert all(v["redacted"] and v["actor_username"] is None for v in votes)
        assert audit_items(api, member, action="output_file.download") == []
        problem(api.client.get(f"{AUDIT}/{second.id}", headers=api.h(member)), 404)
        assert not any(name in json.dumps(audit_items(api, member)) for name in names)
    checker = api.get(rid, "olivia")["files"][0]
    assert checker["votes_cast"] == 1 and [r["reviewer"] for r in checker["reviews"]] == ["olivia"]
    audited = audit_items(api, "aud", action="output_review.vote")
    assert sorted((v["summary"]["round"], v["actor_username"]) for v in audited) == [
        (1, "olivia"),
        (1, "oscar"),
        (2, "olivia"),
    ]


def test_promise_blinding_holds_for_a_round_blocked_mid_review(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    rid = api.new(title="Blocked mid-review")
    fid = api.add(rid, "t.csv", GOOD_CSV)
    api.submit(rid)
    assert api.vote(rid, fid, "olivia", "reject", comment="Disclosive.").status_code == 201
    session.execute(update(OutputRequest).where(OutputRequest.id == uuid.UUID(rid)).values(status="blocked"))
    session.commit()
    for member in ("alice", "bob"):
        [file] = api.get(rid, member)["files"]
        assert (file["votes_cast"], file["outcome"], file["reviews"]) == (None, "pending", []), member
        assert audit_items(api, member, action="output_review.vote") == []


def test_promise_blinding_hides_a_checkers_refused_vote_from_the_project(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """olivia's refused second vote is a denial event on the request's path: it belongs to the request's
    project and is a checker's event — hidden from the project (an involved overseer included) while the
    request is in review, and shown without its actor afterwards. Auditors see it all."""
    session.add(RoleBinding(id=uuid.uuid4(), role="auditor", user_id=ids["stella"], source="test"))
    join(session, ids, "stella")
    rid = api.new(title="Refused vote")
    fid = api.add(rid, "t.csv", GOOD_CSV)
    api.submit(rid)
    assert api.vote(rid, fid, "olivia").status_code == 201
    problem(api.vote(rid, fid, "olivia"), 409)
    denial = session.scalar(select(AuditEvent).where(AuditEvent.action == "denied.post"))
    assert denial is not None and denial.actor_username == "olivia"
    assert denial.project_id == str(ids["diabetes-outcomes"])
    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))
    for member in ("alice", "bob", "stella"):
        assert audit_items(api, member, action="denied.post") == [], member
        assert not any(name in json.dumps(audit_items(api, member)) for name in names)
        problem(api.client.get(f"{AUDIT}/{denial.id}", headers=api.h(member)), 404)
    # the members' own refused reads above (audited, no project) are not lost to the blinding's filter
    assert {e["actor_username"] for e in audit_items(api, "stella", action="denied.get")} >= {"alice", "bob"}
    [seen] = audit_items(api, "aud", action="denied.post")
    assert seen["actor_username"] == "olivia" and seen["project_id"] == str(ids["diabetes-outcomes"])

    assert api.vote(rid, fid, "oscar").status_code == 201
    assert api.get(rid)["status"] == "approved"
    for member in ("alice", "bob", "stella"):
        [shown] = audit_items(api, member, action="denied.post")
        assert shown["redacted"] is True and shown["actor_id"] is shown["actor_username"] is None
        assert shown["hash"] is None
        assert audit_items(api, member, actor="olivia") == []
        assert not any(name in json.dumps(audit_items(api, member)) for name in names)


def test_a_denial_on_a_request_that_does_not_exist_is_still_recorded(api: Api, session: Session) -> None:
    missing = uuid.uuid4()
    problem(api.client.post(f"{BASE}/{missing}/withdraw", headers=api.h("olivia")), 403)
    denial = session.scalar(select(AuditEvent).where(AuditEvent.action == "denied.post"))
    assert denial is not None and denial.project_id is None and denial.actor_username == "olivia"


def released_request(api: Api) -> str:
    rid = api.new(title="Released")
    fid = api.add(rid, "small.csv", SMALL_CELLS)
    api.submit(rid)
    for user in ("olivia", "oscar"):
        voted = api.vote(rid, fid, user, justification="Structural.", comment="Note.", visibility="private")
        assert voted.status_code == 201, voted.text
    assert api.post(rid, "release", "oscar").status_code == 200
    return rid


def test_promise_blinding_the_releases_report_gives_involved_auditors_the_redacted_record(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """The auditors' report of releases applies the release record's rule row by row: an auditor (or an
    admin) involved in the project gets the project's copy — no reviewer, no releaser, no full hash."""
    session.add(RoleBinding(id=uuid.uuid4(), role="auditor", user_id=ids["stella"], source="test"))
    join(session, ids, "stella")
    join(session, ids, "admin")
    rid = released_request(api)
    stored = session.scalar(select(OutputRelease).where(OutputRelease.request_id == uuid.UUID(rid)))
    assert stored is not None
    names = ("olivia", "oscar", str(ids["olivia"]), str(ids["oscar"]))
    for involved in ("stella", "admin"):
        response = api.client.get("/api/v1/audit/reports/releases", headers=api.h(involved))
        assert response.status_code == 200, response.text
        [row] = response.json()["items"]
        assert row["released_by_id"] is None and row["record"]["redacted"] is True, involved
        assert row["record"]["released_by"] is None
        assert stored.record_sha256 not in response.text
        assert (
            row["record_sha256"]
            == hashlib.sha256(
                json.dumps(row["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            ).hexdigest()
        )
        assert not any(name in response.text for name in names), involved
        assert "Note." not in response.text
    [full] = api.client.get("/api/v1/audit/reports/releases", headers=api.h("aud")).json()["items"]
    assert full["released_by_id"] == str(ids["oscar"]) and full["record_sha256"] == stored.record_sha256
    assert full["record"] == stored.record


def test_promise_blinding_the_redacted_release_record_carries_its_own_hash(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    """The full record's SHA-256 would let a member confirm a guess of the reviewers (hash the redacted
    copy with the names put back): members get the hash of the bytes they receive, never the full one —
    not in the header, the body, the request's view or the audit log."""
    rid = released_request(api)
    stored = session.scalar(select(OutputRelease).where(OutputRelease.request_id == uuid.UUID(rid)))
    assert stored is not None
    for member in ("alice", "bob"):
        response = api.client.get(f"{BASE}/{rid}/release-record", headers=api.h(member))
        assert response.status_code == 200 and response.headers["x-record-redacted"] == "true"
        assert response.headers["x-record-sha256"] == hashlib.sha256(response.content).hexdigest()
        assert stored.record_sha256 not in response.text
        assert stored.record_sha256 not in response.headers["x-record-sha256"]
        body = api.get(rid, member)
        assert body["release"]["record_sha256"] is None
        assert stored.record_sha256 not in json.dumps(audit_items(api, member))
    for overseer in ("aud", "olivia", "sam"):
        response = api.client.get(f"{BASE}/{rid}/release-record", headers=api.h(overseer))
        assert response.headers["x-record-sha256"] == stored.record_sha256
        assert api.get(rid, overseer)["release"]["record_sha256"] == stored.record_sha256
    [event] = audit_items(api, "aud", action="output_request.release")
    assert event["summary"]["record_sha256"] == stored.record_sha256
