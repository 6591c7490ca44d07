"""The project and membership lifecycles: one declaration per move."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from governance.auth.duties import forget_involvement, independence
from governance.auth.scopes import Scope
from governance.config import get_settings
from governance.core.clock import utcnow
from governance.core.errors import InvalidInput
from governance.core.schemas import TransitionBody
from governance.core.transitions import (
    Lifecycle,
    Move,
    Refusal,
    Transition,
    conflict,
    declare,
    forbidden,
    invalid,
)
from governance.enforcement.triggers import access_changed
from governance.models.projects import Membership, Project, ProjectApproval
from governance.projects.states import APPROVED_STATES, MembershipStatus, ProjectStatus

P = ProjectStatus
M = MembershipStatus
REQUIRED_FOR_SUBMISSION = ("lay_summary", "purpose", "public_benefit", "ends_on")


# --- projects -----------------------------------------------------------------------------------


def _is_applicant(move: Move[Project]) -> Refusal | None:
    if move.principal.user_id in (move.obj.lead_id, move.obj.created_by_id):
        return None
    return forbidden("only the project lead may submit the application")


def missing_for_submission(project: Project) -> list[str]:
    return [f for f in REQUIRED_FOR_SUBMISSION if not getattr(project, f)]


def _complete(move: Move[Project]) -> Refusal | None:
    missing = missing_for_submission(move.obj)
    if missing:
        return invalid(f"fill in {', '.join(missing)} before submitting", missing_fields=missing)
    return None


def _submit(move: Move[Project]) -> None:
    project = move.obj
    project.review_round += 1
    project.approvals_required = get_settings().approvals_required(project.tier)
    move.summary.update(round=project.review_round, approvals_required=project.approvals_required)


def _independent_reviewer(move: Move[Project]) -> Refusal | None:
    return independence(
        move.session, move.principal, doing=f"{move.action} its application", project=move.obj
    )


def _has_approved(move: Move[Project]) -> bool:
    """Whether this steward approved the project in its current round. A page asks for every project it
    lists: the answer for all projects the session has loaded comes from one query (memoised for the
    transaction; an approval clears the memo)."""
    user_id = move.principal.user_id
    memo: dict[tuple[uuid.UUID, int, uuid.UUID], bool] = move.session.info.setdefault("approved_by", {})
    key = (move.obj.id, move.obj.review_round, user_id)
    if key not in memo:
        loaded = {move.obj.id: move.obj}  # this one first: it is always asked about
        loaded.update((o.id, o) for o in move.session.identity_map.values() if isinstance(o, Project))
        todo = [p for p in loaded.values() if (p.id, p.review_round, user_id) not in memo][:500]
        found = set(
            move.session.execute(
                select(ProjectApproval.project_id, ProjectApproval.review_round).where(
                    ProjectApproval.steward_id == user_id,
                    ProjectApproval.project_id.in_([p.id for p in todo]),
                )
            ).tuples()
        )
        for p in todo:
            memo[(p.id, p.review_round, user_id)] = (p.id, p.review_round) in found
    return memo[key]


def _may_approve(move: Move[Project]) -> Refusal | None:
    refusal = _independent_reviewer(move)
    if refusal is not None:
        return refusal
    if _has_approved(move):
        return conflict("you have already approved this application; another steward must approve it too")
    return None


def _approve(move: Move[Project]) -> None:
    project = move.obj
    move.session.info.pop("approved_by", None)  # _has_approved's memo
    move.session.add(
        ProjectApproval(
            id=uuid.uuid4(),
            project_id=project.id,
            steward_id=move.principal.user_id,
            review_round=project.review_round,
            note=move.note,
        )
    )
    move.session.flush()
    count = (
        move.session.scalar(
            select(func.count())
            .select_from(ProjectApproval)
            .where(
                ProjectApproval.project_id == project.id, ProjectApproval.review_round == project.review_round
            )
        )
        or 0
    )
    required = max(project.approvals_required, 1)
    move.target = P.approved if count >= required else P.in_review
    move.summary.update(approvals=count, approvals_required=required)


def _note_required(move: Move[Project]) -> None:
    if not move.note:
        raise InvalidInput(
            f"say why when you {move.action} a project (the note is shown to the applicants)",
            missing_fields=["note"],
        )


def _independent_steward(move: Move[Project]) -> Refusal | None:
    return independence(move.session, move.principal, doing=f"{move.action} it", project=move.obj)


def _reset(move: Move[Project]) -> None:
    project = move.obj
    project.review_round += 1
    project.approvals_required = get_settings().approvals_required(project.tier)
    move.summary.update(round=project.review_round, approvals_required=project.approvals_required)


def _project_access_changed(move: Move[Project]) -> None:
    access_changed(move.session, f"project.{move.action}", project_id=move.obj.id)


REVIEWABLE = frozenset({P.submitted, P.in_review})

PROJECT_LIFECYCLE: Lifecycle[Project] = declare(
    Lifecycle(
        name="project",
        object_type="project",
        states=ProjectStatus,
        project_of=lambda p: p.id,
        transitions=(
            Transition(
                "submit",
                source=frozenset({P.draft, P.returned}),
                target=P.submitted,
                audit="project.submit",
                summary="Submit the application for review (the lead)",
                scope=Scope.create_projects,
                check=_is_applicant,
                ready=_complete,
                apply=_submit,
                parties=("anyone but the applicants",),
                body=TransitionBody,
            ),
            Transition(
                "approve",
                source=REVIEWABLE,
                target=P.in_review,  # becomes approved with the last approval the tier needs
                audit="project.approve",
                summary="Approve an application (a data steward independent of the project)",
                scope=Scope.approve_projects,
                check=_may_approve,
                apply=_approve,
                parties=("lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "return",
                source=REVIEWABLE,
                target=P.returned,
                audit="project.return",
                summary="Return an application for changes, with a note shown to the applicants",
                scope=Scope.approve_projects,
                check=_independent_reviewer,
                apply=_note_required,
                parties=("lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "reject",
                source=REVIEWABLE,
                target=P.rejected,
                audit="project.reject",
                summary="Reject an application, with a note shown to the applicants",
                scope=Scope.approve_projects,
                check=_independent_reviewer,
                apply=_note_required,
                parties=("lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "activate",
                source=frozenset({P.approved, P.suspended}),
                target=P.active,
                audit="project.activate",
                summary="Activate an approved or suspended project",
                scope=Scope.manage_projects,
                check=_independent_steward,
                parties=("lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "suspend",
                source=frozenset({P.active}),
                target=P.suspended,
                audit="project.suspend",
                summary="Suspend an active project (running servers are stopped)",
                scope=Scope.manage_projects,
                effects=(_project_access_changed,),
                body=TransitionBody,
            ),
            Transition(
                "close",
                source=frozenset({P.approved, P.active, P.suspended}),
                target=P.closed,
                audit="project.close",
                summary="Close a project for good (running servers are stopped)",
                scope=Scope.manage_projects,
                effects=(_project_access_changed,),
                body=TransitionBody,
            ),
            Transition(
                "reset_approvals",
                source=frozenset(APPROVED_STATES),
                target=P.submitted,
                audit="project.approvals_reset",
                summary="A material change after approval: the application needs fresh approvals",
                apply=_reset,
                effects=(_project_access_changed,),
                public=False,
            ),
        ),
    )
)


# --- memberships --------------------------------------------------------------------------------


def membership_state(row: Membership) -> str:
    return M.removed if row.removed_at is not None else row.status


def _set_membership_state(row: Membership, state: str) -> None:
    if state == M.removed:
        row.removed_at = utcnow()
    else:
        row.status = state


def _the_invitee(move: Move[Membership]) -> Refusal | None:
    if move.principal.user_id == move.obj.user_id:
        return None
    return forbidden("only the person invited can answer this invitation")


def _project(move: Move[Membership]) -> Project:
    """The membership's project. A page asks about every membership it lists: the projects of all the
    memberships this session holds are loaded in one query and kept for the session (the same objects as
    the identity map's, so they are never stale)."""
    session = move.session
    held: dict[uuid.UUID, Project] = session.info.setdefault("membership_projects", {})
    if move.obj.project_id not in held:
        wanted = {m.project_id for m in session.identity_map.values() if isinstance(m, Membership)}
        wanted = {move.obj.project_id, *list(wanted - held.keys())[:499]}
        held.update((p.id, p) for p in session.scalars(select(Project).where(Project.id.in_(wanted))))
    project = held.get(move.obj.project_id)
    assert project is not None  # foreign key
    return project


def _independent_decider(move: Move[Membership]) -> Refusal | None:
    row = move.obj
    return independence(
        move.session,
        move.principal,
        doing="decide its memberships",
        project=_project(move),
        parties=(
            (row.user_id, "nobody may approve or reject their own membership"),
            (row.requested_by_id, "the person who asked for this membership cannot also decide it"),
        ),
    )


def _decided(move: Move[Membership]) -> None:
    move.obj.decided_by_id, move.obj.decided_at = move.principal.user_id, utcnow()
    move.summary.update(user_id=move.obj.user_id)
    forget_involvement(move.session)


def _answered(move: Move[Membership]) -> None:
    move.summary.update(user_id=move.obj.user_id)
    forget_involvement(move.session)


def _may_remove(move: Move[Membership]) -> Refusal | None:
    row, principal = move.obj, move.principal
    project = _project(move)
    if row.role == "lead":
        return conflict("the project lead cannot be removed; name another lead first")
    if principal.user_id in (project.lead_id, row.user_id):
        return None
    if principal.has(Scope.approve_memberships) or principal.has(Scope.manage_projects):
        return None
    return forbidden("only the project lead, the member, or a data steward may remove a membership")


def _membership_access_changed(move: Move[Membership]) -> None:
    forget_involvement(move.session)
    access_changed(
        move.session, f"membership.{move.action}", project_id=move.obj.project_id, user_id=move.obj.user_id
    )


MEMBERSHIP_LIFECYCLE: Lifecycle[Membership] = declare(
    Lifecycle(
        name="membership",
        object_type="membership",
        states=MembershipStatus,
        state_of=membership_state,
        set_state=_set_membership_state,
        transitions=(
            Transition(
                "accept",
                source=frozenset({M.invited}),
                target=M.requested,
                audit="membership.accept",
                summary="Accept an invitation to a project (the person invited); a steward then decides",
                scope=Scope.write_me,  # answering for yourself; auditors and workspace tokens cannot
                check=_the_invitee,
                apply=_answered,
                parties=("anyone but the person invited",),
                body=TransitionBody,
            ),
            Transition(
                "decline",
                source=frozenset({M.invited}),
                target=M.declined,
                audit="membership.decline",
                summary="Decline an invitation to a project (the person invited)",
                scope=Scope.write_me,  # answering for yourself; auditors and workspace tokens cannot
                check=_the_invitee,
                apply=_answered,
                parties=("anyone but the person invited",),
                body=TransitionBody,
            ),
            Transition(
                "approve",
                source=frozenset({M.requested}),
                target=M.approved,
                audit="membership.approve",
                summary="Approve a membership request (a data steward independent of the project)",
                scope=Scope.approve_memberships,
                check=_independent_decider,
                apply=_decided,
                parties=("the member", "the requester", "lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "reject",
                source=frozenset({M.requested}),
                target=M.rejected,
                audit="membership.reject",
                summary="Reject a membership request",
                scope=Scope.approve_memberships,
                check=_independent_decider,
                apply=_decided,
                parties=("the member", "the requester", "lead", "creator", "members", "editors"),
                body=TransitionBody,
            ),
            Transition(
                "remove",
                source=frozenset({M.invited, M.requested, M.approved}),
                target=M.removed,
                audit="membership.remove",
                summary="Remove a member (their servers are stopped)",
                check=_may_remove,
                effects=(_membership_access_changed,),
                parties=("anyone but the lead, the member or a steward",),
                route=False,  # DELETE /members/{id}, not POST …/remove
            ),
        ),
    )
)
