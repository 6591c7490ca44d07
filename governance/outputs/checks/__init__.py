"""Automated disclosure checks on files a researcher wants to release (database-free)."""

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
