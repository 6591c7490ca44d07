"""Independent review: per-file votes, blinded until enough are in, deciding the request."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.record import record
from governance.auth.principal import Principal
from governance.core.clock import utcnow
from governance.core.errors import Conflict, DuplicateError, InvalidInput
from governance.models.outputs import OutputFile, OutputRequest, OutputReview
from governance.outputs import repository
from governance.outputs.access import require_independent
from governance.outputs.outcomes import failed_checks, file_outcome, request_action
from governance.outputs.schemas import ReviewCreate
from governance.outputs.suite import expected_checks
from governance.outputs.transitions import move


def cast_vote(
    session: Session, principal: Principal, request: OutputRequest, file: OutputFile, body: ReviewCreate
) -> OutputReview:
    project = repository.project_of(session, request)
    require_independent(session, principal, request, project)
    if request.status != "in_review":
        raise Conflict(
            f"votes are taken while a request is in review; this one is {request.status}",
            current_state=request.status,
        )
    already = session.scalar(
        select(OutputReview.id).where(
            OutputReview.file_id == file.id,
            OutputReview.reviewer_id == principal.user_id,
            OutputReview.round == request.round,
        )
    )
    if already is not None:
        raise DuplicateError(
            "you have already voted on this file in this review round; votes cannot be changed"
        )
    keys = set(expected_checks(file))
    results = [
        r for r in repository.results_of(session, [file.id]) if (r.check_name, r.check_version) in keys
    ]
    failed = failed_checks(results)
    if body.vote == "approve" and failed and not body.justification:
        raise InvalidInput(
            f"this file failed the automated check(s) {', '.join(failed)}; approving it needs a written "
            "justification",
            failed_checks=failed,
        )
    if body.vote != "approve" and not body.comment:
        raise InvalidInput("say in the comment what must change, or why the file cannot be released")
    vote = OutputReview(
        id=uuid.uuid4(),
        request_id=request.id,
        file_id=file.id,
        round=request.round,
        reviewer_id=principal.user_id,
        vote=body.vote,
        comment=body.comment,
        visibility=body.visibility,
        justification=body.justification,
        created_at=utcnow(),
    )
    session.add(vote)
    session.flush()
    record(
        session,
        principal,
        "output_review.vote",
        "output_file",
        file.id,
        project_id=request.project_id,
        summary={
            "request_id": request.id,
            "name": file.name,
            "round": request.round,
            "vote": body.vote,
            "visibility": body.visibility,
            "justified_failed_checks": failed if body.vote == "approve" else [],
        },
    )
    decide(session, principal, request)
    return vote


def outcomes(session: Session, request: OutputRequest) -> dict[uuid.UUID, str]:
    votes: dict[uuid.UUID, list[OutputReview]] = {}
    for vote in repository.reviews_of(session, request.id):
        if vote.round == request.round:
            votes.setdefault(vote.file_id, []).append(vote)
    return {
        f.id: file_outcome(votes.get(f.id, []), request.reviewers_required)
        for f in repository.active_files(session, request.id)
    }


def decide(session: Session, principal: Principal, request: OutputRequest) -> str | None:
    """Move the request once every file has an outcome (approve only if all files are approved)."""
    per_file = outcomes(session, request)
    action = request_action(list(per_file.values()))
    if action is None:
        return None
    request.decided_at = utcnow()
    counts: dict[str, int] = {}
    for outcome in per_file.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    move(session, principal, request, action, summary={"round": request.round, "outcomes": counts})
    return action
