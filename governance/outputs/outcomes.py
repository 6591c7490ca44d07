"""From votes to outcomes: per file, then for the whole request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from governance.models.outputs import OutputCheckResult, OutputReview
from governance.outputs.checks.base import STATUS_SEVERITY, Status

OUTCOME_OF_VOTE = {"approve": "approved", "request_changes": "changes_requested", "reject": "rejected"}
UNDECIDED = frozenset({"pending", "conflicted"})


def ordered(votes: Iterable[OutputReview]) -> list[OutputReview]:
    return sorted(votes, key=lambda v: (v.created_at, str(v.id)))


def file_outcome(votes: Sequence[OutputReview], required: int) -> str:
    """pending until `required` reviewers voted; their unanimous vote decides; if they disagree the
    file is conflicted until a further reviewer votes, and that vote decides."""
    votes = ordered(votes)
    if len(votes) < required:
        return "pending"
    first = {v.vote for v in votes[:required]}
    if len(first) == 1:
        return OUTCOME_OF_VOTE[first.pop()]
    if len(votes) > required:
        return OUTCOME_OF_VOTE[votes[required].vote]
    return "conflicted"


def request_action(outcomes: Sequence[str]) -> str | None:
    """The request-level move once every file has an outcome: approve only when all are approved."""
    if not outcomes or any(o in UNDECIDED for o in outcomes):
        return None
    if all(o == "approved" for o in outcomes):
        return "approve"
    if all(o == "rejected" for o in outcomes):
        return "reject"
    return "return"


def _reviews(n: int) -> str:
    return f"{n} independent review{'' if n == 1 else 's'}"


def review_progress(outcomes: Sequence[str], votes_cast: Sequence[int], required: int) -> str:
    """Why a request in review cannot be released yet, in words (for the checkers' release button)."""
    pending = [count for outcome, count in zip(outcomes, votes_cast, strict=True) if outcome == "pending"]
    conflicted = sum(1 for outcome in outcomes if outcome == "conflicted")
    if len(outcomes) == 1 and pending:
        return f"it needs {_reviews(required)}; {pending[0]} so far"
    parts = []
    if pending:
        parts.append(
            f"each file needs {_reviews(required)}; {len(outcomes) - len(pending)} of {len(outcomes)} "
            "files have them so far"
        )
    if conflicted:
        parts.append(
            f"the reviewers disagree on {conflicted} file{'' if conflicted == 1 else 's'}; "
            "one more independent review decides"
        )
    return "; ".join(parts) or "the votes are in; the request is being decided"


def file_status(results: Sequence[OutputCheckResult], expected: int) -> Status | str:
    """pending until every expected check has a result, then the worst result."""
    if len(results) < expected:
        return "pending"
    worst: Status = "pass"
    for result in results:
        status: Status = result.status  # type: ignore[assignment]
        if STATUS_SEVERITY[status] > STATUS_SEVERITY[worst]:
            worst = status
    return worst


def failed_checks(results: Iterable[OutputCheckResult]) -> list[str]:
    return sorted({r.check_name for r in results if r.status == "fail"})
