"""The dataset catalogue: every dataset with its tier, custodian and conditions; one dataset with the
grants the person may see (their projects', or all in a custodian's care) and their buttons (revoke, with
a reason), calling perform() on the grant lifecycle exactly as the API's generated route does."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import InvalidInput
from governance.core.transitions import actions_for, perform
from governance.datasets import repository
from governance.datasets.lifecycle import GRANT_LIFECYCLE
from governance.datasets.schemas import GrantRevoke
from governance.datasets.states import AccessRequestStatus, DatasetStatus
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.identity import User
from governance.models.projects import Project
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.viewer import FormViewer, PageViewer, Viewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

EXPIRING_DAYS = 30
BUTTONS = {"revoke": "Revoke the grant"}
NEEDS_NOTE = frozenset({"revoke"})


@router.get("/datasets")
def list_datasets(
    request: Request,
    session: DbSession,
    viewer: PageViewer,
    tier: str = Query("", max_length=1),
    status: str = Query("", max_length=16),
    q: str = Query("", max_length=100),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    require(viewer, Scope.read_datasets)
    tier = tier if tier in {"0", "1", "2", "3", "4"} else ""
    status = status if status in {s.value for s in DatasetStatus} else ""
    rows, next_cursor = repository.list_datasets(
        session, tier=int(tier) if tier else None, status=status or None, q=q or None, limit=50, cursor=cursor
    )
    datasets = list(rows)
    custodians = _names(session, {d.custodian_id for d in datasets if d.custodian_id})
    context = {
        "datasets": datasets,
        "custodians": custodians,
        "tier": tier,
        "status": status,
        "statuses": [s.value for s in DatasetStatus],
        "q": q,
        "next_cursor": next_cursor,
        "active": "datasets",
    }
    return page(request, session, viewer, "datasets/list.html", context)


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples().all())


def grant_rows(session: Session, viewer: Viewer, stmt: Any) -> list[dict[str, Any]]:
    """Grants (a visible_grants query) with their project, dataset, state, expiry flag and buttons."""
    grants = list(session.scalars(stmt.order_by(Grant.created_at.desc(), Grant.id).limit(200)))
    parts = repository.load_parts(session, grants)  # held while the rows are built
    soon = utcnow() + timedelta(days=EXPIRING_DAYS)
    rows = []
    for g in grants:
        state = GRANT_LIFECYCLE.state_of(g)
        expires = as_utc(g.expires_at)
        rows.append(
            {
                "row": g,
                "project": session.get(Project, g.project_id),
                "dataset": session.get(Dataset, g.dataset_id),
                "state": state,
                "expires": expires,
                "soon": state == "active" and expires is not None and expires <= soon,
                "actions": actions_for(session, viewer.principal, GRANT_LIFECYCLE, g),
            }
        )
    del parts
    return rows


def _detail(
    request: Request,
    session: Session,
    viewer: Viewer,
    dataset: Dataset,
    *,
    done: str = "",
    errors: dict[str, dict[str, str]] | None = None,
    notes: dict[str, dict[str, str]] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    custodian = session.get(User, dataset.custodian_id) if dataset.custodian_id else None
    grants = grant_rows(
        session, viewer, repository.visible_grants(viewer.principal).where(Grant.dataset_id == dataset.id)
    )
    pending = session.execute(
        repository.visible_access_requests(viewer.principal)
        .add_columns(Project.slug, Project.title)
        .join(Project, Project.id == AccessRequest.project_id)
        .where(
            AccessRequest.dataset_id == dataset.id,
            AccessRequest.status == AccessRequestStatus.pending.value,
        )
        .order_by(AccessRequest.created_at)
        .limit(100)
    ).all()
    context = {
        "dataset": dataset,
        "custodian": custodian.username if custodian else "",
        "shows_storage": repository.shows_storage(viewer.principal),
        "grants": grants,
        "pending": pending,
        "can_request": viewer.has(Scope.create_access_requests) and dataset.status == DatasetStatus.active,
        "button_labels": BUTTONS,
        "needs_note": NEEDS_NOTE,
        "done": done,
        "notice": notice,
        "errors": errors or {},
        "notes": notes or {},
        "active": "datasets",
    }
    return page(request, session, viewer, "datasets/detail.html", context, status_code=status_code)


@router.get("/datasets/{slug}")
def show_dataset(
    request: Request, session: DbSession, viewer: PageViewer, slug: str, done: str = Query("", max_length=20)
) -> Response:
    require(viewer, Scope.read_datasets)
    dataset = repository.get_dataset(session, slug)
    message = "The grant was revoked; servers using the data are being stopped." if done == "revoke" else ""
    return _detail(request, session, viewer, dataset, done=message)


@router.post("/datasets/{slug}/grants/{grant_id}/{action}")
def grant_action(
    request: Request,
    session: DbSession,
    viewer: FormViewer,
    slug: str,
    grant_id: uuid.UUID,
    action: str,
    state: str = Form("", max_length=32),
    note: str = Form("", max_length=2000),
    back: str = Form("", max_length=500),
) -> Response:
    require(viewer, Scope.read_datasets)
    t = GRANT_LIFECYCLE.get(action)  # 404 in the API's words for a move that does not exist
    if t.scope is not None:
        require(viewer, t.scope)
    dataset = repository.get_dataset(session, slug)
    grant = repository.get_visible_grant(session, viewer.principal, str(grant_id), for_update=True)
    if grant.dataset_id != dataset.id:
        raise InvalidInput("that grant is not for this dataset")
    current = GRANT_LIFECYCLE.state_of(grant)
    if state and state != current:
        notice = f"This grant changed since you opened the page: it is now {current}. Nothing was done."
        return _detail(request, session, viewer, dataset, notice=notice, status_code=409)
    key = str(grant.id)
    try:
        body = GrantRevoke.model_validate({"reason": note.strip()})
        perform(session, viewer.principal, GRANT_LIFECYCLE, grant, action, body)
    except ValidationError:
        message = "say why the grant is revoked"  # the lifecycle's words for an empty reason
        return _detail(
            request, session, viewer, dataset, errors={key: {action: message}},
            notes={key: {action: note}}, status_code=400,
        )  # fmt: skip
    except InvalidInput as exc:
        session.rollback()
        return _detail(
            request, session, viewer, dataset, errors={key: {action: exc.detail}},
            notes={key: {action: note}}, status_code=400,
        )  # fmt: skip
    target = back if back.startswith("/") and not back.startswith("//") else f"/datasets/{dataset.slug}"
    sep = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{sep}done={action}", status_code=303)
