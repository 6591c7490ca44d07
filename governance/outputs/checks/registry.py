"""The default set of per-file checks and a runner that never raises."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from governance.outputs.checks.archive import ArchiveCheck
from governance.outputs.checks.base import Check, CheckContext, CheckResult, Finding, describe_bytes
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


def run_check(
    check: Check, path: Path, ctx: CheckContext, *, memory_limit_bytes: int | None = None
) -> CheckResult:
    """Run one check; a crash becomes status "error" naming the kind of failure.

    The exception's text is logged, not stored: parsers quote the data they choke on, and a finding
    must never carry the file's content. Running out of memory (under the check process's limit,
    `memory_limit_bytes`) is said in those words.
    """
    name = str(getattr(check, "name", type(check).__name__))
    version = str(getattr(check, "version", "unknown"))
    try:
        result = check.run(path, ctx)
    except MemoryError:
        logger.warning("output check %s ran out of memory on %s", name, ctx.file_name)
        return out_of_memory(name, version, memory_limit_bytes)
    except Exception as exc:
        logger.exception("output check %s crashed on %s", name, ctx.file_name)
        message = (
            f"The {name} check could not complete ({type(exc).__name__}); the file will be checked "
            "again, and an administrator can find the details in the worker's log."
        )
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


def out_of_memory(name: str, version: str, limit_bytes: int | None) -> CheckResult:
    limit = f" (limit {describe_bytes(limit_bytes)})" if limit_bytes else ""
    message = (
        f"The {name} check ran out of memory{limit}; the file is too large or too complex to check "
        "here. Split it into smaller files."
    )
    return CheckResult(
        name,
        version,
        "error",
        [Finding("out_of_memory", message)],
        {"memory_limit_bytes": limit_bytes} if limit_bytes else {},
        {"out_of_memory": 1},
    )
