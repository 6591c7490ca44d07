"""Differencing against the project's earlier releases.

Two tables with the same columns and the same row labels describe the same cells; if a cell, a row
total or a column total differs between them by a small non-zero amount (less than the safe threshold),
subtracting one from the other reveals a small group. Rows are matched by their label values, so a
re-ordered table still matches. When the row labels differ only by some rows being added or removed,
column totals are compared too (status "review": the removed rows may be the small group).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector, Status
from governance.outputs.checks.columns import classify
from governance.outputs.checks.detect import detect
from governance.outputs.checks.tables import NamedTable, TableError, load_tables, load_tables_from

MAX_COMPARED_ROWS = 200_000

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Shape:
    labels: list[str]
    counts: list[str]
    rows: dict[Key, int]  # label values → row index
    values: dict[str, list[Any]]  # count column → values
    positional: bool  # rows matched by position (labels missing or repeated)


def _shape(named: NamedTable) -> _Shape | None:
    table = named.table
    if table.num_rows > MAX_COMPARED_ROWS:
        return None
    columns = classify(table)
    labels = [c.name for c in columns if c.role == "label"]
    counts = [c for c in columns if c.role == "count"]
    label_values = [table.column(c.index).to_pylist() for c in columns if c.role == "label"]
    keys = list(zip(*label_values, strict=True)) if label_values else [(i,) for i in range(table.num_rows)]
    rows = {key: index for index, key in enumerate(keys)}
    positional = not label_values or len(rows) != len(keys)
    if positional:
        rows = {(i,): i for i in range(table.num_rows)}
    values = {c.name: c.numbers.to_pylist() for c in counts if c.numbers is not None}
    return _Shape(labels, [c.name for c in counts], rows, values, positional)


class DifferencingCheck:
    name = "differencing"
    version = "2"  # 2: findings carry coordinates and rules, never values

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        profile = ctx.profile
        found = FindingCollector(profile.max_findings)
        threshold = profile.safe_threshold
        parameters: dict[str, Any] = {
            "safe_threshold": threshold,
            "compared_with": [p.name for p in ctx.previous_release_tables],
        }
        if not ctx.previous_release_tables or path.stat().st_size == 0 or not detect(path, ctx).is_table:
            return found.result(self.name, self.version, parameters)
        try:
            current = [s for s in map(_shape, load_tables(path, ctx)) if s is not None]
        except TableError:
            return found.result(self.name, self.version, parameters)  # the tabular check reports it
        skipped = []
        for previous_path in ctx.previous_release_tables:
            try:
                previous = [s for s in map(_shape, load_tables_from(previous_path, profile)) if s is not None]
            except (TableError, OSError):
                skipped.append(previous_path.name)
                continue
            for mine in current:
                for theirs in previous:
                    _compare(mine, theirs, previous_path.name, threshold, found)
        if skipped:
            parameters["unreadable_previous_releases"] = skipped
            found.add(
                "previous_release_unreadable",
                f"Earlier releases could not be read for comparison: {', '.join(skipped)}.",
                status="review",
            )
        return found.result(self.name, self.version, parameters)


def _compare(mine: _Shape, theirs: _Shape, other: str, threshold: int, found: FindingCollector) -> None:
    if mine.labels != theirs.labels or set(mine.counts) != set(theirs.counts) or not mine.counts:
        return
    if mine.rows.keys() == theirs.rows.keys():
        _compare_cells(mine, theirs, other, threshold, found)
        _compare_totals(mine, theirs, other, threshold, found, "fail")
    elif mine.rows.keys() <= theirs.rows.keys() or theirs.rows.keys() <= mine.rows.keys():
        _compare_totals(mine, theirs, other, threshold, found, "review")


def _small_difference(a: Any, b: Any, threshold: int) -> bool:
    if a is None or b is None:
        return False
    return bool(0 < abs(a - b) < threshold)


def _compare_cells(mine: _Shape, theirs: _Shape, other: str, threshold: int, found: FindingCollector) -> None:
    for column in mine.counts:
        ours, previous = mine.values[column], theirs.values[column]
        for key, row in mine.rows.items():
            a, b = ours[row], previous[theirs.rows[key]]
            if _small_difference(a, b, threshold):
                found.add(
                    "differencing",
                    f"Column '{column}', data row {row + 1} differs from the same cell of the released "
                    f"'{other}' by less than the safe threshold of {threshold} (but not zero), so "
                    "subtracting one from the other reveals a small group; align the two tables or "
                    "suppress the cell.",
                    {"row": row, "column": column, "previous": other},
                )
    for key, row in mine.rows.items():
        a = _row_total(mine, row)
        b = _row_total(theirs, theirs.rows[key])
        if _small_difference(a, b, threshold):
            found.add(
                "differencing_margin",
                f"The total of data row {row + 1} differs from the same row of the released '{other}' "
                f"by less than the safe threshold of {threshold} (but not zero); align the two tables "
                "or suppress cells of that row.",
                {"row": row, "margin": "row", "previous": other},
            )


def _compare_totals(
    mine: _Shape, theirs: _Shape, other: str, threshold: int, found: FindingCollector, status: Status
) -> None:
    for column in mine.counts:
        a = sum(v for v in mine.values[column] if v is not None)
        b = sum(v for v in theirs.values[column] if v is not None)
        if _small_difference(a, b, threshold):
            found.add(
                "differencing_margin",
                f"The total of column '{column}' differs from the same total in the released "
                f"'{other}' by less than the safe threshold of {threshold} (but not zero); the rows "
                "added or removed may be a small group.",
                {"column": column, "margin": "column", "previous": other},
                status=status,
            )


def _row_total(shape: _Shape, row: int) -> Any:
    values = [shape.values[c][row] for c in shape.counts]
    return sum(v for v in values if v is not None)
