"""Statistical disclosure checks on tables (after ACRO): small cells, zeros, rounding, dominance,
extreme values and residual degrees of freedom. Every rule is evaluated column-wise with Arrow compute;
only the reported findings (capped) are turned into Python objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector, Status
from governance.outputs.checks.columns import DOF_NAMES, EXTREME_TOKENS, Column, classify, name_tokens
from governance.outputs.checks.detect import TABLE_KINDS, describe, detect
from governance.outputs.checks.dominance import check_dominance
from governance.outputs.checks.tables import NamedTable, TableError, load_tables, load_tables_from


class TabularCheck:
    name = "tabular"
    version = "2"  # 2: findings carry coordinates and rules, never values

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        profile = ctx.profile
        found = FindingCollector(profile.max_findings)
        parameters: dict[str, Any] = profile.thresholds()
        detection = detect(path, ctx) if path.stat().st_size else None
        if detection is None or not detection.is_table:
            parameters["applicable"] = False
            if detection is not None and detection.extension_kind in TABLE_KINDS:
                found.add(
                    "malformed_file",
                    f"The file is named as a table (.{detection.extension}) but its content is "
                    f"{describe(detection.content_kind)}, so it could not be checked.",
                )
            return found.result(self.name, self.version, parameters)
        parameters["applicable"] = True
        try:
            tables = load_tables(path, ctx)
        except TableError as exc:
            found.add(exc.code if exc.code != "not_a_table" else "malformed_file", exc.message)
            return found.result(self.name, self.version, parameters)
        described = []
        for named in tables:
            described.append(self._check_table(named, ctx, found))
        parameters["tables"] = described
        if ctx.contributions_column:
            parameters["contributions_column"] = ctx.contributions_column
            self._dominance(path, tables, ctx, found, parameters)
        return found.result(self.name, self.version, parameters)

    def _check_table(self, named: NamedTable, ctx: CheckContext, found: FindingCollector) -> dict[str, Any]:
        profile = ctx.profile
        table = named.table
        columns = classify(table)
        labels = [c for c in columns if c.role == "label"]
        sheet = named.sheet
        counts = [c for c in columns if c.role == "count" and c.name != ctx.contributions_column]
        threshold = profile.safe_threshold
        base = profile.rounding.base
        dof = profile.safe_dof_threshold
        for column in counts:
            assert column.numbers is not None
            values = column.numbers
            self._cells(
                found,
                "threshold",
                pc.and_(pc.greater(values, 0), pc.less(values, threshold)),
                column,
                sheet,
                f"is a count below the safe threshold of {threshold}; suppress it or combine it with "
                "neighbouring cells",
            )
            if profile.zeros_are_disclosive:
                self._cells(
                    found,
                    "zero",
                    pc.equal(values, 0),
                    column,
                    sheet,
                    "is zero; zeros are disclosive at this tier (they reveal that nobody in the group "
                    "has the attribute): suppress it or combine groups",
                )
            if profile.rounding.require_rounding:
                self._cells(
                    found,
                    "unrounded",
                    pc.not_equal(pc.modulo(values, base), 0),
                    column,
                    sheet,
                    f"is not rounded to a multiple of {base}; round it",
                )
        for column in columns:
            tokens = set(name_tokens(column.name))
            if tokens & EXTREME_TOKENS:
                found.add(
                    "extreme_values",
                    f"Column '{column.name}'{_in_sheet(sheet)} looks like a minimum or "
                    "maximum, which can reveal a single person's value; check it is not disclosive.",
                    {"column": column.name, **({"sheet": sheet} if sheet else {})},
                    status="review",
                )
            if column.numbers is not None and "_".join(name_tokens(column.name)) in DOF_NAMES:
                self._cells(
                    found,
                    "low_dof",
                    pc.less(column.numbers, dof),
                    column,
                    sheet,
                    f"gives fewer residual degrees of freedom than the minimum of {dof}; fit a simpler "
                    "model or use more observations",
                )
        return {
            "sheet": sheet,
            "rows": table.num_rows,
            "columns": table.num_columns,
            "count_columns": [c.name for c in counts],
            "label_columns": [c.name for c in labels],
            "measure_columns": [c.name for c in columns if c.role == "measure"],
            "suppressed_cells": sum(c.suppressed for c in columns),
        }

    @staticmethod
    def _cells(
        found: FindingCollector,
        code: str,
        mask: pa.Array,
        column: Column,
        sheet: str | None,
        explain: str,
        status: Status = "fail",
    ) -> None:
        """Count the cells where `mask` holds; list some by row and column. Never their values, nor
        the labels of their rows: findings are seen beyond the checkers, who can open the file."""
        mask = pc.fill_null(mask, False)
        total = int(pc.sum(mask).as_py() or 0)
        if not total:
            return
        found.add_counted(code, total, status=status)
        room = found.room
        if not room:
            return
        rows = pc.indices_nonzero(mask).slice(0, room)
        for row in rows.to_pylist():
            location: dict[str, Any] = {"row": row, "column": column.name}
            if sheet:
                location["sheet"] = sheet
            found.add_detail(
                code, f"Column '{column.name}', data row {row + 1}{_in_sheet(sheet)} {explain}.", location
            )

    def _dominance(
        self,
        path: Path,
        tables: list[NamedTable],
        ctx: CheckContext,
        found: FindingCollector,
        parameters: dict[str, Any],
    ) -> None:
        column = ctx.contributions_column
        assert column is not None
        source = tables
        if ctx.contributions_path is not None:
            try:
                source = load_tables_from(ctx.contributions_path, ctx.profile)
            except TableError as exc:
                found.add("dominance_not_checked", f"The contributions file could not be read: {exc.message}")
                return
        holders = [named for named in source if column in named.table.column_names]
        if not holders:
            found.add(
                "dominance_not_checked",
                f"The contributions column '{column}' is not in the "
                "contributions data, so the dominance rules could not be applied.",
            )
            return
        try:
            parameters["dominance_cells"] = sum(
                check_dominance(named.table, column, ctx.profile, found) for named in holders
            )
        except ValueError as exc:
            found.add("dominance_not_checked", f"The dominance rules could not be applied: {exc}.")


def _in_sheet(sheet: str | None) -> str:
    return f" of sheet '{sheet}'" if sheet else ""
