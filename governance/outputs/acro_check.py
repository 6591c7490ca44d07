"""The per-file "acro" check: what ACRO itself recorded about an output, re-verified against the bytes
we stored. ACRO's verdicts are shown to the reviewers (as "review"), never taken as a pass."""

from __future__ import annotations

from typing import Any

from governance.outputs.checks.base import CheckResult, FindingCollector
from governance.outputs.suite import ACRO_CHECK

MAX_CELLS = 200


def acro_result(meta: dict[str, Any], sha256: str) -> CheckResult:
    found = FindingCollector(1000)
    uid = str(meta.get("uid", "?"))
    where = {"output": uid}
    expected = meta.get("expected_sha256")
    if not expected:
        found.add(
            "checksum_missing", "ACRO wrote no checksum for this file, so its integrity cannot be verified."
        )
    elif expected != sha256:
        found.add(
            "checksum_mismatch",
            "The file does not match the checksum ACRO wrote: it was changed after the session was "
            "finalised.",
        )
    if meta.get("results_checksum_ok") is False:
        found.add(
            "results_checksum_mismatch",
            "The session's results.json does not match its checksum: ACRO's record was edited afterwards.",
        )
    status = str(meta.get("status", ""))
    raw_sdc = meta.get("sdc")
    sdc: dict[str, Any] = raw_sdc if isinstance(raw_sdc, dict) else {}
    summary = {k: v for k, v in (sdc.get("summary") or {}).items() if isinstance(v, int) and v}
    if status in ("fail", "review"):
        flagged = f" ({', '.join(f'{k}: {v} cells' for k, v in summary.items())})" if summary else ""
        found.add(
            f"acro_{status}",
            f"ACRO marked output '{uid}' ({meta.get('type', 'output')}) as {status}{flagged}.",
            where,
            status="review",
        )
    cells = sdc.get("cells") or {}
    for check, positions in cells.items() if isinstance(cells, dict) else ():
        for position in list(positions)[:MAX_CELLS]:
            if isinstance(position, list | tuple) and len(position) == 2:
                found.add(
                    f"acro_{check}",
                    f"ACRO's {check} check flagged the cell at row {position[0]}, column {position[1]}.",
                    {"row": position[0], "column": position[1], "acro_check": check, "output": uid},
                    status="review",
                )
    if meta.get("exception"):
        found.add(
            "exception_requested",
            f"The researcher asked ACRO for an exception for '{uid}'; read their reasons in the "
            "output's ACRO record before deciding.",
            where,
            status="review",
        )
    parameters = {
        "acro_version": meta.get("acro_version"),
        "output": uid,
        "acro_status": status,
        "type": meta.get("type"),
        "expected_sha256": expected,
    }
    name, version = ACRO_CHECK
    return found.result(name, version, parameters)
