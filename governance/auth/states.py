"""The states of an API token (derived from its timestamps; the transition table is in tokens.py)."""

from __future__ import annotations

from enum import StrEnum


class TokenState(StrEnum):
    active = "active"
    expired = "expired"
    revoked = "revoked"  # by its owner, an administrator, or with the token that minted it
