"""Identity lifecycles: users, accreditations and signed agreements, one transition table each."""

from __future__ import annotations

from governance.core.statemachine import Lifecycle

USER_LIFECYCLE = Lifecycle(
    "user",
    {
        ("active", "suspend"): "suspended",
        ("suspended", "reactivate"): "active",
        ("active", "deactivate"): "deactivated",
        ("suspended", "deactivate"): "deactivated",
    },
)

# PATCH names the state wanted; this is the action that reaches it.
USER_ACTION_FOR_STATUS = {"active": "reactivate", "suspended": "suspend", "deactivated": "deactivate"}

ACCREDITATION_LIFECYCLE = Lifecycle(
    "researcher accreditation",
    {
        ("unverified", "verify"): "verified",
        ("unverified", "revoke"): "revoked",
        ("verified", "revoke"): "revoked",
    },
)

AGREEMENT_LIFECYCLE = Lifecycle("signed agreement", {("in_force", "revoke"): "lapsed"})
