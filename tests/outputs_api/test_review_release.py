"""The whole workflow with the demo cast: alice submits from diabetes-outcomes (tier 2, two reviewers),
olivia and oscar review, alice and bob can never review, an independent output checker releases."""

from __future__ import annotations

import hashlib
import json
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.models import AuditEvent, OutputFile, RoleBinding
from governance.outputs.suite import CONTENT_CHECKS
from tests.outputs_api.support import BASE, Api, problem

SMALL_CELLS = b"ward,patients\nA,125\nB,3\nC,240\n"  # a cell of 3: fails the threshold rule
SAFE_TABLE = b"year,admissions\n2019,125\n2020,140\n2021,155\n"
TABULAR_VERSION = dict(CONTENT_CHECKS)["tabular"]


def grant_role(session: Session, user_id: uuid.UUID, role: str) -> None:
    session.add(RoleBinding(id=uuid.uuid4(), role=role, user_id=user_id, source="test"))
    session.commit()


def submitted(api: Api) -> tuple[str, dict[str, str]]:
    rid = api.new(title="Tables for the paper")
    files = {
        "safe.csv": api.add(rid, "safe.csv", SAFE_TABLE),
        "small.csv": api.add(rid, "small.csv", SMALL_CELLS),
    }
    body = api.submit(rid)
    assert body["status"] == "in_review", body
    return rid, files


def test_the_workflow_from_submission_to_release(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    grant_role(session, ids["alice"], "output_checker")
    grant_role(session, ids["bob"], "output_checker")
    rid, files = submitted(api)
    view = api.get(rid, "olivia")
    by_name = {f["name"]: f for f in view["files"]}
    assert by_name["safe.csv"]["status"] in ("pass", "review") and by_name["small.csv"]["status"] == "fail"
    tabular = next(c for c in by_name["small.csv"]["checks"] if c["name"] == "tabular")
    assert tabular["status"] == "fail" and tabular["version"] == TABULAR_VERSION
    assert any(f["location"] and f["location"].get("row") == 1 for f in tabular["findings"])
    assert {c["name"] for c in by_name["safe.csv"]["checks"]} >= {
        "integrity",
        "filetype",
        "size",
        "malware",
        "tabular",
    }

    # the requester and a project member can never review, even holding the role
    assert "asked for this release" in problem(api.vote(rid, files["safe.csv"], "alice"), 403)["detail"]
    bob = problem(api.vote(rid, files["safe.csv"], "bob"), 403)
    assert bob["type"].endswith("separation-of-duties") and "involved in project" in bob["detail"]
    problem(api.vote(rid, files["safe.csv"], "carol"), 403)  # no review scope

    # approving a file that failed a check needs a justification; asking for changes needs a comment
    needs = problem(api.vote(rid, files["small.csv"], "olivia"), 400)
    assert needs["failed_checks"] == ["tabular"]
    assert (
        api.vote(
            rid,
            files["small.csv"],
            "olivia",
            justification="The 3 is a structural count published by NHS Digital.",
            comment="ok",
            visibility="private",
        ).status_code
        == 201
    )
    assert api.vote(rid, files["safe.csv"], "olivia", comment="Rounded, large cells.").status_code == 201
    assert problem(api.vote(rid, files["safe.csv"], "olivia"), 409)["detail"].startswith(
        "you have already voted"
    )

    # blinded: oscar sees that a vote was cast but not what it was
    oscar_view = {f["name"]: f for f in api.get(rid, "oscar")["files"]}
    assert oscar_view["safe.csv"]["votes_cast"] == 1 and oscar_view["safe.csv"]["reviews"] == []
    assert oscar_view["safe.csv"]["outcome"] == "pending"
    assert [
        r["reviewer"] for r in {f["name"]: f for f in api.get(rid, "olivia")["files"]}["safe.csv"]["reviews"]
    ] == ["olivia"]
    assert api.get(rid, "alice")["files"][0]["reviews"] == []  # researchers wait for the decision

    assert api.vote(rid, files["safe.csv"], "oscar", comment="Fine.").status_code == 201
    assert api.vote(rid, files["small.csv"], "oscar", justification="Agreed: structural.").status_code == 201
    approved = api.get(rid, "oscar")
    assert approved["status"] == "approved" and approved["allowed_actions"] == ["release"]
    assert {f["outcome"] for f in approved["files"]} == {"approved"}
    assert len({f["name"]: f for f in approved["files"]}["safe.csv"]["reviews"]) == 2  # unblinded now

    researcher = {f["name"]: f for f in api.get(rid, "alice")["files"]}
    small_votes = researcher["small.csv"]["reviews"]
    assert len(small_votes) == 2 and all(v["reviewer"] is None for v in small_votes)
    assert [v["comment"] for v in small_votes if v["visibility"] == "private"] == [""]

    # release: only independent holders of release:outputs
    problem(api.post(rid, "release", "sam"), 403)
    problem(api.post(rid, "release", "alice"), 403)  # holds the scope now, but is the requester
    released = api.post(rid, "release", "olivia")
    assert released.status_code == 200, released.text
    body = released.json()
    assert body["status"] == "released" and body["release"]["released_by"] == "olivia"

    # the full record is the auditors' (and checkers'); the project's members get it redacted
    record_response = api.client.get(f"{BASE}/{rid}/release-record", headers=api.h("aud"))
    assert record_response.status_code == 200 and record_response.headers["x-record-redacted"] == "false"
    digest = hashlib.sha256(record_response.content).hexdigest()
    assert record_response.headers["x-record-sha256"] == digest == body["release"]["record_sha256"]
    record = json.loads(record_response.content)
    assert record["format"] == "five-safes-governance/release-record" and record["format_version"] == 1
    assert record["project"]["slug"] == "diabetes-outcomes"
    assert [d["slug"] for d in record["datasets"]] == ["hospital-episodes"]
    assert (
        record["risk_profile"]["version"] == "2026.1"
        and record["risk_profile"]["criteria"]["safe_threshold"] == 10
    )
    entries = {f["name"]: f for f in record["files"]}
    assert entries["safe.csv"]["sha256"] == hashlib.sha256(SAFE_TABLE).hexdigest()
    assert entries["small.csv"]["size"] == len(SMALL_CELLS)
    checks = {c["name"]: c for c in entries["small.csv"]["checks"]}
    assert checks["tabular"]["status"] == "fail" and checks["tabular"]["version"] == TABULAR_VERSION
    assert checks["tabular"]["parameters"]["safe_threshold"] == 10
    votes = entries["small.csv"]["votes"]
    assert [v["reviewer"]["username"] for v in votes] == ["olivia", "oscar"] and all(v["at"] for v in votes)
    assert votes[0]["comment"] is None and votes[0]["visibility"] == "private"  # private stays private
    assert [j["reviewer"] for j in entries["small.csv"]["justifications"]] == ["olivia", "oscar"]
    assert (
        record["released_by"]["username"] == "olivia"
        and record["request"]["requester"]["username"] == "alice"
    )

    # after release the project's members may download anywhere; others may not
    download = api.content(rid, files["safe.csv"], "bob")
    assert download.status_code == 200 and download.content == SAFE_TABLE
    problem(api.content(rid, files["safe.csv"], "carol"), 404)
    assert api.content(rid, files["safe.csv"], "oscar").status_code == 200

    # recall
    problem(api.post(rid, "recall", "oscar", body={"reason": ""}), 422)
    recalled = api.post(rid, "recall", "oscar", body={"reason": "A small cell was found after release."})
    assert recalled.status_code == 200 and recalled.json()["status"] == "recalled"
    assert recalled.json()["release"]["recall_reason"] == "A small cell was found after release."
    problem(api.content(rid, files["safe.csv"], "bob"), 403)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == rid).order_by(AuditEvent.seq)
    ).all()
    assert actions[-3:] == ["output_request.approve", "output_request.release", "output_request.recall"]


def test_disagreement_is_settled_by_a_further_reviewer_and_the_request_returned(
    api: Api, session: Session
) -> None:
    rid = api.new()
    fid = api.add(rid, "safe.csv", SAFE_TABLE)
    api.submit(rid)
    assert api.vote(rid, fid, "olivia").status_code == 201
    assert api.vote(rid, fid, "oscar", "request_changes").status_code == 400  # a comment is needed
    assert (
        api.vote(rid, fid, "oscar", "request_changes", comment="Say how the years were chosen.").status_code
        == 201
    )
    view = api.get(rid, "olivia")
    assert view["status"] == "in_review" and view["files"][0]["outcome"] == "conflicted"
    assert api.vote(rid, fid, "admin", "request_changes", comment="Agree with oscar.").status_code == 201
    returned = api.get(rid)
    assert returned["status"] == "returned" and returned["files"][0]["outcome"] == "changes_requested"
    assert [v["comment"] for v in returned["files"][0]["reviews"]][-1] == "Agree with oscar."

    # the researcher edits and resubmits: a new review round, the old votes kept for the record
    patched = api.client.patch(
        f"{BASE}/{rid}/files/{fid}",
        json={"context": "Years 2019-2021, all admissions."},
        headers=api.h("alice"),
    )
    assert patched.status_code == 200
    again = api.submit(rid)
    assert again["status"] == "in_review" and again["round"] == 2
    assert again["files"][0]["outcome"] == "pending" and again["files"][0]["votes_cast"] is None  # blinded
    checker = api.get(rid, "olivia")["files"][0]
    assert checker["outcome"] == "pending" and checker["votes_cast"] == 0
    assert api.vote(rid, fid, "olivia").status_code == 201  # a new round: voting again is allowed
    assert api.vote(rid, fid, "oscar").status_code == 201
    assert api.get(rid)["status"] == "approved"


def test_rejection_and_mixed_outcomes(api: Api) -> None:
    rid = api.new()
    fid = api.add(rid, "safe.csv", SAFE_TABLE)
    api.submit(rid)
    for user in ("olivia", "oscar"):
        assert api.vote(rid, fid, user, "reject", comment="Not an aggregate output.").status_code == 201
    rejected = api.get(rid)
    assert rejected["status"] == "rejected" and rejected["decided_at"] is not None
    problem(api.post(rid, "release", "olivia"), 409)
    problem(api.vote(rid, fid, "admin"), 409)

    mixed = api.new(title="two tables")
    a = api.add(mixed, "a.csv", SAFE_TABLE)
    b = api.add(mixed, "b.csv", SAFE_TABLE.replace(b"2019", b"2018"))
    api.submit(mixed)
    for user in ("olivia", "oscar"):
        assert api.vote(mixed, a, user).status_code == 201
        assert api.vote(mixed, b, user, "reject", comment="Duplicates a.csv.").status_code == 201
    assert api.get(mixed)["status"] == "returned"  # remove b.csv and resubmit to release a.csv


def test_a_file_changed_in_storage_blocks_the_release(api: Api, session: Session, store_dir: object) -> None:
    from governance.outputs.runtime import output_store

    rid = api.new()
    fid = api.add(rid, "safe.csv", SAFE_TABLE)
    api.submit(rid)
    api.approve_all(rid)
    row = session.get(OutputFile, uuid.UUID(fid))
    assert row is not None
    path = output_store().path_for(row.storage_id)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))
    failure = problem(api.post(rid, "release", "olivia"), 409)
    assert failure["type"].endswith("integrity-failure") and "safe.csv" in failure["detail"]
    view = api.get(rid, "olivia")
    assert view["status"] == "blocked" and "safe.csv" in view["hold_reason"] and view["release"] is None
    problem(api.content(rid, fid, "olivia"), 403)
    blocked = session.scalar(select(AuditEvent).where(AuditEvent.action == "output_request.block"))
    assert blocked is not None and blocked.actor_username == "olivia"
