"""The states of an environment profile (the transition table is in lifecycle.py)."""

from __future__ import annotations

from enum import StrEnum


class ProfileStatus(StrEnum):
    active = "active"
    retired = "retired"  # no new launches; running servers that use it are stopped


# PATCH names the status wanted; this is the move that reaches it.
PROFILE_ACTION_FOR_STATUS = {ProfileStatus.active: "reactivate", ProfileStatus.retired: "retire"}
