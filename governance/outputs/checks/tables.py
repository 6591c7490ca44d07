"""Reading CSV, TSV, XLSX and Parquet into Arrow tables, within the profile's limits.

Text tables are only handed to the Arrow CSV reader after the bounded text scan has shown that every
line is within `max_line_bytes` and the header within `max_columns`; workbooks only after their ZIP
container passed the archive limits; Parquet only after its footer gave an acceptable shape.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from governance.outputs.checks.base import CheckContext
from governance.outputs.checks.detect import Detection, detect, detect_file_type
from governance.outputs.checks.memo import memoised
from governance.outputs.checks.textscan import scan_text, text_stats
from governance.outputs.risk_profile import RiskProfile


class TableError(Exception):
    """The file cannot be read as a table within the limits; `code` and a reviewer-friendly message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class NamedTable:
    sheet: str | None  # the worksheet name for workbooks
    table: pa.Table


def load_tables(path: Path, ctx: CheckContext) -> list[NamedTable]:
    """The tables of a tabular file (one per worksheet for XLSX); raises TableError."""
    return memoised(ctx, "tables", path, lambda: _load(path, detect(path, ctx), ctx.profile, ctx))


def load_tables_from(path: Path, profile: RiskProfile, file_name: str | None = None) -> list[NamedTable]:
    """Same as load_tables for a file outside the checked one (companions, earlier releases)."""
    detection = detect_file_type(path, file_name or path.name)
    return _load(path, detection, profile, None)


def table_shape(path: Path, ctx: CheckContext) -> tuple[int, int]:
    """(rows, columns) of the largest sheet, without reading everything where the format allows.

    Raises TableError when the file cannot be read, including "too_many_rows"/"too_many_columns" for a
    workbook whose reading stopped at the limit.
    """
    detection = detect(path, ctx)
    if detection.table_kind == "parquet":
        try:
            meta = pq.ParquetFile(path).metadata
        except (pa.ArrowException, OSError) as exc:
            raise TableError(
                "malformed_file", f"The Parquet file could not be read: {_short(exc)}."
            ) from None
        return int(meta.num_rows), int(meta.num_columns)
    tables = load_tables(path, ctx)
    rows = max((named.table.num_rows for named in tables), default=0)
    columns = max((named.table.num_columns for named in tables), default=0)
    return rows, columns


def _load(
    path: Path, detection: Detection, profile: RiskProfile, ctx: CheckContext | None
) -> list[NamedTable]:
    kind = detection.table_kind
    if kind is None:
        raise TableError("not_a_table", "The file is not a table.")
    if path.stat().st_size > profile.max_file_bytes:
        raise TableError(
            "file_too_large", "The file is larger than the limit, so it was not read as a table."
        )
    if kind == "parquet":
        return [NamedTable(None, _read_parquet(path, profile))]
    if kind == "xlsx":
        return _read_xlsx(path, profile)
    return [NamedTable(None, _read_delimited(path, detection, profile, ctx))]


def _read_delimited(
    path: Path, detection: Detection, profile: RiskProfile, ctx: CheckContext | None
) -> pa.Table:
    delimiter = detection.delimiter or ","
    stats = text_stats(path, ctx) if ctx is not None else scan_text(path, profile.max_line_bytes, delimiter)
    if stats.longest_line_bytes > profile.max_line_bytes:
        raise TableError(
            "line_too_long",
            f"Line {stats.longest_line_number} is longer than "
            f"{profile.max_line_bytes:,} bytes, so the table was not read.",
        )
    if stats.header_fields is not None and stats.header_fields > profile.max_columns:
        raise TableError(
            "too_many_columns",
            f"The table has {stats.header_fields:,} columns (limit "
            f"{profile.max_columns:,}), so it was not read.",
        )
    if stats.lines - 1 > profile.max_rows:
        raise TableError(
            "too_many_rows",
            f"The table has {stats.lines - 1:,} data rows (limit {profile.max_rows:,}), so it was not read.",
        )
    if stats.invalid_utf8_offset is not None or stats.nul_offset is not None:
        raise TableError("not_utf8", "The table is not valid UTF-8 text, so it was not read.")
    read_options = pacsv.ReadOptions(block_size=max(1 << 20, 2 * profile.max_line_bytes + 1024))
    last_error: Exception | None = None
    for newlines_in_values in (False, True):
        parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values)
        try:
            table: pa.Table = pacsv.read_csv(path, read_options=read_options, parse_options=parse_options)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            last_error = exc
            continue
        return table
    raise TableError("malformed_file", f"The file could not be read as a table: {_short(last_error)}.")


def _read_parquet(path: Path, profile: RiskProfile) -> pa.Table:
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        if meta.num_columns > profile.max_columns:
            raise TableError(
                "too_many_columns",
                f"The table has {meta.num_columns:,} columns (limit "
                f"{profile.max_columns:,}), so it was not read.",
            )
        if meta.num_rows > profile.max_rows:
            raise TableError(
                "too_many_rows",
                f"The table has {meta.num_rows:,} data rows (limit "
                f"{profile.max_rows:,}), so it was not read.",
            )
        table: pa.Table = parquet.read()
    except (pa.ArrowException, OSError) as exc:
        raise TableError("malformed_file", f"The Parquet file could not be read: {_short(exc)}.") from None
    return table


def _read_xlsx(path: Path, profile: RiskProfile) -> list[NamedTable]:
    from openpyxl import load_workbook

    from governance.outputs.checks.archive import inspect_archive

    problems = inspect_archive(path, "zip", profile.archive, check_ratio=False)
    if problems:
        raise TableError(
            "malformed_file", f"The workbook's container failed the safety limits: {problems[0].message}"
        )
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for damaged workbooks
        raise TableError("malformed_file", f"The workbook could not be opened: {_short(exc)}.") from None
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows: list[tuple[Any, ...]] = []
            for row in sheet.iter_rows(values_only=True, max_col=profile.max_columns + 1):
                width = _width(row)
                if not width:
                    continue
                if width > profile.max_columns:
                    raise TableError(
                        "too_many_columns",
                        f"Sheet '{sheet.title}' has more than {profile.max_columns:,} columns; not read.",
                    )
                if len(rows) > profile.max_rows:
                    raise TableError(
                        "too_many_rows",
                        f"Sheet '{sheet.title}' has more than {profile.max_rows:,} data rows; not read.",
                    )
                rows.append(tuple(row[:width]))
            sheets.append(NamedTable(sheet.title, _rows_to_table(rows)))
        return sheets
    except TableError:
        raise
    except Exception as exc:
        raise TableError("malformed_file", f"The workbook could not be read: {_short(exc)}.") from None
    finally:
        workbook.close()


def _width(row: tuple[Any, ...]) -> int:
    """Cells up to the last non-empty one (read-only sheets pad rows with None)."""
    for index in range(len(row) - 1, -1, -1):
        if row[index] is not None:
            return index + 1
    return 0


def _rows_to_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    if not rows:
        return pa.table({})
    width = max(len(row) for row in rows)
    header = [
        str(value) if value is not None else f"column_{index + 1}"
        for index, value in enumerate(list(rows[0]) + [None] * (width - len(rows[0])))
    ]
    columns: dict[str, pa.Array] = {}
    for index, name in enumerate(header):
        values = [row[index] if index < len(row) else None for row in rows[1:]]
        unique = name if name not in columns else f"{name}_{index + 1}"
        columns[unique] = _to_array(values)
    return pa.table(columns)


def _to_array(values: list[Any]) -> pa.Array:
    kinds = {type(value) for value in values if value is not None}
    if kinds and kinds <= {int, float}:
        if kinds == {int}:
            return pa.array(values, type=pa.int64())
        return pa.array([float(v) if v is not None else None for v in values], type=pa.float64())
    if kinds and kinds <= {dt.datetime, dt.date}:
        return pa.array([_as_datetime(v) for v in values], type=pa.timestamp("s"))
    return pa.array([None if value is None else str(value) for value in values], type=pa.string())


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def _short(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else "unknown error"
    return text.splitlines()[0][:300] if text else type(exc).__name__
