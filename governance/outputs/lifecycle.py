"""The output-request lifecycle: the one transition table.

draft → submitted → checking → in_review → approved → released, with returned (changes requested;
edited and resubmitted), rejected, withdrawn (by the requester, before approval), blocked (malware, or a
file whose hash no longer matches) and recalled (a release taken back). Moves out of checking and
in_review are made by the system (the check job, the reviewers' votes); the rest by people.
"""

from __future__ import annotations

from governance.core.statemachine import Lifecycle

OUTPUT_LIFECYCLE = Lifecycle(
    "output request",
    {
        ("draft", "submit"): "submitted",
        ("returned", "submit"): "submitted",
        ("submitted", "start_checks"): "checking",
        ("checking", "finish_checks"): "in_review",
        ("checking", "block"): "blocked",
        ("in_review", "block"): "blocked",
        ("approved", "block"): "blocked",
        ("in_review", "approve"): "approved",
        ("in_review", "return"): "returned",
        ("in_review", "reject"): "rejected",
        ("draft", "withdraw"): "withdrawn",
        ("submitted", "withdraw"): "withdrawn",
        ("checking", "withdraw"): "withdrawn",
        ("in_review", "withdraw"): "withdrawn",
        ("returned", "withdraw"): "withdrawn",
        ("approved", "release"): "released",
        ("released", "recall"): "recalled",
    },
)

# Moves a person asks for through the API (the others follow from checks and votes).
PUBLIC_ACTIONS = ("submit", "withdraw", "release", "recall")
EDITABLE_STATES = frozenset({"draft", "returned"})
REVIEWABLE_STATES = frozenset({"in_review"})
TERMINAL_STATES = frozenset({"rejected", "withdrawn", "blocked", "recalled"})
