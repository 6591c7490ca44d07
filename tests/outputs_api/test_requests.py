"""Creating, listing, submitting and withdrawing output requests; who may do each."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.core.clock import utcnow
from governance.models import AuditEvent, Membership, OutputRequest, Project
from tests.outputs_api.support import BASE, Api, problem


def test_a_project_member_creates_a_draft(api: Api, ids: dict[str, uuid.UUID], session: Session) -> None:
    response = api.create(title="Readmissions table")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft" and body["files"] == [] and body["title"] == "Readmissions table"
    assert body["project"] == {"id": str(ids["diabetes-outcomes"]), "name": "diabetes-outcomes"}
    assert body["requester"]["name"] == "alice" and body["tier"] == 2 and body["reviewers_required"] == 2
    # the button says why it cannot be pressed yet (the same words as the 400 a submit would get)
    assert body["allowed_actions"] == ["withdraw"]
    assert body["unavailable_actions"] == [
        {"action": "submit", "reason": "add at least one file before submitting"}
    ]
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "output_request.create"))
    assert event is not None and event.object_id == body["id"] and event.actor_username == "alice"
    by_id = api.create(project=str(ids["diabetes-outcomes"]))
    assert by_id.status_code == 201


def test_only_approved_members_of_an_active_project_may_create(api: Api, session: Session) -> None:
    assert problem(api.create(user="carol"), 404)["detail"].startswith("no project")  # not a member
    assert "active" in problem(api.create(project="school-attainment"), 409)["detail"]
    problem(api.create(user="olivia"), 403)  # no create:outputs scope
    problem(api.create(project="no-such-project"), 404)
    bob = session.scalar(
        select(Membership)
        .join(Project, Project.id == Membership.project_id)
        .where(Project.slug == "diabetes-outcomes", Membership.role == "researcher")
    )
    assert bob is not None
    bob.expires_at = utcnow() - timedelta(days=1)
    session.commit()
    assert "approved members" in problem(api.create(user="bob"), 403)["detail"]


def test_submit_needs_files_with_context_and_controls(api: Api) -> None:
    rid = api.new()
    assert "at least one file" in problem(api.post(rid, "submit"), 400)["detail"]
    api.add(rid, "a.csv", context="", controls=None)
    detail = problem(api.post(rid, "submit"), 400)
    assert "a.csv" in detail["detail"] and detail["files"] == ["a.csv"]
    fid = api.get(rid)["files"][0]["id"]
    patched = api.client.patch(
        f"{BASE}/{rid}/files/{fid}",
        json={"context": "Counts by year.", "controls": "Rounded to 5."},
        headers=api.h("alice"),
    )
    assert patched.status_code == 200 and patched.json()["context"] == "Counts by year."
    body = api.submit(rid)
    assert body["status"] == "in_review" and body["round"] == 1 and body["profile_version"] == "2026.1"
    assert body["submitted_at"] is not None


def test_only_the_requester_submits_and_edits(api: Api) -> None:
    rid = api.new()
    fid = api.add(rid)
    assert "created this request" in problem(api.post(rid, "submit", user="bob"), 403)["detail"]
    problem(api.upload(rid, "b.csv", user="bob"), 403)
    problem(api.client.delete(f"{BASE}/{rid}/files/{fid}", headers=api.h("bob")), 403)
    problem(api.post(rid, "submit", user="carol"), 404)  # cannot even see it


def test_withdraw_before_approval_and_illegal_moves(api: Api, session: Session) -> None:
    rid = api.new()
    api.add(rid)
    api.submit(rid)
    withdrawn = api.post(rid, "withdraw", body={"note": "Wrong table"})
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    moved = problem(api.post(rid, "submit"), 409)
    assert moved["type"].endswith("illegal-transition") and moved["current_state"] == "withdrawn"
    assert "you cannot submit a request that is withdrawn" in moved["detail"]
    assert moved["allowed_actions"] == [] and "the moves open to you now are: none" in moved["detail"]
    problem(api.post(rid, "withdraw"), 409)
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == rid).order_by(AuditEvent.seq)
    ).all()
    assert actions == [
        "output_request.create",
        "output_request.submit",
        "output_request.start_checks",
        "output_request.finish_checks",
        "output_request.withdraw",
    ]


def test_listing_mine_reviewable_and_by_project_with_keyset_pages(api: Api) -> None:
    first = [api.new(title=f"Request {i}") for i in range(3)]
    api.add(first[0])
    api.submit(first[0])
    mine = api.client.get(BASE, params={"mine": "true", "limit": 2}, headers=api.h("alice")).json()
    assert [r["id"] for r in mine["items"]] == first[:2] and mine["next_cursor"]
    rest = api.client.get(
        BASE, params={"mine": "true", "limit": 2, "cursor": mine["next_cursor"]}, headers=api.h("alice")
    )
    assert [r["id"] for r in rest.json()["items"]] == first[2:] and rest.json()["next_cursor"] is None
    assert mine["items"][0]["file_count"] == 1 and mine["items"][0]["total_bytes"] > 0
    # bob (a member) sees the project's requests, but none is reviewable by him
    assert len(api.client.get(BASE, headers=api.h("bob")).json()["items"]) == 3
    assert api.client.get(BASE, params={"reviewable": "true"}, headers=api.h("bob")).json()["items"] == []
    # checkers see submitted requests only, and those waiting for them under "reviewable"
    olivia = api.client.get(BASE, headers=api.h("olivia")).json()["items"]
    assert [r["id"] for r in olivia] == [first[0]]
    reviewable = api.client.get(BASE, params={"reviewable": "true"}, headers=api.h("olivia")).json()["items"]
    assert [r["id"] for r in reviewable] == [first[0]]
    assert api.client.get(BASE, headers=api.h("carol")).json()["items"] == []
    by_project = api.client.get(
        BASE, params={"project": "diabetes-outcomes", "status": "draft"}, headers=api.h("alice")
    )
    assert len(by_project.json()["items"]) == 2
    assert api.client.get(BASE, params={"project": "nope"}, headers=api.h("alice")).json()["items"] == []
    problem(api.client.get(BASE, params={"cursor": "garbage"}, headers=api.h("alice")), 400)
    problem(
        api.client.get(f"{BASE}/{first[1]}", headers=api.h("olivia")), 404
    )  # a draft is not theirs to see
    problem(api.client.get(f"{BASE}/not-a-uuid", headers=api.h("alice")), 422)


def test_the_workspace_token_is_bound_to_its_project(
    api: Api, session: Session, ids: dict[str, uuid.UUID]
) -> None:
    from governance.auth.tokens import issue_token
    from governance.models import User

    alice = session.get(User, ids["alice"])
    assert alice is not None
    other = issue_token(
        session,
        alice,
        name="ws",
        scopes=["create:outputs"],
        lifetime=timedelta(hours=1),
        actor=None,
        project_id=ids["school-attainment"],
        audit=False,
    )
    mine = issue_token(
        session,
        alice,
        name="ws",
        scopes=["create:outputs"],
        lifetime=timedelta(hours=1),
        actor=None,
        project_id=ids["diabetes-outcomes"],
        audit=False,
    )
    session.commit()
    wrong = {"Authorization": f"Bearer {other.token}"}
    right = {"Authorization": f"Bearer {mine.token}"}
    response = api.client.post(BASE, json={"project": "diabetes-outcomes", "title": "t"}, headers=wrong)
    problem(response, 404)
    created = api.client.post(BASE, json={"project": "diabetes-outcomes", "title": "t"}, headers=right)
    assert created.status_code == 201
    rid = created.json()["id"]
    assert api.client.get(f"{BASE}/{rid}", headers=right).status_code == 200
    problem(api.client.get(f"{BASE}/{rid}", headers=wrong), 404)
    listed = api.client.get(BASE, params={"mine": "true"}, headers=right).json()["items"]
    assert [r["id"] for r in listed] == [rid]
    assert (
        session.scalar(select(OutputRequest.requester_id).where(OutputRequest.id == uuid.UUID(rid)))
        == ids["alice"]
    )
