"""The states of a project and of a membership (the transition tables are in lifecycle.py)."""

from __future__ import annotations

from enum import StrEnum


class ProjectStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    in_review = "in_review"
    approved = "approved"
    returned = "returned"
    rejected = "rejected"
    active = "active"
    suspended = "suspended"
    closed = "closed"


class MembershipStatus(StrEnum):
    invited = "invited"  # someone else asked for it; the person has not accepted yet
    requested = "requested"  # the person asked, or accepted an invitation; a steward decides
    approved = "approved"
    rejected = "rejected"
    declined = "declined"  # the person turned the invitation down
    removed = "removed"  # derived from removed_at (the row stays for the audit trail)


# Under review: the application (content, tier, dates) is frozen until a decision.
FROZEN = frozenset({ProjectStatus.submitted, ProjectStatus.in_review})
# Approved at some point: a material change resets the approvals.
APPROVED_STATES = frozenset({ProjectStatus.approved, ProjectStatus.active, ProjectStatus.suspended})
ENDED = frozenset({ProjectStatus.rejected, ProjectStatus.closed})
# A membership by the person's own act (asked, or accepted an invitation) involves them, whatever became
# of it: leaving a project (removed_at) or being turned down does not make anyone independent of it.
# Only an invitation never accepted (invited, declined) does not count.
OWN_MEMBERSHIP = frozenset({MembershipStatus.requested, MembershipStatus.approved, MembershipStatus.rejected})
