from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from governance.outputs.checks import CheckContext, CheckResult, TabularCheck
from governance.outputs.checks.columns import classify
from governance.outputs.risk_profile import RiskProfiles

from .conftest import with_changes
from .samples import codes, write_parquet, write_text, write_xlsx

Ctx = Callable[..., CheckContext]

SAFE = "year,A,B,C\n2010,20,15,10\n2011,25,30,45\n2012,50,55,60\n"
SMALL = "year,A,B,C,D,E\n2010,20,19,10,3,3\n2011,26,15,16,7,0\n2012,22,23,23,7,4\n"


def run(path: Path, ctx: CheckContext) -> CheckResult:
    return TabularCheck().run(path, ctx)


def test_a_safe_rounded_table_passes(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", SAFE)
    result = run(path, make_ctx("t.csv", tier=2))
    assert result.status == "pass", result.findings
    table = result.parameters["tables"][0]
    assert table["count_columns"] == ["A", "B", "C"]
    assert table["label_columns"] == ["year"]
    assert result.parameters["safe_threshold"] == 10


def test_small_cells_are_located(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", SMALL)
    result = run(path, make_ctx("t.csv", tier=1))  # tier 1: rounding not required
    assert result.status == "fail"
    assert result.counts == {"threshold": 5, "zero": 1}
    small = {
        (f.location["row"], f.location["column"])
        for f in result.findings
        if f.code == "threshold" and f.location
    }
    assert small == {(0, "D"), (0, "E"), (1, "D"), (2, "D"), (2, "E")}
    first = next(f for f in result.findings if f.code == "threshold")
    assert first.message == (
        "Column 'D', data row 1 is a count below the safe threshold of 10; suppress it or combine it "
        "with neighbouring cells."
    )
    zero = next(f for f in result.findings if f.code == "zero")
    assert zero.location == {"row": 1, "column": "E"}


def test_zeros_only_when_disclosive(tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles) -> None:
    path = write_text(tmp_path / "t.csv", "group,n\na,0\nb,20\n")
    assert codes(run(path, make_ctx("t.csv", tier=1))) == {"zero"}
    lenient = with_changes(profiles.for_tier(1), zeros_are_disclosive=False)
    assert run(path, make_ctx("t.csv", profile=lenient)).status == "pass"


def test_rounding_is_required_from_tier_two(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "group,n\na,12\nb,20\nc,35\n")
    assert run(path, make_ctx("t.csv", tier=1)).status == "pass"
    result = run(path, make_ctx("t.csv", tier=2))
    assert result.status == "fail"
    assert result.counts == {"unrounded": 1}
    assert result.findings[0].location == {"row": 0, "column": "n"}
    assert "multiple of 5" in result.findings[0].message


def test_suppressed_cells_and_thousands_separators_are_understood(tmp_path: Path, make_ctx: Ctx) -> None:
    text = 'region,n,m\nNorth,*,"1,200"\nSouth,<10,45\nEast,[REDACTED],7\nWest,55,60\n'
    path = write_text(tmp_path / "t.csv", text)
    result = run(path, make_ctx("t.csv", tier=1))
    assert result.counts == {"threshold": 1}
    assert result.findings[0].location == {"row": 2, "column": "m"}
    assert result.parameters["tables"][0]["suppressed_cells"] == 3


def test_label_columns_are_not_counted(tmp_path: Path) -> None:
    table = pacsv.read_csv(
        pa.py_buffer(b"id,age_band,practice_code,n,mean_income\n1,3,7,20,5.5\n2,4,8,30,6.0\n3,5,9,40,2.0\n")
    )
    roles = {c.name: c.role for c in classify(table)}
    assert roles == {
        "id": "label",
        "age_band": "label",
        "practice_code": "label",
        "n": "count",
        "mean_income": "measure",
    }


def test_extreme_values_need_review(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "group,n,max_age,minimum_income\na,20,97,1000\nb,30,88,2000\n")
    result = run(path, make_ctx("t.csv", tier=1))
    assert result.status == "review"
    assert {f.location["column"] for f in result.findings if f.location} == {"max_age", "minimum_income"}


def test_low_residual_degrees_of_freedom(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "term,coef,df_resid\nx,0.5,4\ny,0.2,120\n")
    result = run(path, make_ctx("t.csv", tier=1))
    assert result.counts == {"low_dof": 1}


def test_text_file_holding_a_table_is_checked(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "innocent.txt", SMALL)
    assert run(path, make_ctx("innocent.txt", tier=1)).status == "fail"
    tsv = write_text(tmp_path / "t.tsv", SMALL.replace(",", "\t"))
    assert run(tsv, make_ctx("t.tsv", tier=1)).counts["threshold"] == 5


def test_workbooks_are_checked_per_sheet(tmp_path: Path, make_ctx: Ctx) -> None:
    book = write_xlsx(
        tmp_path / "b.xlsx",
        {
            "Safe": [["region", "n"], ["North", 20], ["South", 30]],
            "Risky": [["region", "n"], ["North", 2], ["South", 30]],
        },
    )
    result = run(book, make_ctx("b.xlsx", tier=1))
    assert result.counts == {"threshold": 1}
    assert result.findings[0].location == {"row": 0, "column": "n", "sheet": "Risky"}
    assert "sheet 'Risky'" in result.findings[0].message


def test_parquet_is_checked(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_parquet(tmp_path / "t.parquet", {"region": ["a", "b"], "n": [4, 40]})
    assert run(path, make_ctx("t.parquet", tier=1)).counts == {"threshold": 1}


def test_malformed_workbook_fails_cleanly(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types>not really</Types>")
        archive.writestr("xl/workbook.xml", "<<<garbage")
    result = run(path, make_ctx("broken.xlsx", tier=1))
    assert result.status == "fail"
    assert codes(result) == {"malformed_file"}
    truncated = tmp_path / "truncated.xlsx"
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [["a", "n"], ["x", 20]]})
    truncated.write_bytes(good.read_bytes()[:-200])
    assert run(truncated, make_ctx("truncated.xlsx", tier=1)).status == "fail"


def test_findings_are_capped_but_all_counted(tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles) -> None:
    rows = "".join(f"g{i},{i % 9 + 1}\n" for i in range(5_000))
    path = write_text(tmp_path / "t.csv", "group,n\n" + rows)
    profile = with_changes(profiles.for_tier(1), max_findings=100)
    result = run(path, make_ctx("t.csv", profile=profile))
    assert len(result.findings) == 100
    assert result.counts == {"threshold": 5_000}


def test_non_tables_are_not_applicable(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "notes.md", "# Notes\nNothing tabular here.\n")
    result = run(path, make_ctx("notes.md"))
    assert result.status == "pass"
    assert result.parameters["applicable"] is False


# ---- dominance ------------------------------------------------------------------------------------------

CONTRIBUTIONS = (
    "region,income\n"
    + "".join("North,1000\n" for _ in range(12))  # balanced: passes every rule
    + "South,100000\nSouth,500\n"
    + "".join("South,100\n" for _ in range(10))  # one firm dominates
    + "East,5000\nEast,4900\n"
    + "".join("East,10\n" for _ in range(10))  # two firms dominate
    + "West,800\nWest,900\nWest,700\n"  # too few contributors
)


def test_dominance_rules_on_contributions(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "c.csv", CONTRIBUTIONS)
    result = run(path, make_ctx("c.csv", tier=1, contributions_column="income"))
    regions = [line.split(",")[0] for line in CONTRIBUTIONS.splitlines()[1:]]
    by_rule: dict[str, set[str]] = {}
    for finding in result.findings:
        if finding.location and "first_row" in finding.location:
            by_rule.setdefault(finding.code, set()).add(regions[finding.location["first_row"]])
    assert by_rule["nk_rule"] == {"South", "East"}
    assert by_rule["p_ratio"] == {"South", "East"}
    assert by_rule["threshold"] == {"West"}
    assert "North" not in set().union(*by_rule.values())
    assert result.parameters["dominance_cells"] == 4
    assert "threshold" not in {f.code for f in result.findings if f.location and "row" in f.location}


def test_dominance_with_a_companion_file(tmp_path: Path, make_ctx: Ctx) -> None:
    table = write_text(tmp_path / "mean_income.csv", "region,mean_income\nNorth,1000\nSouth,9000\n")
    companion = write_text(tmp_path / "contributions.csv", CONTRIBUTIONS)
    ctx = make_ctx("mean_income.csv", tier=1, contributions_column="income", contributions_path=companion)
    result = run(table, ctx)
    assert result.status == "fail"
    assert {"nk_rule", "p_ratio", "threshold"} <= codes(result)


def test_balanced_contributions_pass(tmp_path: Path, make_ctx: Ctx) -> None:
    text = "region,sex,income\n" + "".join(
        f"{r},{s},{1000 + i}\n" for r in "AB" for s in "MF" for i in range(15)
    )
    path = write_text(tmp_path / "c.csv", text)
    result = run(path, make_ctx("c.csv", tier=1, contributions_column="income"))
    assert result.status == "pass", result.findings
    assert result.parameters["dominance_cells"] == 4


def test_missing_contributions_column_is_reported(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", SAFE)
    result = run(path, make_ctx("t.csv", tier=1, contributions_column="turnover"))
    assert codes(result) == {"dominance_not_checked"}
    assert result.status == "fail"
