"""The one rule for the name a file is kept under, whether it came as an upload or out of a ZIP.

A name is accepted as given (NFC-normalised, surrounding white space removed) when it is a plain file
name: no path, no control or invisible formatting characters (bidirectional overrides such as U+202E
included), not hidden or special, at most 255 bytes of UTF-8. Anything else is refused with a sentence
saying why; nothing is silently rewritten, so the name a reviewer sees is the name the researcher gave.

Database-free and dependency-free: used by the multipart reader, the ACRO upload and the ACRO reader.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 255


class UnsafeFileName(ValueError):
    """The name is not a plain file name; the message says why, in plain words."""


def clean_file_name(raw: str) -> str:
    """The name as given, if it is a plain file name; raises UnsafeFileName otherwise."""
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise UnsafeFileName("the file has no name; send it with a file name such as table.csv")
    if "/" in name or "\\" in name:
        raise UnsafeFileName(
            f"the file name {_shown(name)} contains a path; send the file's own name, e.g. table.csv"
        )
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise UnsafeFileName("the file name contains control or invisible formatting characters")
    if name in (".", "..") or name.startswith("."):
        raise UnsafeFileName(f"the file name {_shown(name)} is hidden or special; give it a visible name")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UnsafeFileName(f"the file name is longer than {MAX_NAME_BYTES} bytes")
    return name


def _shown(name: str) -> str:
    return repr(name[:100])
