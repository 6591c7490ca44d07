"""Independent review: per-file votes of the current round, their outcomes, and the request's decision.

Who may vote is declared in lifecycle.py (the file-review lifecycle); this module records a vote once the
move is allowed, and says what the votes add up to.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.auth.principal import Principal
from governance.core.clock import utcnow
from governance.core.errors import InvalidInput
from governance.models.outputs import OutputFile, OutputRequest, OutputReview
from governance.outputs import repository
from governance.outputs.outcomes import failed_checks, file_outcome, ordered, request_action, review_progress
from governance.outputs.schemas import ReviewCreate
from governance.outputs.states import Vote
from governance.outputs.suite import expected_checks


def round_votes(session: Session, request: OutputRequest) -> dict[uuid.UUID, list[OutputReview]]:
    """The votes of the current review round, per file, in the order they were cast."""
    votes: dict[uuid.UUID, list[OutputReview]] = defaultdict(list)
    for vote in repository.reviews_of(session, request.id):
        if vote.round == request.round:
            votes[vote.file_id].append(vote)
    return {file_id: ordered(rows) for file_id, rows in votes.items()}


def has_voted(session: Session, file: OutputFile, request: OutputRequest, reviewer_id: uuid.UUID) -> bool:
    """Has this reviewer voted on the file in the current round? (One query per request and reviewer,
    however many files the view asks about.)"""
    memo: dict[tuple[uuid.UUID, int, uuid.UUID], set[uuid.UUID]] = session.info.setdefault("votes_cast", {})
    key = (request.id, request.round, reviewer_id)
    if key not in memo:
        memo[key] = set(
            session.scalars(
                select(OutputReview.file_id).where(
                    OutputReview.request_id == request.id,
                    OutputReview.reviewer_id == reviewer_id,
                    OutputReview.round == request.round,
                )
            )
        )
    return file.id in memo[key]


def failed_checks_of(session: Session, file: OutputFile) -> list[str]:
    keys = set(expected_checks(file))
    results = [
        r for r in repository.results_of(session, [file.id]) if (r.check_name, r.check_version) in keys
    ]
    return failed_checks(results)


def record_vote(
    session: Session,
    principal: Principal,
    request: OutputRequest,
    file: OutputFile,
    vote: str,
    body: ReviewCreate | None,
) -> dict[str, Any]:
    """Store one vote (the move is already allowed); the audit summary of the vote is returned."""
    body = body if body is not None else ReviewCreate(vote=Vote(vote))
    if body.vote != vote:
        raise InvalidInput(f"the body's vote {body.vote!r} is not the move {vote!r}")
    failed = failed_checks_of(session, file)
    if vote == Vote.approve and failed and not body.justification:
        raise InvalidInput(
            f"this file failed the automated check(s) {', '.join(failed)}; approving it needs a written "
            "justification",
            failed_checks=failed,
            missing_fields=["justification"],
        )
    if vote != Vote.approve and not body.comment:
        raise InvalidInput(
            "say in the comment what must change, or why the file cannot be released",
            missing_fields=["comment"],
        )
    session.add(
        OutputReview(
            id=uuid.uuid4(),
            request_id=request.id,
            file_id=file.id,
            round=request.round,
            reviewer_id=principal.user_id,
            vote=vote,
            comment=body.comment,
            visibility=body.visibility,
            justification=body.justification,
            created_at=utcnow(),
        )
    )
    session.flush()
    session.info.pop("votes_cast", None)
    return {
        "request_id": request.id,
        "name": file.name,
        "round": request.round,
        "vote": vote,
        "visibility": body.visibility,
        "justified_failed_checks": failed if vote == Vote.approve else [],
    }


def outcomes(session: Session, request: OutputRequest) -> dict[uuid.UUID, str]:
    votes = round_votes(session, request)
    return {
        f.id: file_outcome(votes.get(f.id, []), request.reviewers_required)
        for f in repository.active_files(session, request.id)
    }


def decision(session: Session, request: OutputRequest) -> tuple[str, dict[str, Any]] | None:
    """The request's move once every file has an outcome (approve only if all files are approved)."""
    per_file = outcomes(session, request)
    action = request_action(list(per_file.values()))
    if action is None:
        return None
    return action, {"round": request.round, "outcomes": dict(Counter(per_file.values()))}


def progress(session: Session, request: OutputRequest) -> str:
    """How far the review has come, for a checker (counts only: no names, no votes)."""
    votes = round_votes(session, request)
    files = repository.active_files(session, request.id)
    required = request.reviewers_required
    return review_progress(
        [file_outcome(votes.get(f.id, []), required) for f in files],
        [len(votes.get(f.id, [])) for f in files],
        required,
    )
