"""Project pages: the list, the application form (new and edit), one project with its buttons, and the
forms those buttons send. Every rule is the service's or the lifecycle's (actions_for, perform)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.core.errors import DomainError, InvalidInput
from governance.core.schemas import TransitionBody
from governance.core.transitions import Actions, actions_for, perform
from governance.datasets import access_requests
from governance.datasets import repository as datasets_repository
from governance.models.audit import AuditEvent
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.identity import User
from governance.models.projects import Membership, Project
from governance.projects import memberships, repository, service
from governance.projects.lifecycle import MEMBERSHIP_LIFECYCLE, PROJECT_LIFECYCLE, missing_for_submission
from governance.projects.schemas import ProjectCreate, ProjectUpdate
from governance.projects.states import ProjectStatus
from governance.web import datasets, readiness
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.tasks import approvals_by_project, progress
from governance.web.viewer import FormViewer, PageViewer, Viewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FIELDS = ("title", "lay_summary", "purpose", "public_benefit", "ethics_ref", "tier", "starts_on", "ends_on")
LABELS = {
    "slug": "Short name (used in addresses)",
    "title": "Title",
    "lay_summary": "Summary in plain words",
    "purpose": "Purpose",
    "public_benefit": "Public benefit",
    "ethics_ref": "Ethics approval reference",
    "tier": "Data tier",
    "starts_on": "Starts on",
    "ends_on": "Ends on",
}
SECTIONS = (
    ("Summary", ("slug", "title", "lay_summary")),
    ("Purpose and public benefit", ("purpose", "public_benefit")),
    ("Ethics", ("ethics_ref",)),
    ("Tier and dates", ("tier", "starts_on", "ends_on")),
)
BUTTONS = {
    "submit": "Submit for review",
    "approve": "Approve",
    "return": "Return for changes",
    "reject": "Reject",
    "activate": "Activate",
    "suspend": "Suspend",
    "close": "Close the project",
    "accept": "Accept the invitation",
    "decline": "Decline the invitation",
}
NEEDS_NOTE = frozenset({"return", "reject"})
PHASES = ("draft", "submitted", "in_review", "approved", "active")
PHASE_OF = {"returned": 0, "rejected": 2, "suspended": 4, "closed": 4}
DONE = {
    "submit": "The application was submitted for review.",
    "approve": "Your approval was recorded.",
    "return": "The application was returned to the applicants with your note.",
    "reject": "The application was rejected.",
    "activate": "The project is active.",
    "suspend": "The project is suspended.",
    "close": "The project is closed.",
    "accept": "You accepted the invitation.",
    "decline": "You declined the invitation.",
    "saved": "The application was saved.",
    "requested": "Your access request was sent; a data steward independent of the project decides it.",
    "created": "The draft was saved.",
}
TIMELINE_LIMIT = 50


# --- the list ------------------------------------------------------------------------------------


@router.get("/projects")
def list_projects(
    request: Request,
    session: DbSession,
    viewer: PageViewer,
    status: str = Query("", max_length=16),
    q: str | None = Query(None, max_length=100),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    require(viewer, Scope.read_projects)
    status = status if status in {s.value for s in ProjectStatus} else ""  # unknown: no filter
    rows, next_cursor = repository.list_projects(
        session, viewer.principal, status=status or None, tier=None, q=q or None, limit=50, cursor=cursor
    )
    context = {
        "projects": rows,
        "next_cursor": next_cursor,
        "status": status,
        "q": q or "",
        "statuses": [s.value for s in ProjectStatus],
        "active": "projects",
    }
    return page(request, session, viewer, "projects/list.html", context)


# --- the application form ------------------------------------------------------------------------


def _form_values(**raw: str) -> dict[str, Any]:
    """The form's strings as the API's body: empty dates are "not given", the tier a number if it is one."""
    data: dict[str, Any] = {}
    for key, value in raw.items():
        value = value.strip()
        if key in ("starts_on", "ends_on"):
            data[key] = value or None
        elif key == "tier":
            data[key] = int(value) if value.isdigit() else value
        else:
            data[key] = value
    return data


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        key = loc[0] if loc else ("ends_on" if "ends_on" in message else "_form")
        errors.setdefault(key, message)
    return errors


def _error_field(exc: DomainError) -> str:
    text = exc.detail
    for key in ("slug", "ends_on", "organisation", "lead"):
        if key in text:
            return key
    return "_form"


def _form(
    request: Request,
    session: Session,
    viewer: Viewer,
    *,
    project: Project | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "project": project,
        "values": {k: "" if v is None else str(v) for k, v in values.items()},
        "errors": errors or {},
        "sections": [
            (title, [f for f in fields if project is None or f != "slug"]) for title, fields in SECTIONS
        ],
        "labels": LABELS,
        "required": ("slug", "title", "tier"),
        "for_submission": ("lay_summary", "purpose", "public_benefit", "ends_on"),
        "active": "new" if project is None else "projects",
    }
    return page(request, session, viewer, "projects/form.html", context, status_code=status_code)


@router.get("/projects/new")
def new_project(request: Request, session: DbSession, viewer: PageViewer) -> Response:
    require(viewer, Scope.create_projects)
    values = {k: "" for k in ("slug", *FIELDS)}
    values["tier"] = "1"
    return _form(request, session, viewer, project=None, values=values)


def _text() -> Any:
    return Form("", max_length=20_000)  # one FieldInfo per parameter (a shared one takes the first name)


@router.post("/projects/new")
def create_project(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    slug: str = _text(),
    title: str = _text(),
    lay_summary: str = _text(),
    purpose: str = _text(),
    public_benefit: str = _text(),
    ethics_ref: str = _text(),
    tier: str = _text(),
    starts_on: str = _text(),
    ends_on: str = _text(),
) -> Response:
    require(viewer, Scope.create_projects)
    raw = dict(slug=slug, title=title, lay_summary=lay_summary, purpose=purpose,
               public_benefit=public_benefit, ethics_ref=ethics_ref, tier=tier, starts_on=starts_on,
               ends_on=ends_on)  # fmt: skip
    try:
        body = ProjectCreate.model_validate(_form_values(**raw))
    except ValidationError as exc:
        return _form(
            request, session, viewer, project=None, values=raw, errors=_field_errors(exc), status_code=422
        )
    try:
        project = service.create_project(session, viewer.principal, body)
    except (InvalidInput, DomainError) as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        session.rollback()
        errors = {_error_field(exc): exc.detail}
        return _form(
            request, session, viewer, project=None, values=raw, errors=errors, status_code=exc.status
        )
    return RedirectResponse(f"/projects/{project.slug}?done=created", status_code=303)


@router.get("/projects/{slug}/edit")
def edit_project(request: Request, session: DbSession, viewer: PageViewer, slug: str) -> Response:
    require(viewer, Scope.create_projects, Scope.manage_projects, any_of=True)
    project = repository.get_visible(session, viewer.principal, slug)
    refusal = service._edit_refusal(viewer.principal, project)  # the service's own rule, in its words
    if refusal is not None:
        raise refusal
    values = {k: getattr(project, k) for k in FIELDS}
    return _form(request, session, viewer, project=project, values=values)


@router.post("/projects/{slug}/edit")
def save_project(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    slug: str,
    title: str = _text(),
    lay_summary: str = _text(),
    purpose: str = _text(),
    public_benefit: str = _text(),
    ethics_ref: str = _text(),
    tier: str = _text(),
    starts_on: str = _text(),
    ends_on: str = _text(),
) -> Response:
    require(viewer, Scope.create_projects, Scope.manage_projects, any_of=True)
    project = repository.get_visible(session, viewer.principal, slug, for_update=True)
    raw = dict(title=title, lay_summary=lay_summary, purpose=purpose, public_benefit=public_benefit,
               ethics_ref=ethics_ref, tier=tier, starts_on=starts_on, ends_on=ends_on)  # fmt: skip
    try:
        body = ProjectUpdate.model_validate(_form_values(**raw))
    except ValidationError as exc:
        return _form(
            request, session, viewer, project=project, values=raw, errors=_field_errors(exc), status_code=422
        )
    changed = {k: v for k, v in body.model_dump().items() if getattr(project, k) != v}
    if changed:
        try:
            service.update_project(session, viewer.principal, project, ProjectUpdate.model_validate(changed))
        except DomainError as exc:
            if exc.status in (401, 403, 404):
                raise
            session.rollback()
            project = repository.get_visible(session, viewer.principal, slug)
            errors = {_error_field(exc): exc.detail}
            return _form(
                request, session, viewer, project=project, values=raw, errors=errors, status_code=exc.status
            )
    return RedirectResponse(f"/projects/{project.slug}?done=saved", status_code=303)


# --- one project ---------------------------------------------------------------------------------


def _timeline(session: Session, project: Project) -> list[dict[str, Any]]:
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.project_id == str(project.id), AuditEvent.outcome == "success")
        .where(AuditEvent.action.like("project.%") | AuditEvent.action.like("membership.%"))
        .order_by(AuditEvent.seq.desc())
        .limit(TIMELINE_LIMIT)
    )
    return [
        {
            "when": e.occurred_at,
            "who": e.actor_username or "the system",
            "what": e.action.split(".", 1)[1].replace("_", " "),
            "note": str((e.summary or {}).get("note", "")),
            "to": str((e.summary or {}).get("to", "")),
        }
        for e in events
    ]


def _members(session: Session, viewer: Viewer, project: Project) -> list[dict[str, Any]]:
    rows, _ = memberships.list_members(session, project, status=None, limit=200, cursor=None)
    ids = {r.user_id for r in rows}
    names = (
        dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())
        if ids
        else {}
    )
    return [
        {
            "row": r,
            "username": names.get(r.user_id, ""),
            "status": MEMBERSHIP_LIFECYCLE.state_of(r),
            "actions": actions_for(session, viewer.principal, MEMBERSHIP_LIFECYCLE, r),
        }
        for r in rows
    ]


def _detail(
    request: Request,
    session: Session,
    viewer: Viewer,
    project: Project,
    *,
    status_code: int = 200,
    notice: str = "",
    done: str = "",
    note_errors: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
) -> Response:
    actions: Actions = actions_for(session, viewer.principal, PROJECT_LIFECYCLE, project)
    timeline = _timeline(session, project)
    returned_note = next((e["note"] for e in timeline if e["what"] == "return" and e["note"]), "")
    phase = PHASE_OF.get(project.status, PHASES.index(project.status) if project.status in PHASES else 0)
    may_edit = (viewer.has(Scope.create_projects) or viewer.has(Scope.manage_projects)) and (
        service._edit_refusal(viewer.principal, project) is None
    )
    context = {
        "project": project,
        "actions": actions,
        "button_labels": BUTTONS,
        "needs_note": NEEDS_NOTE,
        "phases": PHASES,
        "phase": phase,
        "approvals": progress(project, approvals_by_project(session, [project])[project.id]),
        "missing": missing_for_submission(project) if project.status in ("draft", "returned") else [],
        "labels": LABELS,
        "members": _members(session, viewer, project),
        "timeline": timeline,
        "returned_note": returned_note if project.status == "returned" else "",
        "may_edit": may_edit,
        "notice": notice,
        "done": DONE.get(done, ""),
        "note_errors": note_errors or {},
        "notes": notes or {},
        "active": "projects",
        **_data_and_readiness(session, viewer, project),
    }
    return page(request, session, viewer, "projects/detail.html", context, status_code=status_code)


def _data_and_readiness(session: Session, viewer: Viewer, project: Project) -> dict[str, Any]:
    """The datasets section (grants with expiry, requests) and launch readiness (the decision simulator)."""
    if not viewer.has(Scope.read_datasets):
        return {"grants": [], "access_requests": [], "can_request": False, "readiness": None}
    visible = datasets_repository.visible_grants(viewer.principal)
    grants = datasets.grant_rows(session, viewer, visible.where(Grant.project_id == project.id))
    requests = session.execute(
        datasets_repository.visible_access_requests(viewer.principal)
        .add_columns(Dataset.slug, Dataset.title)
        .join(Dataset, Dataset.id == AccessRequest.dataset_id)
        .where(AccessRequest.project_id == project.id, AccessRequest.status != "approved")
        .order_by(AccessRequest.created_at.desc())
        .limit(50)
    ).all()
    can_request = viewer.has(Scope.create_access_requests) and access_requests._may_request(
        session, viewer.principal, project
    )
    ready = (
        readiness.launch_readiness(session, viewer, project)
        if readiness.takes_part(session, viewer, project)
        else None
    )
    return {
        "grants": grants,
        "access_requests": requests,
        "can_request": can_request,
        "readiness": ready,
        "grant_labels": datasets.BUTTONS,
        "grant_needs_note": datasets.NEEDS_NOTE,
    }


@router.get("/projects/{slug}")
def show_project(
    request: Request, session: DbSession, viewer: PageViewer, slug: str, done: str = Query("", max_length=20)
) -> Response:
    require(viewer, Scope.read_projects)
    project = repository.get_visible(session, viewer.principal, slug)
    return _detail(request, session, viewer, project, done=done)


def _stale(state: str, current: str) -> str:
    if state and state != current:
        return (
            f"This changed since you opened the page: it is now {current.replace('_', ' ')}. "
            "Nothing was done; here is where it stands."
        )
    return ""


@router.post("/projects/{slug}/members/{member_id}/{action}")
def member_action(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    slug: str,
    member_id: uuid.UUID,
    action: str,
    state: str = Form("", max_length=32),
    note: str = Form("", max_length=2000),
) -> Response:
    require(viewer, Scope.read_projects)
    project = repository.get_visible(session, viewer.principal, slug)
    row: Membership = memberships.get_member(session, project, member_id)
    t = MEMBERSHIP_LIFECYCLE.get(action)
    if not t.public:  # a page's forms can only POST: remove (DELETE in the API) is a button here too
        raise InvalidInput(f"{action} is not a button of this page")
    if t.scope is not None:
        require(viewer, t.scope)
    stale = _stale(state, MEMBERSHIP_LIFECYCLE.state_of(row))
    if stale:
        return _detail(request, session, viewer, project, status_code=409, notice=stale)
    perform(session, viewer.principal, MEMBERSHIP_LIFECYCLE, row, action, TransitionBody(note=note))
    return RedirectResponse(f"/projects/{project.slug}?done={action}#members", status_code=303)


@router.post("/projects/{slug}/{action}")
def project_action(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    slug: str,
    action: str,
    state: str = Form("", max_length=32),
    note: str = Form("", max_length=2000),
) -> Response:
    t = PROJECT_LIFECYCLE.get(action)  # 404 in the API's words for a move that does not exist
    require(viewer, t.scope) if t.scope is not None else None
    project = repository.get_visible(session, viewer.principal, slug, for_update=True)
    stale = _stale(state, project.status)
    if stale:  # a second click, or another steward was quicker: nothing is applied twice
        return _detail(request, session, viewer, project, status_code=409, notice=stale)
    try:
        perform(
            session, viewer.principal, PROJECT_LIFECYCLE, project, action, TransitionBody(note=note.strip())
        )
    except InvalidInput as exc:
        session.rollback()
        project = repository.get_visible(session, viewer.principal, slug)
        field = "note" if "note" in exc.extra.get("missing_fields", []) else "_form"
        if field == "note":
            return _detail(
                request, session, viewer, project, status_code=400,
                note_errors={action: exc.detail}, notes={action: note},
            )  # fmt: skip
        return _detail(request, session, viewer, project, status_code=400, notice=exc.detail)
    return RedirectResponse(f"/projects/{project.slug}?done={action}", status_code=303)
