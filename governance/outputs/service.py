"""Output-request rules outside the transition table: creating a request, editing and removing its files.

Submitting, withdrawing, releasing, recalling and voting are declared moves (lifecycle.py).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.duties import involved
from governance.auth.principal import Principal
from governance.core.errors import Conflict, InvalidInput, NotFound
from governance.core.transitions import perform
from governance.models.outputs import OutputFile, OutputRequest
from governance.models.projects import Project
from governance.outputs import repository
from governance.outputs.access import require_author, require_requester
from governance.outputs.runtime import profile_for
from governance.outputs.schemas import FileUpdate, OutputRequestCreate
from governance.outputs.states import EDITABLE, OutputRequestStatus

RUN_CHECKS_TASK = "outputs.run_checks"
RETRY_TASK = "outputs.retry_held"


def create_request(session: Session, principal: Principal, body: OutputRequestCreate) -> OutputRequest:
    project = repository.project_by_ref(session, body.project)
    if project is None or not (principal.sees_all or involved(session, project, principal.user_id)):
        raise NotFound(f"no project {body.project!r} that you can see")
    require_author(session, principal, project, "create")
    profile = profile_for(project.tier)
    row = OutputRequest(
        id=uuid.uuid4(),
        project_id=project.id,
        title=body.title,
        requester_id=principal.user_id,
        status=OutputRequestStatus.draft,
        tier=project.tier,
        reviewers_required=profile.reviewers_required,
    )
    session.add(row)
    session.flush()
    record(
        session,
        principal,
        "output_request.create",
        "output_request",
        row.id,
        project_id=project.id,
        summary={"title": body.title, "project": project.slug},
    )
    return row


def require_editable(session: Session, principal: Principal, request: OutputRequest, verb: str) -> Project:
    """The requester, still an approved member of the active project, while the request is editable."""
    project = repository.project_of(session, request)
    require_requester(principal, request, verb)
    if request.status not in EDITABLE:
        raise Conflict(
            f"files can be changed only while the request is draft or returned; it is {request.status}",
            current_state=request.status,
        )
    require_author(session, principal, project, verb)
    return project


def update_file(
    session: Session, principal: Principal, request: OutputRequest, file: OutputFile, body: FileUpdate
) -> OutputFile:
    require_editable(session, principal, request, "edit")
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise InvalidInput("nothing to change: send context, controls or contributions_column")
    for key, value in changes.items():
        setattr(file, key, value)
    session.flush()
    record(
        session,
        principal,
        "output_file.update",
        "output_file",
        file.id,
        project_id=request.project_id,
        summary={"request_id": request.id, "name": file.name, "changed": sorted(changes)},
    )
    return file


def _lock_request(session: Session, request: OutputRequest) -> None:
    session.refresh(request, with_for_update=True)  # a concurrent submit waits, then sees the file gone


def remove_file(session: Session, principal: Principal, request: OutputRequest, file: OutputFile) -> None:
    """Take a file out of the request (the row stays for the audit trail; the caller deletes the blob)."""
    from governance.outputs.lifecycle import FILE_REVIEW_LIFECYCLE  # the lifecycle imports this module

    _lock_request(session, request)
    perform(session, principal, FILE_REVIEW_LIFECYCLE, file, "remove")
