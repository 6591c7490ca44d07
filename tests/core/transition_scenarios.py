"""Scenarios for the table-walking test: per declared transition, an object in a source state, the actor
who may move it, and a user playing each party the declaration says its check refuses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.core.schemas import TransitionBody
from governance.models import Membership, Project, ProjectEditor, RoleBinding, User


@dataclass
class Scenario:
    build: Callable[[Session], uuid.UUID]
    load: Callable[[Session, uuid.UUID], Any]
    actor: str
    parties: dict[str, str] = field(default_factory=dict)
    body: Any = None
    illegal: Callable[[Session, Any], None] | None = None  # put the object in a state not in the source


SCENARIOS: dict[str, Scenario] = {}


def scenario(key: str, **kwargs: Any) -> None:
    SCENARIOS[key] = Scenario(**kwargs)


def user(s: Session, username: str, *roles: str) -> User:
    existing = s.scalar(select(User).where(User.username == username))
    if existing is not None:
        return existing
    row = User(id=uuid.uuid4(), username=username, status="active", kind="person")
    s.add(row)
    s.flush()
    for role in roles:
        s.add(RoleBinding(id=uuid.uuid4(), role=role, user_id=row.id))
    s.flush()
    return row


def named(s: Session, username: str) -> uuid.UUID:
    found = s.scalar(select(User.id).where(User.username == username))
    assert found is not None, username
    return found


NOTE = TransitionBody(note="Checked against the data-use conditions.")

# --- projects ---------------------------------------------------------------------------------------

INVOLVED = {"lead": "st-lead", "creator": "st-creator", "members": "st-member", "editors": "st-editor"}


def project(s: Session, status: str, *, involved: bool = False, tier: int = 2) -> uuid.UUID:
    if involved:
        for name in INVOLVED.values():
            user(s, name, "data_steward", "researcher")
        lead, creator = named(s, "st-lead"), named(s, "st-creator")
    else:
        lead = creator = named(s, "carol")
    row = Project(
        id=uuid.uuid4(),
        slug=f"p-{uuid.uuid4().hex[:8]}",
        title="A study",
        lay_summary="Why",
        purpose="What",
        public_benefit="Who gains",
        tier=tier,
        starts_on=date.today(),
        ends_on=date.today() + timedelta(days=365),
        status=status,
        lead_id=lead,
        created_by_id=creator,
        review_round=1 if status != "draft" else 0,
        approvals_required=2 if tier >= 2 else 1,
    )
    s.add(row)
    s.flush()
    if involved:
        member = named(s, "st-member")
        s.add(
            Membership(
                id=uuid.uuid4(),
                project_id=row.id,
                user_id=member,
                role="researcher",
                status="approved",
                requested_by_id=member,
            )
        )
        s.add(ProjectEditor(project_id=row.id, user_id=named(s, "st-editor")))
        s.flush()
    return row.id


def get_project(s: Session, obj_id: uuid.UUID) -> Project:
    row = s.get(Project, obj_id)
    assert row is not None
    return row


def set_status(status: str) -> Callable[[Session, Any], None]:
    def apply(_s: Session, obj: Any) -> None:
        obj.status = status

    return apply


scenario(
    "project.submit",
    build=lambda s: project(s, "draft"),
    load=get_project,
    actor="carol",
    parties={"anyone but the applicants": "alice"},
)
for action in ("approve", "return", "reject"):
    scenario(
        f"project.{action}",
        build=lambda s: project(s, "submitted", involved=True),
        load=get_project,
        actor="sam",
        parties=INVOLVED,
        body=NOTE,
        illegal=set_status("draft"),
    )
scenario(
    "project.activate",
    build=lambda s: project(s, "approved", involved=True),
    load=get_project,
    actor="sam",
    parties=INVOLVED,
)
scenario("project.suspend", build=lambda s: project(s, "active"), load=get_project, actor="sam")
scenario("project.close", build=lambda s: project(s, "active"), load=get_project, actor="sam")
scenario("project.reset_approvals", build=lambda s: project(s, "active"), load=get_project, actor="sam")

# --- memberships --------------------------------------------------------------------------------


def membership(s: Session, status: str, *, involved: bool = False) -> uuid.UUID:
    project_id = project(s, "active", involved=involved)
    if involved:
        member = user(s, "st-applicant", "data_steward", "researcher").id
        requester = user(s, "st-requester", "data_steward", "researcher").id
    else:
        member = requester = named(s, "bob")
    row = Membership(
        id=uuid.uuid4(),
        project_id=project_id,
        user_id=member,
        role="researcher",
        status=status,
        requested_by_id=requester,
    )
    s.add(row)
    s.flush()
    return row.id


def get_membership(s: Session, obj_id: uuid.UUID) -> Membership:
    row = s.get(Membership, obj_id)
    assert row is not None
    return row


for action in ("accept", "decline"):
    scenario(
        f"membership.{action}",
        build=lambda s: membership(s, "invited"),
        load=get_membership,
        actor="bob",
        parties={"anyone but the person invited": "carol"},
    )
for action in ("approve", "reject"):
    scenario(
        f"membership.{action}",
        build=lambda s: membership(s, "requested", involved=True),
        load=get_membership,
        actor="sam",
        parties={"the member": "st-applicant", "the requester": "st-requester", **INVOLVED},
        body=NOTE,
    )
scenario(
    "membership.remove",
    build=lambda s: membership(s, "approved"),
    load=get_membership,
    actor="carol",
    parties={"anyone but the lead, the member or a steward": "alice"},
)

import tests.datasets.transition_scenarios  # noqa: E402 - registers their scenarios
import tests.identity.transition_scenarios  # noqa: E402
import tests.outputs_api.transition_scenarios  # noqa: E402,F401
