"""The states of an output request and of a file under review (the transition tables are in lifecycle.py)."""

from __future__ import annotations

from enum import StrEnum


class OutputRequestStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    checking = "checking"
    in_review = "in_review"
    approved = "approved"
    released = "released"
    returned = "returned"
    rejected = "rejected"
    withdrawn = "withdrawn"
    blocked = "blocked"
    recalled = "recalled"


class FileReviewState(StrEnum):
    """Where a file stands for a reviewer's vote, derived from its request (and whether it was removed)."""

    not_submitted = "not_submitted"  # draft or returned: the researcher is still editing
    being_checked = "being_checked"  # submitted or checking: the automated checks run first
    in_review = "in_review"  # votes are taken
    decided = "decided"  # approved, rejected, released or recalled
    withdrawn = "withdrawn"
    blocked = "blocked"
    removed = "removed"  # taken out of its request


class Vote(StrEnum):
    approve = "approve"
    request_changes = "request_changes"
    reject = "reject"


R = OutputRequestStatus

EDITABLE = frozenset({R.draft, R.returned})
# Submitted and not yet decided or withdrawn. Blinding keys on DECIDED (below), not on this.
UNDER_REVIEW = frozenset({R.submitted, R.checking, R.in_review})
# The current round ended in the reviewers' decision (or went on to a release, or its recall). Only then
# may the project see its votes (never who cast them). A round that ended without one — withdrawn,
# blocked, or still in review — stays blinded for the project for good: withdrawing must not lift it.
DECIDED = frozenset({R.approved, R.returned, R.rejected, R.released, R.recalled})
# (Earlier rounds were decided: only a return lets a request be resubmitted.)

# The checks have finished (the files are for the checkers to read).
CHECKED = frozenset(set(R) - {R.draft, R.submitted, R.checking})
TERMINAL = frozenset({R.rejected, R.withdrawn, R.blocked, R.recalled})

FILE_REVIEW_STATE: dict[OutputRequestStatus, FileReviewState] = {
    R.draft: FileReviewState.not_submitted,
    R.returned: FileReviewState.not_submitted,
    R.submitted: FileReviewState.being_checked,
    R.checking: FileReviewState.being_checked,
    R.in_review: FileReviewState.in_review,
    R.approved: FileReviewState.decided,
    R.rejected: FileReviewState.decided,
    R.released: FileReviewState.decided,
    R.recalled: FileReviewState.decided,
    R.withdrawn: FileReviewState.withdrawn,
    R.blocked: FileReviewState.blocked,
}
