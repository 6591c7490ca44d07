"""The environment profile lifecycle: the one transition table."""

from __future__ import annotations

from governance.core.statemachine import Lifecycle

PROFILE_LIFECYCLE = Lifecycle(
    "environment profile",
    {("active", "retire"): "retired", ("retired", "reactivate"): "active"},
)
PROFILE_ACTION_FOR_STATUS = {"active": "reactivate", "retired": "retire"}
