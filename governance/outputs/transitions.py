"""One function moves an output request between states, checks the move is legal and audits it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.audit.record import Actor, record
from governance.core.clock import utcnow
from governance.core.errors import IllegalTransition
from governance.models.outputs import OutputRequest
from governance.outputs.lifecycle import OUTPUT_LIFECYCLE, PUBLIC_ACTIONS

PAST = {
    "submit": "submitted",
    "start_checks": "checked",
    "finish_checks": "checked",
    "block": "blocked",
    "approve": "approved",
    "return": "returned",
    "reject": "rejected",
    "withdraw": "withdrawn",
    "release": "released",
    "recall": "recalled",
}


def target_state(request: OutputRequest, action: str) -> str:
    target = OUTPUT_LIFECYCLE.transitions.get((request.status, action))
    if target is None:
        allowed = [a for a in OUTPUT_LIFECYCLE.allowed_actions(request.status) if a in PUBLIC_ACTIONS]
        moves = ", ".join(allowed) if allowed else "none"
        raise IllegalTransition(
            f"an output request that is {request.status} cannot be {PAST.get(action, action)}; "
            f"the moves open to people from {request.status} are: {moves}",
            current_state=request.status,
            allowed_actions=allowed,
        )
    return target


def move(
    session: Session,
    actor: Actor | None,
    request: OutputRequest,
    action: str,
    *,
    summary: dict[str, Any] | None = None,
    source: str | None = None,
) -> str:
    """Change the state of a request the caller holds (locked where the database supports it)."""
    before = request.status
    target = target_state(request, action)
    request.status = target
    request.updated_at = utcnow()
    session.flush()
    record(
        session,
        actor,
        f"output_request.{action}",
        "output_request",
        request.id,
        project_id=request.project_id,
        summary={"from": before, "to": target, **(summary or {})},
        source=source,
    )
    return target


def move_if(
    session: Session,
    request: OutputRequest,
    action: str,
    *,
    summary: dict[str, Any] | None = None,
    source: str = "worker",
) -> bool:
    """A system move as compare-and-set: only when the request is still in the expected state.

    Safe when several workers finish the same request at once: exactly one of them moves it.
    """
    before = request.status
    target = OUTPUT_LIFECYCLE.transitions.get((before, action))
    if target is None:
        return False
    now = utcnow()
    changed = session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == request.id, OutputRequest.status == before)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return False
    request.status, request.updated_at = target, now
    record(
        session,
        None,
        f"output_request.{action}",
        "output_request",
        request.id,
        project_id=request.project_id,
        summary={"from": before, "to": target, **(summary or {})},
        source=source,
    )
    return True
