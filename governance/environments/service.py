"""Environment profile rules: unique slugs, known projects, and narrowing re-checks running servers."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.errors import DuplicateError, InvalidInput
from governance.core.transitions import perform
from governance.enforcement.triggers import access_changed
from governance.environments.lifecycle import PROFILE_LIFECYCLE
from governance.environments.repository import allowed_project_ids, find_profile
from governance.environments.schemas import ProfileCreate, ProfileUpdate
from governance.environments.states import PROFILE_ACTION_FOR_STATUS, ProfileStatus
from governance.models.environments import EnvironmentProfile, ProfileProject
from governance.models.projects import Project
from governance.projects.repository import ref_clause

EGRESS_RANK = {"none": 0, "proxy": 1, "open": 2}
# Fields where a smaller value takes something away from a running workspace.
SHRINKING_FIELDS = ("cpu", "memory_gb", "gpu", "max_tier", "max_session_hours")


def _project_ids(session: Session, refs: list[str]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    unknown: list[str] = []
    for ref in refs:
        project_id = session.scalar(select(Project.id).where(ref_clause(ref)))  # type: ignore[arg-type]
        if project_id is None:
            unknown.append(ref)
        else:
            ids.add(project_id)
    if unknown:
        raise InvalidInput(f"there is no project {', '.join(map(repr, unknown))}", unknown_projects=unknown)
    return ids


def _set_projects(session: Session, profile_id: uuid.UUID, project_ids: set[uuid.UUID]) -> None:
    session.execute(delete(ProfileProject).where(ProfileProject.profile_id == profile_id))
    session.add_all(ProfileProject(profile_id=profile_id, project_id=p) for p in sorted(project_ids))


def create_profile(session: Session, principal: Principal, body: ProfileCreate) -> EnvironmentProfile:
    if find_profile(session, body.slug) is not None:
        raise DuplicateError(f"an environment profile with the slug {body.slug!r} already exists")
    project_ids = _project_ids(session, body.projects)
    profile = EnvironmentProfile(
        id=uuid.uuid4(), status=ProfileStatus.active, **body.model_dump(exclude={"projects"})
    )
    session.add(profile)
    session.flush()
    _set_projects(session, profile.id, project_ids)
    session.flush()
    record(
        session,
        principal,
        "profile.create",
        "environment_profile",
        profile.id,
        summary={**body.model_dump(exclude={"projects"}), "project_ids": sorted(map(str, project_ids))},
    )
    return profile


def _networks_narrowed(before: list[str], after: list[str]) -> bool:
    if not after:
        return False  # empty means any network
    if not before:
        return True
    new = [ipaddress.ip_network(n) for n in after]
    return not all(
        any(old.version == net.version and old.subnet_of(net) for net in new)  # type: ignore[arg-type]
        for old in (ipaddress.ip_network(n) for n in before)
    )


def _narrowed(profile: EnvironmentProfile, changes: dict[str, Any]) -> bool:
    if any(k in changes and changes[k] < getattr(profile, k) for k in SHRINKING_FIELDS):
        return True
    if "egress" in changes and EGRESS_RANK[changes["egress"]] < EGRESS_RANK[profile.egress]:
        return True
    if changes.get("mfa_required") and not profile.mfa_required:
        return True
    if changes.get("all_projects") is False and profile.all_projects:
        return True
    return "allowed_networks" in changes and _networks_narrowed(
        profile.allowed_networks, changes["allowed_networks"]
    )


def update_profile(
    session: Session, principal: Principal, profile: EnvironmentProfile, body: ProfileUpdate
) -> EnvironmentProfile:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send at least one field")
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise InvalidInput(f"these fields cannot be empty: {', '.join(nulls)}")
    refs = changes.pop("projects", None)
    all_projects = changes.get("all_projects", profile.all_projects)
    if all_projects and refs:
        raise InvalidInput("name projects only when all_projects is false")
    status = changes.pop("status", None)
    if status is not None:
        # The declared move (retire or reactivate): checked, audited and its effects run, or a 409 naming
        # the moves open to the caller. First, so a refused move leaves the rest of the PATCH undone too.
        perform(session, principal, PROFILE_LIFECYCLE, profile, PROFILE_ACTION_FOR_STATUS[status])
        if not changes and refs is None:
            return profile
    old_projects = allowed_project_ids(session, profile.id)
    new_projects = old_projects if refs is None else _project_ids(session, refs)
    if all_projects:
        new_projects = set()
    narrowed = _narrowed(profile, changes)
    before = {key: getattr(profile, key) for key in changes}
    for key, value in changes.items():
        setattr(profile, key, value)
    summary: dict[str, Any] = {"before": before, "after": changes}
    if new_projects != old_projects:
        _set_projects(session, profile.id, new_projects)
        summary["projects_added"] = sorted(map(str, new_projects - old_projects))
        summary["projects_removed"] = sorted(map(str, old_projects - new_projects))
    session.flush()
    record(session, principal, "profile.update", "environment_profile", profile.id, summary=summary)
    if status == ProfileStatus.retired:
        pass  # the retire move re-checked every running server already
    elif narrowed:
        access_changed(session, "profile.update")
    elif not all_projects:
        for project_id in sorted(old_projects - new_projects):
            access_changed(session, "profile.update", project_id=project_id)
    return profile
