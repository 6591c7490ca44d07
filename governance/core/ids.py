"""Identifiers: endpoints accept a UUID or a human slug."""

from __future__ import annotations

import re
import uuid

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))
