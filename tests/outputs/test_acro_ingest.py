from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from governance.outputs.checks import (
    AcroSessionCheck,
    AcroSessionError,
    CheckContext,
    check_acro_session,
    load_acro_session,
)

from .samples import codes


def test_real_acro_session_is_parsed(acro_session: Path) -> None:
    session = load_acro_session(acro_session)
    assert session.format_major == 1
    assert session.acro_version.startswith("1.")
    assert session.results_checksum_ok is True
    assert session.problems == []
    outputs = {o.uid: o for o in session.outputs}
    crosstab = outputs["output_0"]
    assert (crosstab.status, crosstab.output_type, crosstab.method) == ("fail", "table", "crosstab")
    assert crosstab.exception == "The small cells are structural and published elsewhere."
    table_file = crosstab.files[0]
    assert table_file.checksum_ok
    assert table_file.flagged_checks.get("MinimumThresholdCheck", 0) > 0
    assert (
        len(table_file.sdc_cells["MinimumThresholdCheck"]) == table_file.sdc_summary["MinimumThresholdCheck"]
    )
    assert outputs["output_1"].status == "pass"
    assert outputs["output_1"].files[0].flagged_checks == {}
    regression = outputs["output_2"]
    assert (regression.output_type, regression.method) == ("regression", "ols")
    assert regression.files and all(f.sdc_summary == {} for f in regression.files)
    custom = outputs["output_3"]
    assert (custom.output_type, custom.status) == ("custom", "review")
    assert custom.comments == ["a figure made elsewhere"]
    assert session.config is not None and session.config["safe_threshold"] == 10


def test_release_files_exclude_checker_only_summaries(acro_session: Path) -> None:
    session = load_acro_session(acro_session)
    release = {p.name for p in session.release_files}
    everything = {p.name for p in session.files}
    assert "output_0_0.csv" in release
    assert any(name.endswith(".png") for name in release)
    assert release < everything  # ACRO's DONT_RELEASE summaries are listed but not for release
    assert all(p.is_file() and p.parent == acro_session for p in session.files)


def test_check_result_asks_for_review(acro_session: Path, make_ctx: Callable[..., CheckContext]) -> None:
    session, result = check_acro_session(acro_session)
    assert session is not None
    assert result.status == "review"
    assert {"acro_fail", "acro_review", "exception_requested"} <= codes(result)
    assert not codes(result) & {"checksum_mismatch", "missing_file", "checksum_missing"}
    failing = next(f for f in result.findings if f.code == "acro_fail")
    assert failing.location == {"output": "output_0"}
    assert "MinimumThresholdCheck" in failing.message
    assert AcroSessionCheck().run(acro_session, make_ctx("session")).status == "review"


def test_modified_output_fails_its_checksum(acro_copy: Path) -> None:
    table = acro_copy / "output_0_0.csv"
    table.write_text(table.read_text().replace(",3,", ",30,"))
    _, result = check_acro_session(acro_copy)
    assert result.status == "fail"
    assert "checksum_mismatch" in codes(result)


def test_missing_file_and_missing_checksum_fail(acro_copy: Path) -> None:
    (acro_copy / "output_1_0.csv").unlink()
    (acro_copy / "checksums" / "output_0_0.csv.txt").unlink()
    _, result = check_acro_session(acro_copy)
    assert result.status == "fail"
    assert {"missing_file", "checksum_missing"} <= codes(result)


def test_edited_results_json_is_caught(acro_copy: Path) -> None:
    results = acro_copy / "results.json"
    data = json.loads(results.read_text())
    data["results"]["output_0"]["status"] = "pass"
    results.write_text(json.dumps(data, indent=4))
    session = load_acro_session(acro_copy)
    assert session.results_checksum_ok is False
    assert check_acro_session(acro_copy)[1].status == "fail"


def test_file_names_cannot_escape_the_folder(acro_copy: Path) -> None:
    results = acro_copy / "results.json"
    data = json.loads(results.read_text())
    data["results"]["output_1"]["files"][0]["name"] = "../../etc/passwd"
    results.write_text(json.dumps(data))
    (acro_copy / "checksums" / "results.json.txt").write_text(
        hashlib.sha256(results.read_bytes()).hexdigest()
    )
    session, result = check_acro_session(acro_copy)
    assert "unsafe_file_name" in codes(result)
    assert session is not None
    assert all(p.parent == acro_copy for p in session.files)


def test_not_a_session(tmp_path: Path) -> None:
    with pytest.raises(AcroSessionError):
        load_acro_session(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"version": "2.0.0", "results": {}}))
    session, result = check_acro_session(tmp_path)
    assert session is None
    assert result.status == "fail"
    assert codes(result) == {"not_an_acro_session"}
    assert "2.0.0" in result.findings[0].message


def _write_v04_session(folder: Path) -> None:
    """A session in ACRO 0.4.x's format (older sdc summary keys, no 'fair' block)."""
    folder.mkdir()
    (folder / "checksums").mkdir()
    files = {
        "output_0_0.csv": "grant_type,A,B\n2010,3,20\n2011,25,30\n",
        "output_1_0.csv": "grant_type,A,B\n2010,13,20\n2011,25,30\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
        (folder / "checksums" / f"{name}.txt").write_text(hashlib.sha256(text.encode()).hexdigest())
    summary = {
        "suppressed": False,
        "negative": 0,
        "missing": 0,
        "threshold": 1,
        "p-ratio": 0,
        "nk-rule": 0,
        "all-values-are-same": 0,
    }
    cells = {
        "negative": [],
        "missing": [],
        "threshold": [[0, 0]],
        "p-ratio": [],
        "nk-rule": [],
        "all-values-are-same": [],
    }
    results = {
        "version": "0.4.5",
        "results": {
            "output_0": {
                "uid": "output_0",
                "status": "fail",
                "type": "table",
                "properties": {"method": "crosstab"},
                "files": [{"name": "output_0_0.csv", "sdc": {"summary": summary, "cells": cells}}],
                "outcome": {},
                "command": "acro.crosstab(df.year, df.grant_type)",
                "summary": "fail; threshold: 1 cells may need suppressing; ",
                "timestamp": "2024-01-01T10:00:00",
                "comments": [],
                "exception": "",
            },
            "output_1": {
                "uid": "output_1",
                "status": "pass",
                "type": "table",
                "properties": {"method": "crosstab"},
                "files": [
                    {
                        "name": "output_1_0.csv",
                        "sdc": {
                            "summary": {**summary, "threshold": 0, "suppressed": True},
                            "cells": {**cells, "threshold": []},
                        },
                    }
                ],
                "outcome": {},
                "command": "acro.crosstab(...)",
                "summary": "pass",
                "timestamp": "2024-01-01T10:01:00",
                "comments": ["checked"],
                "exception": "",
            },
        },
    }
    (folder / "results.json").write_text(json.dumps(results, indent=4))


def test_acro_04_format(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    _write_v04_session(folder)
    session = load_acro_session(folder)
    assert (session.format_major, session.acro_version) == (0, "0.4.5")
    assert session.results_checksum_ok is None  # this session has no checksum for results.json
    first, second = session.outputs
    assert first.files[0].sdc_summary == {
        "negative": 0,
        "missing": 0,
        "threshold": 1,
        "p-ratio": 0,
        "nk-rule": 0,
        "all-values-are-same": 0,
    }
    assert first.files[0].flagged_checks == {"threshold": 1}
    assert first.files[0].sdc_cells["threshold"] == [(0, 0)]
    assert first.files[0].suppressed is False
    assert second.files[0].suppressed is True
    assert first.exception is None
    _, result = check_acro_session(folder)
    assert result.status == "review"
    assert codes(result) == {"acro_fail"}
    assert "threshold: 1 cells" in result.findings[0].message
