"""The default set of per-file checks and a runner that never raises."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from governance.outputs.checks.archive import ArchiveCheck
from governance.outputs.checks.base import Check, CheckContext, CheckResult, Finding
from governance.outputs.checks.differencing import DifferencingCheck
from governance.outputs.checks.filetype import FileTypeCheck
from governance.outputs.checks.identifiers import IdentifiersCheck
from governance.outputs.checks.malware import MalwareCheck
from governance.outputs.checks.size import SizeCheck
from governance.outputs.checks.tabular import TabularCheck

logger = logging.getLogger(__name__)


def default_checks() -> list[Check]:
    return [
        FileTypeCheck(),
        SizeCheck(),
        ArchiveCheck(),
        MalwareCheck(),
        TabularCheck(),
        IdentifiersCheck(),
        DifferencingCheck(),
    ]


def run_check(check: Check, path: Path, ctx: CheckContext) -> CheckResult:
    """Run one check; a crash becomes status "error" with the exception's message."""
    name = str(getattr(check, "name", type(check).__name__))
    version = str(getattr(check, "version", "unknown"))
    try:
        result = check.run(path, ctx)
    except Exception as exc:
        logger.exception("output check %s crashed on %s", name, ctx.file_name)
        message = f"The {name} check could not complete: {type(exc).__name__}: {str(exc)[:500]}"
        return CheckResult(
            name, version, "error", [Finding("check_crashed", message)], {}, {"check_crashed": 1}
        )
    if not isinstance(result, CheckResult):
        message = f"The {name} check returned {type(result).__name__} instead of a result."
        return CheckResult(
            name, version, "error", [Finding("check_crashed", message)], {}, {"check_crashed": 1}
        )
    return result


def run_all(path: Path, ctx: CheckContext, checks: Sequence[Check] | None = None) -> list[CheckResult]:
    """Run every check on one file, in order; never raises."""
    return [run_check(check, path, ctx) for check in (checks if checks is not None else default_checks())]
