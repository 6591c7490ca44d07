"""The states of a dataset, an access request and a grant (the transition tables are in lifecycle.py)."""

from __future__ import annotations

from enum import StrEnum


class DatasetStatus(StrEnum):
    active = "active"
    retired = "retired"  # no new access; running servers that use it are stopped


class AccessRequestStatus(StrEnum):
    pending = "pending"
    approved = "approved"  # the grant was created in the same transaction
    rejected = "rejected"


class GrantState(StrEnum):
    """Derived from the grant's timestamps (revoked_at, expires_at); not stored."""

    active = "active"
    expired = "expired"
    revoked = "revoked"


# PATCH names the status wanted; this is the move that reaches it.
DATASET_ACTION_FOR_STATUS = {DatasetStatus.active: "reactivate", DatasetStatus.retired: "retire"}
