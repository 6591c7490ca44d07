"""The automated checks every file gets, by (name, version): the idempotency key of the check job.

The keys are listed here, not read from the check classes, so that the API process can show and
count results without importing the checks (and Arrow); a test keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from governance.models.outputs import OutputFile

if TYPE_CHECKING:
    from governance.outputs.checks.base import Check

INTEGRITY_CHECK = ("integrity", "1")  # the stored file decrypts and matches the SHA-256 taken at upload
ACRO_CHECK = ("acro", "1")  # ACRO's own record of the output: checksum, status, exception requests
CONTENT_CHECKS: tuple[tuple[str, str], ...] = (
    ("filetype", "1"),
    ("size", "1"),
    ("archive", "1"),
    ("malware", "1"),
    ("tabular", "2"),
    ("identifiers", "2"),
    ("differencing", "2"),
)


@lru_cache(maxsize=1)
def content_checks() -> tuple[Check, ...]:
    from governance.outputs.checks.registry import default_checks

    return tuple(default_checks())


def expected_checks(file: OutputFile) -> list[tuple[str, str]]:
    keys = [INTEGRITY_CHECK, *CONTENT_CHECKS]
    if file.acro is not None:
        keys.append(ACRO_CHECK)
    return keys
