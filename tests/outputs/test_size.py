from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from governance.outputs.checks import CheckContext, SizeCheck, TabularCheck, run_all
from governance.outputs.risk_profile import RiskProfiles

from .conftest import with_changes
from .samples import codes, write_parquet, write_text, write_xlsx

Ctx = Callable[..., CheckContext]


def million_column_csv(path: Path) -> Path:
    with path.open("w") as handle:
        handle.write(",".join(f"c{i}" for i in range(1_000_000)))
        handle.write("\n")
        handle.write(",".join("1" for _ in range(1_000_000)))
        handle.write("\n")
    return path


def test_ordinary_files_pass(tmp_path: Path, make_ctx: Ctx) -> None:
    path = write_text(tmp_path / "t.csv", "region,n\nNorth,15\nSouth,20\n")
    result = SizeCheck().run(path, make_ctx("t.csv"))
    assert result.status == "pass"
    assert (result.parameters["lines"], result.parameters["columns"]) == (3, 2)


def test_empty_file_fails(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"")
    result = SizeCheck().run(path, make_ctx("t.csv"))
    assert result.status == "fail"
    assert codes(result) == {"empty_file"}


def test_over_the_byte_limit_fails(tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles) -> None:
    path = write_text(tmp_path / "t.txt", "x" * 200 + "\n")
    ctx = make_ctx("t.txt", profile=with_changes(profiles.for_tier(1), max_file_bytes=100))
    result = SizeCheck().run(path, ctx)
    assert result.status == "fail"
    assert codes(result) == {"file_too_large"}


def test_a_million_columns_fails_fast_in_bounded_memory(tmp_path: Path, make_ctx: Ctx) -> None:
    path = million_column_csv(tmp_path / "wide.csv")
    assert path.stat().st_size > 6_000_000
    ctx = make_ctx("wide.csv")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        results = {r.name: r for r in run_all(path, ctx)}
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert results["size"].status == "fail"
    assert "line_too_long" in codes(results["size"])
    assert results["tabular"].status == "fail"  # not parsed at all
    assert "line_too_long" in codes(results["tabular"])
    assert elapsed < 10
    assert peak < 16 * 1024 * 1024


def test_a_million_columns_fails_on_columns_when_lines_may_be_long(
    tmp_path: Path,
    make_ctx: Ctx,
    profiles: RiskProfiles,
) -> None:
    path = million_column_csv(tmp_path / "wide.csv")
    profile = with_changes(profiles.for_tier(2), max_line_bytes=64 * 1024 * 1024)
    result = SizeCheck().run(path, make_ctx("wide.csv", profile=profile))
    assert result.status == "fail"
    assert codes(result) == {"too_many_columns"}
    assert result.parameters["columns"] == 1_000_000
    tabular = TabularCheck().run(path, make_ctx("wide.csv", profile=profile))
    assert codes(tabular) == {"too_many_columns"}


def test_a_ten_megabyte_single_line_stops_early(tmp_path: Path, make_ctx: Ctx) -> None:
    path = tmp_path / "line.csv"
    with path.open("wb") as handle:
        for _ in range(10):
            handle.write(b"7" * (1024 * 1024))
    ctx = make_ctx("line.csv")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = SizeCheck().run(path, ctx)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "fail"
    finding = next(f for f in result.findings if f.code == "line_too_long")
    assert finding.location == {"line": 1}
    assert "not read" in finding.message
    assert result.parameters["longest_line_bytes"] <= 2 * 1024 * 1024 + 1  # stopped after ~2 blocks
    assert elapsed < 5
    assert peak < 8 * 1024 * 1024


def test_too_many_rows(tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles) -> None:
    path = write_text(tmp_path / "t.csv", "n\n" + "".join(f"{i}\n" for i in range(20)))
    ctx = make_ctx("t.csv", profile=with_changes(profiles.for_tier(2), max_rows=10))
    result = SizeCheck().run(path, ctx)
    assert codes(result) == {"too_many_rows"}
    assert "20 data rows" in result.findings[0].message


def test_workbook_and_parquet_shapes(tmp_path: Path, make_ctx: Ctx, profiles: RiskProfiles) -> None:
    profile = with_changes(profiles.for_tier(2), max_rows=3, max_columns=2)
    book = write_xlsx(tmp_path / "b.xlsx", {"S": [["a", "b", "c"], [1, 2, 3]]})
    assert "too_many_columns" in codes(SizeCheck().run(book, make_ctx("b.xlsx", profile=profile)))
    table = write_parquet(tmp_path / "p.parquet", {"n": list(range(10))})
    result = SizeCheck().run(table, make_ctx("p.parquet", profile=profile))
    assert codes(result) == {"too_many_rows"}
    assert result.parameters["rows"] == 10
