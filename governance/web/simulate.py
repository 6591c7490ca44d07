"""/simulate: "why can't this person launch?" for data stewards (simulate:launches). The page asks the same
service as POST /api/v1/launch-decisions/simulate (decisions/service.simulate: nothing stored, nothing
launched) and shows the per-Safe verdict with its reasons and, when allowed, the obligations. The form is a
GET, so a question can be bookmarked or sent to a colleague."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.dependencies import DbSession
from governance.auth.scopes import Scope
from governance.decisions import service
from governance.decisions.schemas import DecisionRequest
from governance.decisions.situation import SAFES
from governance.models.datasets import Dataset
from governance.models.environments import EnvironmentProfile
from governance.models.identity import User
from governance.models.projects import Project
from governance.projects.repository import visible_projects
from governance.web.errors import PageRoute
from governance.web.pages import page
from governance.web.viewer import PageViewer, require

router = APIRouter(include_in_schema=False, route_class=PageRoute)

CHOICES = 200  # suggestions offered in the form (any name may be typed)
SAFE_TITLES = {
    "people": "Safe people",
    "projects": "Safe projects",
    "data": "Safe data",
    "settings": "Safe settings",
}
FIELD_OF = {"username": "username", "project": "project", "profile": "profile", "datasets": "datasets",
            "client_ip": "client_ip"}  # fmt: skip


def _because(what: str) -> str:
    """Why the workspace would stop then, in words (Obligations.expires_because)."""
    if what.startswith("grant:"):
        return f"the grant of {what.removeprefix('grant:')} expires then"
    return {
        "session": "the profile's longest session ends then",
        "project_end": "the project ends then",
    }.get(what, f"the {what.replace('_', ' ')} expires then")


def _choices(session: Session, viewer: Any) -> dict[str, list[tuple[str, str]]]:
    users = session.execute(
        select(User.username, User.display_name)
        .where(User.kind == "person")
        .order_by(User.username)
        .limit(CHOICES)
    ).all()
    projects = session.execute(
        visible_projects(viewer.principal)
        .with_only_columns(Project.slug, Project.title)
        .order_by(Project.slug)
        .limit(CHOICES)
    ).all()
    profiles = session.execute(
        select(EnvironmentProfile.slug, EnvironmentProfile.title)
        .where(EnvironmentProfile.status == "active")
        .order_by(EnvironmentProfile.slug)
        .limit(CHOICES)
    ).all()
    datasets = session.execute(
        select(Dataset.slug, Dataset.title).order_by(Dataset.slug).limit(CHOICES)
    ).all()
    return {
        "users": [(u, n or u) for u, n in users],
        "projects": [(s, t) for s, t in projects],
        "profiles": [(s, t) for s, t in profiles],
        "datasets": [(s, t) for s, t in datasets],
    }


def _errors_of(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        key = FIELD_OF.get(loc[0], "_form") if loc else "_form"
        errors.setdefault(key, str(err.get("msg", "")).removeprefix("Value error, "))
    return errors


def _unknown(session: Session, body: DecisionRequest) -> dict[str, str]:
    """Names that match nothing: said beside their field, as the decision would only say "unknown"."""
    errors: dict[str, str] = {}
    if session.scalar(select(User.id).where(User.username == body.username)) is None:
        errors["username"] = f"there is no user {body.username!r}"
    if session.scalar(select(Project.id).where(Project.slug == body.project)) is None:
        errors["project"] = f"there is no project {body.project!r}"
    if session.scalar(select(EnvironmentProfile.id).where(EnvironmentProfile.slug == body.profile)) is None:
        errors["profile"] = f"there is no profile {body.profile!r}"
    if body.datasets:
        known = set(session.scalars(select(Dataset.slug).where(Dataset.slug.in_(body.datasets))))
        missing = [d for d in body.datasets if d not in known]
        if missing:
            errors["datasets"] = f"there is no dataset {', '.join(repr(d) for d in missing)}"
    if body.client_ip:
        try:
            ipaddress.ip_address(body.client_ip)
        except ValueError:
            errors["client_ip"] = f"{body.client_ip!r} is not an IP address (e.g. 10.1.2.3)"
    return errors


@router.get("/simulate")
def simulate_page(
    request: Request,
    session: DbSession,
    viewer: PageViewer,
    username: str = Query("", max_length=200),
    project: str = Query("", max_length=200),
    profile: str = Query("", max_length=200),
    datasets: list[str] = Query([], max_length=60),
    client_ip: str = Query("", max_length=200),
    mfa: str = Query("", max_length=8),
) -> Response:
    require(viewer, Scope.simulate_launches)
    datasets = [d.strip() for d in datasets if d.strip()]
    values = {
        "username": username.strip(),
        "project": project.strip(),
        "profile": profile.strip(),
        "datasets": datasets,
        "client_ip": client_ip.strip(),
        "mfa": mfa == "yes",
    }
    asked = any(values[k] for k in ("username", "project", "profile"))
    errors: dict[str, str] = {}
    result: dict[str, Any] | None = None
    if asked:
        try:
            body = DecisionRequest.model_validate(
                {
                    "username": values["username"],
                    "project": values["project"],
                    "profile": values["profile"],
                    "datasets": datasets,
                    "client_ip": values["client_ip"] or None,
                    "auth": {"mfa": values["mfa"], "amr": ["pwd", "otp"] if values["mfa"] else ["pwd"]},
                }
            )
        except ValidationError as exc:
            errors = _errors_of(exc)
        else:
            errors = _unknown(session, body)
            if not errors:
                decision = service.simulate(session, body)  # the API's service: no side effects
                result = {
                    "allowed": decision.allowed,
                    "safes": [
                        {
                            "key": s,
                            "title": SAFE_TITLES[s],
                            "allowed": decision.verdict.safes[s].allowed,
                            "reasons": decision.verdict.safes[s].reasons,
                        }
                        for s in SAFES
                    ],
                    "obligations": decision.obligations,
                    "policy_version": decision.verdict.policy_version,
                    "mfa_counted": service.auth_source(body) != "none",
                    "stops_at": service.situation_expiry(decision.obligations),
                    "because": _because(str((decision.obligations or {}).get("expires_because", ""))),
                }
    context = {
        "values": values,
        "errors": errors,
        "result": result,
        "choices": _choices(session, viewer),
        "active": "simulate",
    }
    return page(
        request, session, viewer, "simulate/simulate.html", context, status_code=422 if errors else 200
    )
