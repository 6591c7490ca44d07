"""Enforcement jobs: re-check running servers after an access change, and the periodic sweep."""

from __future__ import annotations

from typing import Any

from governance.core.jobs import job
from governance.enforcement.triggers import RECHECK_TASK


@job(RECHECK_TASK)
def recheck(scope: dict[str, Any]) -> None:
    from governance.enforcement.service import recheck as run

    run(scope)


@job("enforcement.sweep", every=lambda settings: settings.sweep_seconds)
def sweep() -> None:
    from governance.enforcement.service import sweep as run

    run()
