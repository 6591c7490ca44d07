"""Stewards' queues: what waits for a decision, oldest first — applications (N-of-M approvals and who
approved), membership requests, dataset access requests and accreditations to verify — each row with the
buttons of actions_for and its forms calling perform(), exactly as the API's generated routes do."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.core.errors import InvalidInput, NotFound
from governance.core.pagination import keyset_page
from governance.core.transitions import Lifecycle, actions_for, perform
from governance.datasets import repository as datasets_repository
from governance.datasets.lifecycle import ACCESS_REQUEST_LIFECYCLE
from governance.datasets.states import AccessRequestStatus
from governance.identity import repository as identity_repository
from governance.identity.lifecycle import ACCREDITATION_LIFECYCLE
from governance.models.datasets import AccessRequest, Dataset
from governance.models.identity import Accreditation, Organisation, User
from governance.models.projects import Membership, Project
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE, PROJECT_LIFECYCLE, REVIEWABLE
from governance.projects.repository import visible_projects
from governance.projects.states import MembershipStatus
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.tasks import approvals_by_project, progress
from governance.web.viewer import FormViewer, PageViewer, Viewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PAGE_SIZE = 50
TIERS = {"0", "1", "2", "3", "4"}
BUTTONS = {
    "approve": "Approve",
    "reject": "Reject",
    "verify": "Verify",
    "revoke": "Revoke",
}
NEEDS_NOTE = frozenset({"reject", "revoke"})
DONE = {
    ("memberships", "approve"): "The membership was approved.",
    ("memberships", "reject"): "The membership request was rejected.",
    ("access-requests", "approve"): "The access request was approved and the grant created.",
    ("access-requests", "reject"): "The access request was rejected with your note.",
    ("accreditations", "verify"): "The accreditation was verified.",
    ("accreditations", "revoke"): "The accreditation was revoked.",
}


@router.get("/queues/projects")
def project_queue(
    request: Request,
    session: DbSession,
    viewer: PageViewer,
    tier: str = Query("", max_length=1),
    status: str = Query("", max_length=16),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    require(viewer, Scope.approve_projects)
    reviewable = [s.value for s in REVIEWABLE]
    status = status if status in reviewable else ""  # an unknown filter shows the whole queue
    tier = tier if tier in TIERS else ""
    stmt = visible_projects(viewer.principal).where(Project.status.in_([status] if status else reviewable))
    if tier:
        stmt = stmt.where(Project.tier == int(tier))
    rows, next_cursor = keyset_page(session, stmt, Project.created_at, Project.id, limit=50, cursor=cursor)
    projects = list(rows)
    approvers = approvals_by_project(session, projects)
    items = [
        {
            "project": p,
            "progress": progress(p, approvers[p.id]),
            "actions": actions_for(session, viewer.principal, PROJECT_LIFECYCLE, p),
        }
        for p in projects
    ]
    context = {
        "items": items,
        "tier": tier,
        "status": status,
        "next_cursor": next_cursor,
        "active": "queue",
    }
    return page(request, session, viewer, "queues/projects.html", context)


# --- helpers shared by the queues ----------------------------------------------------------------


def _organisations(session: Session) -> list[tuple[str, str]]:
    return list(
        session.execute(select(Organisation.slug, Organisation.name).order_by(Organisation.name))
        .tuples()
        .all()
    )


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


def _waits_on(actions: Any, action: str, others: str) -> str:
    """Who else the row waits on: you when the move is open to you, else the refusal's words."""
    if action in actions.allowed:
        return f"you ({others})"
    return actions.reason(action) or others


def _body(lifecycle: Lifecycle[Any], action: str, note: str) -> BaseModel | None:
    """The move's API body from the form's one text field (a note, or the reason where the API asks one)."""
    t = lifecycle.get(action)
    if t.body is None:
        return None
    fields = t.body.model_fields
    data = {"reason": note} if "reason" in fields else {"note": note} if "note" in fields else {}
    body: BaseModel = t.body.model_validate(data)
    return body


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "")).removeprefix("Value error, ")
    if "at least 1 character" in msg:
        return f"say why: the {where or 'note'} is required"
    return f"{where}: {msg}" if where else msg


# --- memberships ---------------------------------------------------------------------------------


def _membership_items(
    session: Session, viewer: Viewer, tier: str, organisation: str, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    projects = visible_projects(viewer.principal)
    if tier:
        projects = projects.where(Project.tier == int(tier))
    if organisation:
        projects = projects.where(
            Project.organisation_id.in_(select(Organisation.id).where(Organisation.slug == organisation))
        )
    stmt = select(Membership).where(
        Membership.status == MembershipStatus.requested.value,
        Membership.removed_at.is_(None),
        Membership.project_id.in_(projects.with_only_columns(Project.id)),
    )
    rows, next_cursor = keyset_page(
        session, stmt, Membership.created_at, Membership.id, limit=PAGE_SIZE, cursor=cursor
    )
    members = list(rows)
    by_id = {
        p.id: p
        for p in session.scalars(select(Project).where(Project.id.in_({m.project_id for m in members})))
    }
    names = _names(session, {m.user_id for m in members} | {m.requested_by_id for m in members})
    items = []
    for m in members:
        actions = actions_for(session, viewer.principal, MEMBERSHIP_LIFECYCLE, m)
        items.append(
            {
                "row": m,
                "project": by_id[m.project_id],
                "person": names.get(m.user_id, ""),
                "asked_by": names.get(m.requested_by_id, ""),
                "state": MEMBERSHIP_LIFECYCLE.state_of(m),
                "actions": actions,
                "waits_on": _waits_on(actions, "approve", "a steward independent of the project"),
            }
        )
    return items, next_cursor


# --- access requests -----------------------------------------------------------------------------


def _access_items(
    session: Session, viewer: Viewer, tier: str, dataset: str, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    stmt = datasets_repository.visible_access_requests(viewer.principal).where(
        AccessRequest.status == AccessRequestStatus.pending.value
    )
    if tier or dataset:
        ds = select(Dataset.id)
        ds = ds.where(Dataset.tier == int(tier)) if tier else ds
        ds = ds.where(Dataset.slug == dataset) if dataset else ds
        stmt = stmt.where(AccessRequest.dataset_id.in_(ds))
    rows, next_cursor = keyset_page(
        session, stmt, AccessRequest.created_at, AccessRequest.id, limit=PAGE_SIZE, cursor=cursor
    )
    requests = list(rows)
    parts = datasets_repository.load_parts(session, requests)  # held while the actions are worked out
    names = _names(session, {r.requested_by_id for r in requests})
    items = []
    for r in requests:
        actions = actions_for(session, viewer.principal, ACCESS_REQUEST_LIFECYCLE, r)
        items.append(
            {
                "row": r,
                "project": session.get(Project, r.project_id),
                "dataset": session.get(Dataset, r.dataset_id),
                "asked_by": names.get(r.requested_by_id, ""),
                "state": r.status,
                "actions": actions,
                "waits_on": _waits_on(actions, "approve", "a steward independent of the project"),
            }
        )
    del parts
    return items, next_cursor


# --- accreditations ------------------------------------------------------------------------------


def _accreditation_items(
    session: Session, viewer: Viewer, organisation: str, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    unverified = (Accreditation.verified_at.is_(None), Accreditation.revoked_at.is_(None))
    stmt = select(Accreditation).where(*unverified)
    if not identity_repository.sees_all_credentials(viewer.principal):
        stmt = stmt.where(Accreditation.user_id == viewer.user.id)
    if organisation:
        stmt = stmt.where(
            Accreditation.user_id.in_(
                select(User.id)
                .join(Organisation, Organisation.id == User.organisation_id)
                .where(Organisation.slug == organisation)
            )
        )
    rows, next_cursor = keyset_page(
        session, stmt, Accreditation.created_at, Accreditation.id, limit=PAGE_SIZE, cursor=cursor
    )
    accreditations = list(rows)
    names = _names(session, {a.user_id for a in accreditations})
    items = []
    for a in accreditations:
        actions = actions_for(session, viewer.principal, ACCREDITATION_LIFECYCLE, a)
        items.append(
            {
                "row": a,
                "person": names.get(a.user_id, ""),
                "state": ACCREDITATION_LIFECYCLE.state_of(a),
                "actions": actions,
                "waits_on": _waits_on(actions, "verify", "a steward who checks the evidence"),
            }
        )
    return items, next_cursor


# --- the three queues' pages and forms -----------------------------------------------------------

QUEUES: dict[str, dict[str, Any]] = {
    "memberships": {
        "scope": Scope.approve_memberships,
        "title": "Membership requests",
        "note_label": "Note for the person and the lead (required to reject: say why)",
        "template": "queues/memberships.html",
        "lifecycle": MEMBERSHIP_LIFECYCLE,
    },
    "access-requests": {
        "scope": Scope.approve_access_requests,
        "title": "Access requests",
        "note_label": "Note for the applicants (required to reject: say why)",
        "template": "queues/access_requests.html",
        "lifecycle": ACCESS_REQUEST_LIFECYCLE,
    },
    "accreditations": {
        "scope": Scope.write_accreditations,
        "title": "Accreditations to verify",
        "note_label": "Why it is revoked (required to revoke)",
        "template": "queues/accreditations.html",
        "lifecycle": ACCREDITATION_LIFECYCLE,
    },
}


def _queue_page(
    request: Request,
    session: Session,
    viewer: Viewer,
    queue: str,
    *,
    tier: str = "",
    organisation: str = "",
    dataset: str = "",
    cursor: str | None = None,
    done: str = "",
    notice: str = "",
    errors: dict[str, dict[str, str]] | None = None,
    notes: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    spec = QUEUES[queue]
    tier = tier if tier in TIERS else ""
    if queue == "memberships":
        items, next_cursor = _membership_items(session, viewer, tier, organisation, cursor)
    elif queue == "access-requests":
        items, next_cursor = _access_items(session, viewer, tier, dataset, cursor)
    else:
        items, next_cursor = _accreditation_items(session, viewer, organisation, cursor)
    filters = {"tier": tier, "organisation": organisation, "dataset": dataset}
    context = {
        "queue": queue,
        "title": spec["title"],
        "note_label": spec["note_label"],
        "items": items,
        "filters": filters,
        "query": "&".join(f"{k}={v}" for k, v in filters.items() if v),
        "organisations": _organisations(session),
        "datasets": list(session.execute(select(Dataset.slug, Dataset.title).order_by(Dataset.slug)).all()),
        "next_cursor": next_cursor,
        "button_labels": BUTTONS,
        "needs_note": NEEDS_NOTE,
        "done": done,
        "notice": notice,
        "errors": errors or {},
        "notes": notes or {},
        "active": f"queue-{queue}",
    }
    return page(request, session, viewer, spec["template"], context, status_code=status_code)


def _queue_route(queue: str) -> Any:
    def show(
        request: Request,
        session: DbSession,
        viewer: PageViewer,
        tier: str = Query("", max_length=1),
        organisation: str = Query("", max_length=64),
        dataset: str = Query("", max_length=64),
        cursor: str | None = Query(None, max_length=200),
        done: str = Query("", max_length=20),
    ) -> Response:
        require(viewer, QUEUES[queue]["scope"])
        return _queue_page(
            request, session, viewer, queue, tier=tier, organisation=organisation, dataset=dataset,
            cursor=cursor, done=DONE.get((queue, done), ""),
        )  # fmt: skip

    show.__name__ = f"queue_{queue.replace('-', '_')}"
    return show


for _queue in QUEUES:
    router.add_api_route(f"/queues/{_queue}", _queue_route(_queue), methods=["GET"])


def _load(session: Session, viewer: Viewer, queue: str, item_id: uuid.UUID) -> Any:
    """The row the form acts on, through the same visibility as the API's routes (404 otherwise)."""
    principal = viewer.principal
    if queue == "memberships":
        row = session.get(Membership, item_id, with_for_update=True)
        visible = row is not None and session.scalar(
            visible_projects(principal).where(Project.id == row.project_id).with_only_columns(Project.id)
        )
        if row is None or not visible:
            raise NotFound("no such membership that you can see")
        return row
    if queue == "access-requests":
        ref = str(item_id)
        return datasets_repository.get_visible_access_request(session, principal, ref, for_update=True)
    accreditation = session.get(Accreditation, item_id, with_for_update=True)
    if accreditation is None:
        raise NotFound("no such accreditation that you can see")
    owner = identity_repository.get_credentials_owner(session, principal, str(accreditation.user_id))
    return identity_repository.get_accreditation(session, owner, item_id)


@router.post("/queues/{queue}/{item_id}/{action}")
def queue_action(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    queue: str,
    item_id: uuid.UUID,
    action: str,
    state: str = Form("", max_length=32),
    note: str = Form("", max_length=2000),
    back: str = Form("", max_length=500),
) -> Response:
    spec = QUEUES.get(queue)
    if spec is None:
        raise NotFound(f"there is no queue {queue!r}")
    lifecycle: Lifecycle[Any] = spec["lifecycle"]
    t = lifecycle.get(action)  # 404 in the API's words for a move that does not exist
    if not t.public:  # own-route moves (a membership's remove) are perform()ed as their route does
        raise InvalidInput(f"{action} is not a button of this page")
    require(viewer, spec["scope"])
    if t.scope is not None:
        require(viewer, t.scope)
    row = _load(session, viewer, queue, item_id)
    current = lifecycle.state_of(row)
    if state and state != current:  # a second click, or another steward was quicker
        notice = (
            f"This changed since you opened the page: it is now {current.replace('_', ' ')}. "
            "Nothing was done; here is where the queue stands."
        )
        return _queue_page(request, session, viewer, queue, notice=notice, status_code=409)
    key = str(item_id)
    try:
        body = _body(lifecycle, action, note.strip())
        perform(session, viewer.principal, lifecycle, row, action, body)
    except ValidationError as exc:
        return _queue_page(
            request, session, viewer, queue, errors={key: {action: _message(exc)}},
            notes={key: {action: note}}, status_code=400,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return _queue_page(
            request, session, viewer, queue, errors={key: {action: exc.detail}},
            notes={key: {action: note}}, status_code=400,
        )  # fmt: skip
    target = back if back.startswith("/") and not back.startswith("//") else f"/queues/{queue}"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={action}", status_code=303)
