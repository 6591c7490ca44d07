"""The project lifecycle: the one transition table."""

from __future__ import annotations

from governance.core.statemachine import Lifecycle

PROJECT_LIFECYCLE = Lifecycle(
    "project",
    {
        ("draft", "submit"): "submitted",
        ("returned", "submit"): "submitted",
        ("submitted", "approve"): "in_review",
        ("in_review", "approve"): "in_review",
        ("in_review", "complete"): "approved",
        ("submitted", "return"): "returned",
        ("in_review", "return"): "returned",
        ("submitted", "reject"): "rejected",
        ("in_review", "reject"): "rejected",
        ("approved", "activate"): "active",
        ("suspended", "activate"): "active",
        ("active", "suspend"): "suspended",
        ("active", "close"): "closed",
        ("suspended", "close"): "closed",
    },
)

PUBLIC_ACTIONS = ("submit", "approve", "return", "reject", "activate", "suspend", "close")

MEMBERSHIP_LIFECYCLE = Lifecycle(
    "membership",
    {("requested", "approve"): "approved", ("requested", "reject"): "rejected"},
)
