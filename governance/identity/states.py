"""The states of a user, an accreditation and a signed agreement (the tables are in lifecycle.py)."""

from __future__ import annotations

from enum import StrEnum


class UserStatus(StrEnum):
    active = "active"
    suspended = "suspended"  # cannot sign in or use tokens; running servers are stopped
    deactivated = "deactivated"  # for good


class AccreditationState(StrEnum):
    """Derived from verified_at and revoked_at; not stored."""

    unverified = "unverified"
    verified = "verified"
    revoked = "revoked"


class AgreementState(StrEnum):
    """Derived from expires_at (revoking makes it lapse now); not stored."""

    in_force = "in_force"
    lapsed = "lapsed"


# PATCH names the status wanted; this is the move that reaches it.
USER_ACTION_FOR_STATUS = {
    UserStatus.active: "reactivate",
    UserStatus.suspended: "suspend",
    UserStatus.deactivated: "deactivate",
}
