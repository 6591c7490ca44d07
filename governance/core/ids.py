"""Identifiers: endpoints accept a UUID or a human slug (and the audit log a sequence number).

Only ASCII counts: Python's int() and uuid.UUID() also read Arabic-Indic, fullwidth and other Unicode
digits (U+0661.., U+FF11..), and str.isdigit() says yes to superscripts (U+00B2) that int() then refuses.
An id that merely looks numeric is not one; it is simply not found (or refused), never an error of ours.
"""

from __future__ import annotations

import re
import uuid

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
MAX_INT64 = 2**63 - 1


def parse_uuid(value: str) -> uuid.UUID | None:
    if not isinstance(value, str) or not value.isascii():
        return None
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return None


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))


def parse_seq(value: str) -> int | None:
    """A positive sequence number written in ASCII digits that fits a 64-bit column, else None."""
    if not isinstance(value, str) or not _ASCII_DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_INT64 else None


def fits_int64(value: int) -> bool:
    return -MAX_INT64 - 1 <= value <= MAX_INT64
