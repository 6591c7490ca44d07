"""Safe Data lifecycles: datasets, access requests and grants, one transition table each."""

from __future__ import annotations

from governance.core.statemachine import Lifecycle

DATASET_LIFECYCLE = Lifecycle(
    "dataset",
    {("active", "retire"): "retired", ("retired", "reactivate"): "active"},
)
DATASET_ACTION_FOR_STATUS = {"active": "reactivate", "retired": "retire"}

ACCESS_REQUEST_LIFECYCLE = Lifecycle(
    "dataset access request",
    {("pending", "approve"): "approved", ("pending", "reject"): "rejected"},
)

GRANT_LIFECYCLE = Lifecycle(
    "grant",
    {("active", "revoke"): "revoked", ("expired", "revoke"): "revoked"},
)
