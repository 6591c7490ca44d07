"""Moves of an output request made by the system, and the release with its integrity block.

Every state change goes through ``core.transitions.perform`` with the table in lifecycle.py. What this
module adds:

* ``perform_if`` for the check workers: a system move made only while the request is still in one of
  the move's source states. Several workers may finish the same request at once (a re-run after a
  timeout, a retry of a held run); exactly one of them moves it and writes the audit event, the others
  return False. The row is claimed with a conditional UPDATE, which takes the row's write lock on
  PostgreSQL (a second worker waits, then finds the state changed) and the database's write lock on
  SQLite (where FOR UPDATE does not exist); ``perform`` then re-reads it under that lock.
* ``release``: the release move, or — when a file no longer matches its hash — a block of the request,
  which the caller commits while answering with the refusal.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.clock import utcnow
from governance.core.transitions import SYSTEM, perform
from governance.models.outputs import OutputRequest
from governance.outputs.lifecycle import OUTPUT_LIFECYCLE, Details
from governance.outputs.releases import FilesChanged


def _claim(session: Session, request: OutputRequest, sources: frozenset[str]) -> bool:
    """Lock the request's row if it is still in one of ``sources`` (compare-and-set)."""
    claimed = session.execute(
        update(OutputRequest)
        .where(OutputRequest.id == request.id, OutputRequest.status.in_(sorted(sources)))
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return getattr(claimed, "rowcount", 0) == 1


def perform_if(
    session: Session,
    request: OutputRequest,
    action: str,
    details: Details | None = None,
    *,
    principal: Principal = SYSTEM,
    source: str | None = "worker",
) -> bool:
    """Make the system move ``action`` if the request is still where the move starts; False otherwise.

    On False the request is re-read, so the caller sees the state another run left it in.
    """
    transition = OUTPUT_LIFECYCLE.get(action)
    session.flush()
    if not _claim(session, request, transition.source):
        session.refresh(request)
        return False
    perform(session, principal, OUTPUT_LIFECYCLE, request, action, details, system=True, audit_source=source)
    return True


def release(session: Session, principal: Principal, request: OutputRequest) -> list[str]:
    """Release the request (the caller may; see the table), or block it when files changed in storage.

    Returns the broken files when it blocked the request instead: the caller answers with the refusal
    and still commits, so that the block and its audit event stand.
    """
    try:
        perform(session, principal, OUTPUT_LIFECYCLE, request, "release")
    except FilesChanged as changed:
        details = Details(
            {"reasons": changed.broken[:20], "at": "release"}, hold_reason="; ".join(changed.broken)
        )
        perform(session, principal, OUTPUT_LIFECYCLE, request, "block", details, system=True)
        return changed.broken
    return []
