from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from governance.outputs.checks import (
    Check,
    CheckContext,
    CheckResult,
    Finding,
    default_checks,
    run_all,
    worst_status,
)

from .samples import PNG, write_text

Ctx = Callable[..., CheckContext]


class Exploding:
    name = "exploding"
    version = "0"

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        raise RuntimeError("boom")


def test_default_checks_follow_the_protocol() -> None:
    checks = default_checks()
    names = [c.name for c in checks]
    assert names == ["filetype", "size", "archive", "malware", "tabular", "identifiers", "differencing"]
    assert all(isinstance(c, Check) and c.version for c in checks)


def test_run_all_never_raises(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,20\n")
    results = run_all(path, make_ctx("t.csv"), [Exploding(), *default_checks()])
    assert results[0].status == "error"
    assert results[0].findings[0].code == "check_crashed"
    assert "(RuntimeError)" in results[0].findings[0].message
    assert "boom" not in results[0].findings[0].message  # exception text is logged, never stored
    assert len(results) == 8
    # a directory instead of a file makes every check fail in its own way, none raises
    broken = run_all(tmp_path, make_ctx("folder.csv"))
    assert len(broken) == 7
    assert all(r.status in ("pass", "fail", "review", "error") for r in broken)


def test_every_check_runs_on_awkward_inputs(tmp_path: Path, make_ctx: Ctx) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    image = tmp_path / "figure.png"
    image.write_bytes(PNG)
    for path in (empty, image):
        results = run_all(path, make_ctx(path.name))
        assert not [r for r in results if r.status == "error" and r.name != "malware"], path
    assert worst_status([r.status for r in run_all(empty, make_ctx("empty.csv"))]) == "fail"


def test_result_serialisation_round_trip() -> None:
    result = CheckResult(
        "tabular",
        "1",
        "fail",
        [Finding("threshold", "Small.", {"row": 1, "column": "n"})],
        {"safe_threshold": 10},
        {"threshold": 3},
    )
    data = result.to_dict()
    assert data["findings"][0] == {
        "code": "threshold",
        "message": "Small.",
        "location": {"row": 1, "column": "n"},
    }
    assert CheckResult.from_dict(data) == result


def test_worst_status_ordering() -> None:
    assert worst_status([]) == "pass"
    assert worst_status(["pass", "review"]) == "review"
    assert worst_status(["review", "fail", "pass"]) == "fail"
    assert worst_status(["fail", "error"]) == "error"
