"""Size limits: empty files, bytes, rows, columns and line length."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector
from governance.outputs.checks.detect import detect
from governance.outputs.checks.tables import TableError, table_shape
from governance.outputs.checks.textscan import text_stats


class SizeCheck:
    name = "size"
    version = "1"

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        profile = ctx.profile
        found = FindingCollector(profile.max_findings)
        size = path.stat().st_size
        parameters: dict[str, Any] = {
            "max_file_bytes": profile.max_file_bytes,
            "max_rows": profile.max_rows,
            "max_columns": profile.max_columns,
            "max_line_bytes": profile.max_line_bytes,
            "file_bytes": size,
        }
        if size == 0:
            found.add("empty_file", "The file is empty.")
            return found.result(self.name, self.version, parameters)
        if size > profile.max_file_bytes:
            found.add(
                "file_too_large",
                f"The file is {size:,} bytes, more than the limit of {profile.max_file_bytes:,} bytes.",
            )
            return found.result(self.name, self.version, parameters)
        detection = detect(path, ctx)
        if detection.is_text:
            self._text_limits(path, ctx, found, parameters)
        elif detection.table_kind in ("xlsx", "parquet"):
            self._table_limits(path, ctx, found, parameters)
        return found.result(self.name, self.version, parameters)

    def _text_limits(
        self, path: Path, ctx: CheckContext, found: FindingCollector, parameters: dict[str, Any]
    ) -> None:
        profile = ctx.profile
        stats = text_stats(path, ctx)
        detection = detect(path, ctx)
        parameters.update(lines=stats.lines, longest_line_bytes=stats.longest_line_bytes)
        if stats.longest_line_bytes > profile.max_line_bytes:
            found.add(
                "line_too_long",
                f"Line {stats.longest_line_number} is longer than the limit of {profile.max_line_bytes:,} "
                "bytes (the rest of the file was not read).",
                {"line": stats.longest_line_number},
            )
        delimited = detection.is_table
        rows = stats.lines - 1 if delimited else stats.lines
        if rows > profile.max_rows:
            unit = "data rows" if delimited else "lines"
            found.add(
                "too_many_rows", f"The file has {rows:,} {unit}, more than the limit of {profile.max_rows:,}."
            )
        if delimited and stats.header_fields is not None:
            parameters["columns"] = stats.header_fields
            if stats.header_fields > profile.max_columns:
                found.add(
                    "too_many_columns",
                    f"The table has {stats.header_fields:,} columns, more than "
                    f"the limit of {profile.max_columns:,}.",
                )

    def _table_limits(
        self, path: Path, ctx: CheckContext, found: FindingCollector, parameters: dict[str, Any]
    ) -> None:
        profile = ctx.profile
        try:
            rows, columns = table_shape(path, ctx)
        except TableError as exc:
            if exc.code in ("too_many_rows", "too_many_columns"):
                found.add(exc.code, exc.message)
            return  # otherwise unreadable: the tabular check reports it
        parameters.update(rows=rows, columns=columns)
        if rows > profile.max_rows:
            found.add(
                "too_many_rows",
                f"The table has {rows:,} data rows, more than the limit of {profile.max_rows:,}.",
            )
        if columns > profile.max_columns:
            found.add(
                "too_many_columns",
                f"The table has {columns:,} columns, more than the limit of {profile.max_columns:,}.",
            )
