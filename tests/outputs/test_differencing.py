from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from governance.outputs.checks import CheckContext, CheckResult, DifferencingCheck

from .samples import codes, write_text, write_xlsx

Ctx = Callable[..., CheckContext]

RELEASED = "region,men,women\nNorth,120,130\nSouth,200,210\nEast,90,95\n"


def run(path: Path, make_ctx: Ctx, previous: list[Path]) -> CheckResult:
    return DifferencingCheck().run(path, make_ctx(path.name, tier=1, previous_release_tables=previous))


def test_small_cell_difference_fails(tmp_path: Path, make_ctx: Ctx) -> None:
    released = write_text(tmp_path / "released.csv", RELEASED)
    current = write_text(tmp_path / "now.csv", RELEASED.replace("South,200,210", "South,197,210"))
    result = run(current, make_ctx, [released])
    assert result.status == "fail"
    cell = next(f for f in result.findings if f.code == "differencing")
    assert cell.location == {"row": 1, "column": "men", "previous": "released.csv"}
    assert "less than the safe threshold of 10" in cell.message and "South" not in cell.message
    assert "differencing_margin" in codes(result)  # the row and column totals moved by 3 as well


def test_identical_or_clearly_different_tables_pass(tmp_path: Path, make_ctx: Ctx) -> None:
    released = write_text(tmp_path / "released.csv", RELEASED)
    same = write_text(tmp_path / "same.csv", RELEASED)
    assert run(same, make_ctx, [released]).status == "pass"
    far = write_text(tmp_path / "far.csv", RELEASED.replace("South,200,210", "South,250,260"))
    assert run(far, make_ctx, [released]).status == "pass"


def test_rows_are_matched_by_label_not_position(tmp_path: Path, make_ctx: Ctx) -> None:
    released = write_text(tmp_path / "released.csv", RELEASED)
    shuffled = "region,men,women\nEast,90,95\nNorth,120,130\nSouth,200,204\n"
    result = run(write_text(tmp_path / "now.csv", shuffled), make_ctx, [released])
    cell = next(f for f in result.findings if f.code == "differencing")
    assert cell.location == {"row": 2, "column": "women", "previous": "released.csv"}


def test_margin_only_difference(tmp_path: Path, make_ctx: Ctx) -> None:
    released = write_text(tmp_path / "released.csv", RELEASED)
    # each cell moves by 10 or more, but the North row total moves by 2
    moved = RELEASED.replace("North,120,130", "North,132,120")
    result = run(write_text(tmp_path / "now.csv", moved), make_ctx, [released])
    assert result.status == "fail"
    assert codes(result) == {"differencing_margin"}
    margins = [f.location for f in result.findings]
    assert {"row": 0, "margin": "row", "previous": "released.csv"} in margins


def test_subset_table_compares_totals_for_review(tmp_path: Path, make_ctx: Ctx) -> None:
    released = write_text(tmp_path / "released.csv", RELEASED + "West,3,2\n")
    result = run(write_text(tmp_path / "now.csv", RELEASED), make_ctx, [released])
    assert result.status == "review"
    assert codes(result) == {"differencing_margin"}


def test_different_tables_and_no_history(tmp_path: Path, make_ctx: Ctx) -> None:
    other = write_text(tmp_path / "other.csv", "age_band,n\n0-15,100\n16-64,200\n")
    current = write_text(tmp_path / "now.csv", RELEASED)
    assert run(current, make_ctx, [other]).status == "pass"
    assert run(current, make_ctx, []).status == "pass"


def test_previous_workbook_and_unreadable_history(tmp_path: Path, make_ctx: Ctx) -> None:
    book = write_xlsx(
        tmp_path / "released.xlsx",
        {"T": [["region", "men", "women"], ["North", 120, 130], ["South", 200, 210], ["East", 90, 95]]},
    )
    current = write_text(tmp_path / "now.csv", RELEASED.replace("East,90,95", "East,91,95"))
    assert "differencing" in codes(run(current, make_ctx, [book]))
    missing = tmp_path / "gone.csv"
    result = run(current, make_ctx, [missing])
    assert result.status == "review"
    assert codes(result) == {"previous_release_unreadable"}
