"""Stewards' queues: applications waiting for review, oldest first, with N-of-M approvals and who approved."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.core.pagination import keyset_page
from governance.core.transitions import actions_for
from governance.models.projects import Project
from governance.projects.lifecycle import PROJECT_LIFECYCLE, REVIEWABLE
from governance.projects.repository import visible_projects
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.tasks import approvals_by_project, progress
from governance.web.viewer import PageViewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)


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
    tier = tier if tier in {"0", "1", "2", "3", "4"} else ""
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
