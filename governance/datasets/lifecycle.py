"""Safe Data lifecycles: datasets, access requests and grants, one declaration per move."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import independence
from governance.auth.scopes import Scope
from governance.core.clock import as_utc, utcnow
from governance.core.errors import DuplicateError, InvalidInput
from governance.core.schemas import TransitionBody
from governance.core.transitions import Lifecycle, Move, Refusal, Transition, conflict, declare
from governance.datasets.repository import active_grant, grant_state, project_end
from governance.datasets.schemas import AccessApprove, AccessReject, GrantRevoke
from governance.datasets.states import AccessRequestStatus, DatasetStatus, GrantState
from governance.enforcement.triggers import access_changed
from governance.models.datasets import AccessRequest, Dataset, Grant
from governance.models.projects import Project
from governance.projects.states import ENDED, FROZEN

D = DatasetStatus
R = AccessRequestStatus
G = GrantState

FROZEN_UNDER_REVIEW = "the application is under review; its datasets are frozen until a decision"


# --- datasets -----------------------------------------------------------------------------------


def _dataset_access_changed(move: Move[Dataset]) -> None:
    access_changed(move.session, f"dataset.{move.action}", dataset_id=move.obj.id)


DATASET_LIFECYCLE: Lifecycle[Dataset] = declare(
    Lifecycle(
        name="dataset",
        object_type="dataset",
        states=DatasetStatus,
        transitions=(
            Transition(
                "retire",
                source=frozenset({D.active}),
                target=D.retired,
                audit="dataset.retire",
                summary="Retire a dataset: no new access, running servers that use it are stopped",
                scope=Scope.write_datasets,
                effects=(_dataset_access_changed,),
                route=False,  # PATCH /datasets/{ref} {"status": "retired"}
                body=TransitionBody,
            ),
            Transition(
                "reactivate",
                source=frozenset({D.retired}),
                target=D.active,
                audit="dataset.reactivate",
                summary="Bring a retired dataset back into the catalogue",
                scope=Scope.write_datasets,
                route=False,  # PATCH /datasets/{ref} {"status": "active"}
                body=TransitionBody,
            ),
        ),
    )
)


# --- access requests ----------------------------------------------------------------------------


def request_parts(session: Session, row: AccessRequest) -> tuple[Project, Dataset]:
    """The request's project and dataset (from the identity map when the page prefetched them)."""
    project = session.get(Project, row.project_id)
    dataset = session.get(Dataset, row.dataset_id)
    assert project is not None and dataset is not None  # foreign keys
    return project, dataset


def _independent_decider(move: Move[AccessRequest]) -> Refusal | None:
    project, _ = request_parts(move.session, move.obj)
    return independence(
        move.session,
        move.principal,
        doing="decide its access",
        project=project,
        parties=((move.obj.requested_by_id, "you asked for this access, so someone else must decide it"),),
    )


def _grantable(move: Move[AccessRequest]) -> Refusal | None:
    project, dataset = request_parts(move.session, move.obj)
    if project.status in ENDED:
        return conflict(f"project {project.slug!r} is {project.status}; its access cannot be approved")
    if project.status in FROZEN:
        return conflict(FROZEN_UNDER_REVIEW)
    if dataset.status != D.active:
        return conflict(f"dataset {dataset.slug!r} is {dataset.status}; access to it cannot be approved")
    return None


def _decided(move: Move[AccessRequest]) -> None:
    row = move.obj
    row.decided_by_id, row.decided_at, row.decision_note = move.principal.user_id, utcnow(), move.note
    _, dataset = request_parts(move.session, row)
    move.summary.update(dataset=dataset.slug)


def _approve(move: Move[AccessRequest]) -> None:
    """The grant is created in the same transaction as the approval: never one without the other."""
    session, row = move.session, move.obj
    body = move.body if isinstance(move.body, AccessApprove) else AccessApprove()
    project, dataset = request_parts(session, row)
    if active_grant(session, project.id, dataset.id) is not None:  # a race with another approval
        raise DuplicateError(f"project {project.slug!r} already has access to {dataset.slug!r}")
    expires_at = body.expires_at or as_utc(row.requested_expires_at)
    end = project_end(project)
    if end is not None and (expires_at is None or expires_at > end):
        expires_at = end
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("the grant would already have expired: choose a later expires_at")
    grant = Grant(
        id=uuid.uuid4(),
        project_id=project.id,
        dataset_id=dataset.id,
        access_request_id=row.id,
        conditions=dataset.use_conditions if body.conditions is None else body.conditions,
        granted_by_id=move.principal.user_id,
        expires_at=expires_at,
    )
    session.add(grant)
    session.flush()
    record(
        session,
        move.principal,
        "grant.create",
        "grant",
        grant.id,
        project_id=project.id,
        summary={"dataset": dataset.slug, "expires_at": expires_at, "conditions": grant.conditions},
    )
    _decided(move)
    move.summary.update(grant_id=grant.id)


def _reject(move: Move[AccessRequest]) -> None:
    if not move.note:
        raise InvalidInput(
            "say why when you reject an access request (the note is shown to the applicants)",
            missing_fields=["note"],
        )
    _decided(move)


DECIDERS = ("the requester", "lead", "creator", "members", "editors")

ACCESS_REQUEST_LIFECYCLE: Lifecycle[AccessRequest] = declare(
    Lifecycle(
        name="dataset access request",
        object_type="access_request",
        states=AccessRequestStatus,
        transitions=(
            Transition(
                "approve",
                source=frozenset({R.pending}),
                target=R.approved,
                audit="access-request.approve",
                summary="Approve an access request and grant it (a steward independent of the project)",
                scope=Scope.approve_access_requests,
                check=_independent_decider,
                ready=_grantable,
                apply=_approve,
                parties=DECIDERS,
                body=AccessApprove,
            ),
            Transition(
                "reject",
                source=frozenset({R.pending}),
                target=R.rejected,
                audit="access-request.reject",
                summary="Reject an access request, saying why (a steward independent of the project)",
                scope=Scope.approve_access_requests,
                check=_independent_decider,
                apply=_reject,
                parties=DECIDERS,
                body=AccessReject,
                body_required=True,
            ),
        ),
    )
)


# --- grants -------------------------------------------------------------------------------------


def _revoke_grant(move: Move[Grant]) -> None:
    reason = str(getattr(move.body, "reason", "") or "")
    if not reason:
        raise InvalidInput("say why the grant is revoked", missing_fields=["reason"])
    grant = move.obj
    grant.revoked_at, grant.revoked_by_id, grant.revoked_reason = utcnow(), move.principal.user_id, reason
    move.summary.update(dataset_id=grant.dataset_id, reason=reason)


def _grant_access_changed(move: Move[Grant]) -> None:
    access_changed(
        move.session, f"grant.{move.action}", project_id=move.obj.project_id, dataset_id=move.obj.dataset_id
    )


GRANT_LIFECYCLE: Lifecycle[Grant] = declare(
    Lifecycle(
        name="grant",
        object_type="grant",
        states=GrantState,
        state_of=grant_state,
        set_state=None,  # revoke writes revoked_at; expiry is the clock's
        transitions=(
            Transition(
                "revoke",
                source=frozenset({G.active, G.expired}),
                target=G.revoked,
                audit="grant.revoke",
                summary="Revoke a grant, saying why (servers using the data are stopped)",
                scope=Scope.revoke_grants,
                apply=_revoke_grant,
                effects=(_grant_access_changed,),
                body=GrantRevoke,
                body_required=True,
            ),
        ),
    )
)
