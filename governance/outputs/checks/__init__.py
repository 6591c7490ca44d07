"""Automated disclosure checks on files a researcher wants to release (database-free).

The names below are loaded on first use (PEP 562), so that importing one light submodule (for
example `checks.base` or `checks.acro_ingest` in the API process) does not load Arrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "AcroFile": "acro_ingest",
    "AcroOutput": "acro_ingest",
    "AcroSession": "acro_ingest",
    "AcroSessionCheck": "acro_ingest",
    "AcroSessionError": "acro_ingest",
    "check_acro_session": "acro_ingest",
    "load_acro_session": "acro_ingest",
    "ArchiveCheck": "archive",
    "STATUS_SEVERITY": "base",
    "Check": "base",
    "CheckContext": "base",
    "CheckResult": "base",
    "Finding": "base",
    "Status": "base",
    "worst_status": "base",
    "DifferencingCheck": "differencing",
    "FileTypeCheck": "filetype",
    "IdentifiersCheck": "identifiers",
    "ClamdClient": "malware",
    "MalwareCheck": "malware",
    "default_checks": "registry",
    "run_all": "registry",
    "run_check": "registry",
    "SizeCheck": "size",
    "TabularCheck": "tabular",
}

__all__ = [
    "STATUS_SEVERITY",
    "AcroFile",
    "AcroOutput",
    "AcroSession",
    "AcroSessionCheck",
    "AcroSessionError",
    "ArchiveCheck",
    "Check",
    "CheckContext",
    "CheckResult",
    "ClamdClient",
    "DifferencingCheck",
    "FileTypeCheck",
    "Finding",
    "IdentifiersCheck",
    "MalwareCheck",
    "SizeCheck",
    "Status",
    "TabularCheck",
    "check_acro_session",
    "default_checks",
    "load_acro_session",
    "run_all",
    "run_check",
    "worst_status",
]

if TYPE_CHECKING:
    from governance.outputs.checks.acro_ingest import (
        AcroFile,
        AcroOutput,
        AcroSession,
        AcroSessionCheck,
        AcroSessionError,
        check_acro_session,
        load_acro_session,
    )
    from governance.outputs.checks.archive import ArchiveCheck
    from governance.outputs.checks.base import (
        STATUS_SEVERITY,
        Check,
        CheckContext,
        CheckResult,
        Finding,
        Status,
        worst_status,
    )
    from governance.outputs.checks.differencing import DifferencingCheck
    from governance.outputs.checks.filetype import FileTypeCheck
    from governance.outputs.checks.identifiers import IdentifiersCheck
    from governance.outputs.checks.malware import ClamdClient, MalwareCheck
    from governance.outputs.checks.registry import default_checks, run_all, run_check
    from governance.outputs.checks.size import SizeCheck
    from governance.outputs.checks.tabular import TabularCheck


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
