"""Ingest an ACRO session folder (results.json, output files, checksums/).

ACRO 0.4.x and 1.x write different `sdc` summaries; the major version in results.json decides how it is
read (ACRO's own loader is not used: it refuses sessions written by other versions). Every output file
is verified against `checksums/<file>.txt` (SHA-256, hex); so is results.json itself when ACRO wrote its
checksum, which catches a status edited after the session was finalised.

The resulting CheckResult is "fail" for integrity problems (missing file, missing or wrong checksum,
unsafe file name, unreadable results), "review" when ACRO itself reported failing or review outputs or
the researcher requested exceptions, otherwise "pass". Re-running the per-file checks on
`AcroSession.release_files` is left to the caller.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector
from governance.outputs.names import UnsafeFileName, clean_file_name

# ACRO's record of a session is a few kilobytes per output; it is parsed in the API process, where a
# JSON bomb (millions of tiny objects, or nesting deep enough to exhaust the parser) must not land.
MAX_RESULTS_BYTES = 16 * 1024 * 1024
SUPPORTED_MAJORS = (0, 1)
NOT_FOR_RELEASE_SUFFIX = "DONT_RELEASE"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_V04_COUNTS = ("negative", "missing", "threshold", "p-ratio", "nk-rule", "all-values-are-same")


class AcroSessionError(Exception):
    """The folder is not a usable ACRO session."""


@dataclass(frozen=True, slots=True)
class AcroFile:
    name: str
    path: Path
    exists: bool
    expected_sha256: str | None
    actual_sha256: str | None
    sdc_summary: dict[str, int]  # check → number of flagged cells
    sdc_cells: dict[str, list[tuple[int, int]]]  # check → (row, column) of flagged cells
    suppressed: bool | None  # 0.4.x only: whether ACRO suppressed the flagged cells

    @property
    def checksum_ok(self) -> bool:
        return self.expected_sha256 is not None and self.expected_sha256 == self.actual_sha256

    @property
    def flagged_checks(self) -> dict[str, int]:
        return {check: count for check, count in self.sdc_summary.items() if count}


@dataclass(frozen=True, slots=True)
class AcroOutput:
    uid: str
    status: str  # ACRO's verdict: pass, fail or review
    output_type: str  # table, regression, histogram, custom ...
    method: str | None  # e.g. crosstab, ols
    properties: dict[str, Any]
    files: list[AcroFile]
    exception: str | None  # the researcher's exception request
    comments: list[str]
    command: str
    timestamp: str
    summary: str  # ACRO's free text (displayed, never parsed)

    @property
    def for_release(self) -> bool:
        return not self.uid.endswith(NOT_FOR_RELEASE_SUFFIX)


@dataclass(frozen=True, slots=True)
class AcroSession:
    folder: Path
    acro_version: str
    format_major: int
    outputs: list[AcroOutput]
    config: dict[str, Any] | None
    results_checksum_ok: bool | None = None  # None when ACRO wrote no checksum for results.json
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """Every output file that exists, including checker-only summaries."""
        return [f.path for output in self.outputs for f in output.files if f.exists]

    @property
    def release_files(self) -> list[Path]:
        """Files of outputs meant for release (not ACRO's DONT_RELEASE summaries)."""
        return [f.path for output in self.outputs if output.for_release for f in output.files if f.exists]


def load_acro_session(folder: Path) -> AcroSession:
    """Parse and verify a session; raises AcroSessionError when results.json is missing or unusable."""
    folder = Path(folder)
    results_path = folder / "results.json"
    if not results_path.is_file():
        raise AcroSessionError("The folder has no results.json, so it is not an ACRO session.")
    if results_path.stat().st_size > MAX_RESULTS_BYTES:
        raise AcroSessionError("results.json is too large to be an ACRO session record.")
    try:
        raw = json.loads(results_path.read_bytes())
    except RecursionError:
        raise AcroSessionError("results.json is nested too deeply to be an ACRO session record.") from None
    except ValueError as exc:
        raise AcroSessionError(f"results.json is not valid JSON ({exc}).") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("results"), dict):
        raise AcroSessionError("results.json has no 'results' object.")
    version = str(raw.get("version", ""))
    major = _major(version)
    if major not in SUPPORTED_MAJORS:
        raise AcroSessionError(f"ACRO format version {version!r} is not supported (expected 0.4.x or 1.x).")
    problems: list[tuple[str, str]] = []
    outputs = [_output(folder, uid, entry, major, problems) for uid, entry in raw["results"].items()]
    expected = _expected_checksum(folder, "results.json", problems, required=False)
    results_ok = None if expected is None else expected == _sha256(results_path)
    if results_ok is False:
        problems.append(
            (
                "checksum_mismatch",
                "results.json does not match its checksum: the session record was "
                "changed after ACRO finalised it.",
            )
        )
    return AcroSession(folder, version, major, outputs, _config(folder), results_ok, problems)


def check_acro_session(folder: Path) -> tuple[AcroSession | None, CheckResult]:
    """Load a session and judge it; never raises."""
    found = FindingCollector(1000)
    parameters: dict[str, Any] = {}
    try:
        session = load_acro_session(folder)
    except (AcroSessionError, OSError) as exc:
        found.add("not_an_acro_session", str(exc))
        return None, found.result(AcroSessionCheck.name, AcroSessionCheck.version, parameters)
    parameters.update(
        acro_version=session.acro_version,
        outputs=len(session.outputs),
        release_files=[p.name for p in session.release_files],
    )
    for code, message in session.problems:
        found.add(code, message)
    for output in session.outputs:
        where = {"output": output.uid}
        if output.status in ("fail", "review") and output.for_release:
            flagged = {k: v for f in output.files for k, v in f.flagged_checks.items()}
            detail = f" ({', '.join(f'{k}: {v} cells' for k, v in flagged.items())})" if flagged else ""
            found.add(
                f"acro_{output.status}",
                f"ACRO marked output '{output.uid}' ({output.output_type}) as {output.status}{detail}.",
                where,
                status="review",
            )
        if output.exception:
            found.add(
                "exception_requested",
                f"The researcher requested an exception for '{output.uid}'; read their reasons in the "
                "output's ACRO record before deciding.",
                where,
                status="review",
            )
    return session, found.result(AcroSessionCheck.name, AcroSessionCheck.version, parameters)


class AcroSessionCheck:
    """Adapter to the Check protocol; `path` is the session folder."""

    name = "acro_session"
    version = "1"

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        return check_acro_session(path)[1]


def _major(version: str) -> int | None:
    head = version.split(".", 1)[0]
    # ASCII digits only: str.isdigit() accepts superscripts ("²") that int() then refuses.
    return int(head) if head.isascii() and head.isdigit() and len(head) <= 4 else None


def _output(folder: Path, uid: str, entry: Any, major: int, problems: list[tuple[str, str]]) -> AcroOutput:
    if not isinstance(entry, dict):
        problems.append(("malformed_results", f"Output '{uid}' in results.json is not an object."))
        entry = {}
    properties = entry.get("properties") if isinstance(entry.get("properties"), dict) else {}
    files = [_file(folder, uid, item, major, problems) for item in entry.get("files") or []]
    comments = entry.get("comments") or []
    exception = entry.get("exception") or None
    return AcroOutput(
        uid=str(entry.get("uid", uid)),
        status=str(entry.get("status", "review")),
        output_type=str(entry.get("type", "unknown")),
        method=str(properties["method"]) if "method" in properties else None,
        properties=dict(properties),
        files=files,
        exception=str(exception) if exception else None,
        comments=[str(c) for c in comments] if isinstance(comments, list) else [str(comments)],
        command=str(entry.get("command", "")),
        timestamp=str(entry.get("timestamp", "")),
        summary=str(entry.get("summary", "")),
    )


def _file(folder: Path, uid: str, item: Any, major: int, problems: list[tuple[str, str]]) -> AcroFile:
    name = str(item.get("name", "")) if isinstance(item, dict) else str(item)
    sdc: dict[str, Any] = {}
    if isinstance(item, dict) and isinstance(item.get("sdc"), dict):
        sdc = item["sdc"]
    summary, cells, suppressed = _sdc_v04(sdc) if major == 0 else _sdc_v1(sdc)
    try:
        name = clean_file_name(name)  # the rule a direct upload's name follows
    except UnsafeFileName as exc:
        problems.append(
            (
                "unsafe_file_name",
                f"Output '{uid}' names a file that is not a plain file name inside the session "
                f"folder ({exc}).",
            )
        )
        return AcroFile(name, folder, False, None, None, summary, cells, suppressed)
    path = folder / name
    exists = path.is_file() and not path.is_symlink()
    if not exists:
        problems.append(
            ("missing_file", f"Output '{uid}' lists '{name}', which is not in the session folder.")
        )
    expected = _expected_checksum(folder, name, problems, required=exists)
    actual = _sha256(path) if exists else None
    if exists and expected is not None and expected != actual:
        problems.append(
            (
                "checksum_mismatch",
                f"'{name}' does not match its checksum: it was changed after ACRO finalised the session.",
            )
        )
    return AcroFile(name, path, exists, expected, actual, summary, cells, suppressed)


def _sdc_v1(sdc: dict[str, Any]) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]], bool | None]:
    summary = {str(k): int(v) for k, v in (sdc.get("summary") or {}).items() if _is_count(v)}
    return summary, _cells(sdc.get("cells")), None


def _sdc_v04(sdc: dict[str, Any]) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]], bool | None]:
    raw = sdc.get("summary") or {}
    summary = {key: int(raw[key]) for key in _V04_COUNTS if _is_count(raw.get(key))}
    suppressed = raw.get("suppressed")
    return summary, _cells(sdc.get("cells")), bool(suppressed) if isinstance(suppressed, bool) else None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cells(raw: Any) -> dict[str, list[tuple[int, int]]]:
    if not isinstance(raw, dict):
        return {}
    cells: dict[str, list[tuple[int, int]]] = {}
    for check, positions in raw.items():
        if isinstance(positions, list):
            cells[str(check)] = [
                (int(p[0]), int(p[1])) for p in positions if isinstance(p, list | tuple) and len(p) == 2
            ]
    return cells


def _expected_checksum(
    folder: Path, name: str, problems: list[tuple[str, str]], *, required: bool
) -> str | None:
    checksum_path = folder / "checksums" / f"{name}.txt"
    if not checksum_path.is_file():
        if required:
            problems.append(
                (
                    "checksum_missing",
                    f"'{name}' has no checksum in checksums/, so its integrity cannot be verified.",
                )
            )
        return None
    text = checksum_path.read_text(encoding="utf-8", errors="replace").strip().lower()
    if not _HEX64.match(text):
        problems.append(
            ("checksum_malformed", f"The checksum file for '{name}' does not hold a SHA-256 digest.")
        )
        return None
    return text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _config(folder: Path) -> dict[str, Any] | None:
    path = folder / "config.json"
    if not path.is_file() or path.stat().st_size > 1024 * 1024:
        return None
    try:
        config = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return None
    return config if isinstance(config, dict) else None
