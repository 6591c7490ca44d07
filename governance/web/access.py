"""Asking for data: `/access-requests/new` — a project the person may ask for, a dataset, a justification and
a proposed end. The request is made by the API's own service (datasets/access_requests.create_request);
bad input re-renders the form with the person's input kept and each problem beside its field."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.core.errors import DomainError
from governance.datasets import access_requests
from governance.datasets.schemas import AccessRequestCreate
from governance.datasets.states import DatasetStatus
from governance.models.datasets import Dataset
from governance.models.projects import Project
from governance.projects.repository import visible_projects
from governance.projects.states import ENDED
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.viewer import FormViewer, PageViewer, Viewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

FIELD_WORDS = (("expires_at", "expires_at"), ("dataset", "dataset"), ("project", "project"))


def _projects(session: Session, viewer: Viewer) -> list[Project]:
    """The projects this person may ask data for (the service's own rule: lead or approved researcher)."""
    stmt = visible_projects(viewer.principal).where(Project.status.not_in([s.value for s in ENDED]))
    return [
        p
        for p in session.scalars(stmt.order_by(Project.title).limit(200))
        if access_requests._may_request(session, viewer.principal, p)
    ]


def _form(
    request: Request,
    session: Session,
    viewer: Viewer,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    datasets = session.scalars(
        select(Dataset).where(Dataset.status == DatasetStatus.active.value).order_by(Dataset.title)
    ).all()
    context = {
        "projects": _projects(session, viewer),
        "datasets": datasets,
        "values": values,
        "errors": errors or {},
        "active": "request",
    }
    return page(request, session, viewer, "access/new.html", context, status_code=status_code)


@router.get("/access-requests/new")
def new_access_request(
    request: Request,
    session: DbSession,
    viewer: PageViewer,
    project: str = Query("", max_length=64),
    dataset: str = Query("", max_length=64),
) -> Response:
    require(viewer, Scope.create_access_requests)
    values = {"project": project, "dataset": dataset, "justification": "", "ends_on": ""}
    return _form(request, session, viewer, values)


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        key = "ends_on" if loc and loc[0] == "expires_at" else (loc[0] if loc else "_form")
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        errors.setdefault(key, message)
    return errors


def _error_field(exc: DomainError) -> str:
    for word, key in FIELD_WORDS:
        if word in exc.detail:
            return "ends_on" if key == "expires_at" else key
    return "_form"


@router.post("/access-requests/new")
def create_access_request(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    project: str = Form("", max_length=64),
    dataset: str = Form("", max_length=64),
    justification: str = Form("", max_length=10_000),
    ends_on: str = Form("", max_length=10),
) -> Response:
    require(viewer, Scope.create_access_requests)
    values = {"project": project, "dataset": dataset, "justification": justification, "ends_on": ends_on}
    data: dict[str, Any] = {"project": project, "dataset": dataset, "justification": justification.strip()}
    errors: dict[str, str] = {}
    if ends_on.strip():
        try:
            data["expires_at"] = datetime.combine(datetime.fromisoformat(ends_on.strip()).date(), time(), UTC)
        except ValueError:
            errors["ends_on"] = "give the date as YYYY-MM-DD"
    try:
        body = AccessRequestCreate.model_validate(data)
    except ValidationError as exc:
        errors = {**_field_errors(exc), **errors}
    if errors:
        return _form(request, session, viewer, values, errors, status_code=422)
    try:
        access_requests.create_request(session, viewer.principal, body)
    except DomainError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        session.rollback()
        return _form(request, session, viewer, values, {_error_field(exc): exc.detail}, exc.status)
    return RedirectResponse(f"/projects/{project}?done=requested#datasets", status_code=303)
