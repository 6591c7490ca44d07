"""Reading CSV, TSV, XLSX and Parquet into Arrow tables, within the profile's limits.

Nothing is decoded before the file's own declarations have passed the limits, and decoding stops as
soon as what it produces exceeds them, so a small file that expands enormously (a decompression bomb)
ends in a TableError with a plain reason, never in exhausted memory:

* text tables go to the Arrow CSV reader only after the bounded text scan has shown every line within
  `max_line_bytes`, the header within `max_columns`, and rows x columns within `tables.max_cells`; the
  reader gets an open file, never a path (Arrow would decompress by the name's extension);
* workbooks are opened only after their ZIP directory's declared sizes and compression ratios, the
  shared-strings table's size and entry count, and the absence of DTDs were checked, and sheets are read
  row by row up to one row past the limit;
* Parquet is read only after its footer declared an acceptable shape, uncompressed size and cell
  count, in batches whose decoded size (dictionaries measured before they are expanded) and row count
  are added up as they arrive.

Error messages never quote the file: Arrow's parse errors do, so only row numbers are kept.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from governance.outputs.checks.base import CheckContext
from governance.outputs.checks.detect import Detection, detect, detect_file_type
from governance.outputs.checks.memo import memoised
from governance.outputs.checks.textscan import scan_text, text_stats
from governance.outputs.checks.zipguard import read_zip_directory
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
            raise TableError("malformed_file", _parquet_problem(exc)) from None
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
    _check_cells(max(0, stats.lines - 1), stats.header_fields or 1, profile)
    if stats.invalid_utf8_offset is not None or stats.nul_offset is not None:
        raise TableError("not_utf8", "The table is not valid UTF-8 text, so it was not read.")
    read_options = pacsv.ReadOptions(block_size=max(1 << 20, 2 * profile.max_line_bytes + 1024))
    last_error: Exception | None = None
    for newlines_in_values in (False, True):
        parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values)
        try:
            # An open file, not the path: given a path, Arrow decompresses by the name's extension
            # (.gz, .bz2, .lz4, .zst ...), which would let a renamed compressed file expand unchecked.
            with pa.OSFile(str(path), "rb") as source:
                table: pa.Table = pacsv.read_csv(
                    source, read_options=read_options, parse_options=parse_options
                )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            last_error = exc
            continue
        _check_decoded(table.nbytes, profile)
        return table
    raise TableError("malformed_file", f"The file could not be read as a table: {_csv_problem(last_error)}.")


def _check_cells(rows: int, columns: int, profile: RiskProfile, where: str = "The table") -> None:
    limit = profile.tables.max_cells
    if rows * columns > limit:
        raise TableError(
            "too_many_cells",
            f"{where} has {rows:,} rows of {columns:,} columns, more than {limit:,} cells in all, "
            "so it was not read; split it into smaller tables.",
        )


def _check_decoded(size: int, profile: RiskProfile, *, declared: bool = False) -> None:
    limit = profile.tables.max_decoded_bytes
    if size > limit:
        what = "declares" if declared else "expands to"
        raise TableError(
            "too_much_decoded_data",
            f"The table {what} more than {limit:,} bytes once decoded (a possible decompression "
            "bomb), so it was not read; split it into smaller tables.",
        )


_CSV_ROW = re.compile(r"Row #(\d+)")
_CSV_FIELDS = re.compile(r"Expected (\d+) columns, got (\d+)")


def _csv_problem(exc: BaseException | None) -> str:
    """Arrow's CSV error in our words. Arrow quotes the offending row, and a finding must never
    carry the file's content, so only the row number and field counts are kept."""
    text = str(exc) if exc is not None else ""
    fields = _CSV_FIELDS.search(text)
    row = _CSV_ROW.search(text)
    where = f"line {row.group(1)}" if row else "a line"
    if fields:
        return f"{where} has {fields.group(2)} fields where the header has {fields.group(1)}"
    if "conversion error" in text:
        return f"{where} holds a value that does not fit the type of its column"
    return "its text is not well-formed delimited data"


# ---- Parquet -----------------------------------------------------------------------------------------

PARQUET_BATCH_ROWS = 16_384


def _read_parquet(path: Path, profile: RiskProfile) -> pa.Table:
    """Read a Parquet file only after its footer declared an acceptable shape and size, and stop as
    soon as what is actually decoded exceeds the limits (the footer can lie; pages can expand)."""
    try:
        schema = _parquet_preflight(path, profile)
        binary = [
            f.name
            for f in schema
            if pa.types.is_binary(f.type)
            or pa.types.is_string(f.type)
            or pa.types.is_large_binary(f.type)
            or pa.types.is_large_string(f.type)
        ]
        # Byte-array columns are read as dictionaries, so that a tiny dictionary page referenced by
        # every row is measured before it is expanded into one copy per row.
        parquet = pq.ParquetFile(path, read_dictionary=binary)
        batches: list[pa.RecordBatch] = []
        rows = decoded = 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, use_threads=False):
            rows += batch.num_rows
            if rows > profile.max_rows:
                raise TableError(
                    "too_many_rows",
                    f"The table holds more than {profile.max_rows:,} data rows (more than its footer "
                    "declares), so it was not read.",
                )
            decoded += sum(_decoded_bytes(column) for column in batch.columns)
            _check_decoded(decoded, profile)
            batches.append(_decode_dictionaries(batch))
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, MemoryError):
            raise
        raise TableError("malformed_file", _parquet_problem(exc)) from None
    plain = pa.schema([pa.field(f.name, _plain_type(f.type)) for f in schema])
    return pa.Table.from_batches(batches, schema=plain) if batches else plain.empty_table()


def _parquet_problem(exc: BaseException) -> str:
    # Arrow's text can quote statistics or values read from the file; findings never carry content.
    return f"The Parquet file could not be read ({type(exc).__name__}); it is damaged or not Parquet."


def _parquet_preflight(path: Path, profile: RiskProfile) -> pa.Schema:
    """The Arrow schema, after the footer's declarations passed the limits; raises TableError."""
    parquet = pq.ParquetFile(path)  # reads the footer only
    meta = parquet.metadata
    schema: pa.Schema = parquet.schema_arrow
    if meta.num_columns > profile.max_columns:
        raise TableError(
            "too_many_columns",
            f"The table has {meta.num_columns:,} columns (limit {profile.max_columns:,}), "
            "so it was not read.",
        )
    if meta.num_rows > profile.max_rows:
        raise TableError(
            "too_many_rows",
            f"The table has {meta.num_rows:,} data rows (limit {profile.max_rows:,}), so it was not read.",
        )
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    if nested:
        raise TableError(
            "nested_columns",
            f"Column '{nested[0]}' holds lists or records, not single values; save the table with "
            "plain columns.",
        )
    _check_cells(meta.num_rows, meta.num_columns, profile)
    declared_rows = compressed = uncompressed = 0
    for index in range(meta.num_row_groups):
        group = meta.row_group(index)
        declared_rows += group.num_rows
        for column in range(group.num_columns):
            chunk = group.column(column)
            compressed += max(0, chunk.total_compressed_size)
            uncompressed += max(0, chunk.total_uncompressed_size)
    if declared_rows != meta.num_rows or compressed > path.stat().st_size:
        raise TableError(
            "malformed_file",
            "The Parquet file's footer contradicts itself (row counts or sizes do not add up), "
            "so it was not read.",
        )
    _check_decoded(uncompressed, profile, declared=True)
    fixed = sum(_fixed_width(f.type) for f in schema)
    _check_decoded(meta.num_rows * fixed, profile, declared=True)
    return schema


def _fixed_width(kind: pa.DataType) -> int:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    try:
        return max(1, int(kind.bit_width) // 8)
    except ValueError:
        return 8  # variable width: at least its offset per row


def _decoded_bytes(column: pa.Array) -> int:
    """What the column will take once its dictionary (if any) is expanded, without expanding it."""
    if not isinstance(column, pa.DictionaryArray):
        return int(column.nbytes)
    values, indices = column.dictionary, column.indices
    kind = values.type
    rows = len(indices)
    if (
        pa.types.is_binary(kind)
        or pa.types.is_string(kind)
        or pa.types.is_large_binary(kind)
        or (pa.types.is_large_string(kind))
    ):
        lengths = pc.take(pc.binary_length(values), indices)
        return int(pc.sum(lengths).as_py() or 0) + rows * 8
    return rows * _fixed_width(kind) + int(indices.nbytes)


def _decode_dictionaries(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = [c.dictionary_decode() if isinstance(c, pa.DictionaryArray) else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if pa.types.is_dictionary(kind) else kind


# ---- XLSX --------------------------------------------------------------------------------------------

_RATIO_FLOOR_BYTES = 1024 * 1024  # below this much output, ratios say nothing
_XML_READ_BYTES = 256 * 1024
_SHARED_STRING = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?si[\s>/]")
_SST_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,31}:)?sst[\s>/]")
_OVERLAP = 48


def _check_workbook_parts(path: Path, profile: RiskProfile) -> None:
    """Refuse a workbook whose parts would expand too much, before any XML parser sees them.

    The ZIP directory's declared sizes are checked first (zipfile never yields more than a member
    declares, so they bound what openpyxl can read); then every XML part is streamed once, within
    those sizes, to count the shared strings and to refuse document type declarations (entity
    expansion), which Excel never writes.
    """
    limits = profile.tables
    with path.open("rb") as handle:
        directory = read_zip_directory(handle)
        if directory is None or directory.entries > profile.archive.max_members:
            raise TableError(
                "malformed_file",
                "The workbook's container is damaged or has too many parts, so it was not opened.",
            )
        with zipfile.ZipFile(handle) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            total = sum(info.file_size for info in infos)
            if total > limits.max_decoded_bytes:
                raise TableError(
                    "too_much_decoded_data",
                    f"The workbook's parts declare {total:,} bytes once uncompressed, more than the "
                    f"limit of {limits.max_decoded_bytes:,} (a possible decompression bomb), so it was "
                    "not opened.",
                )
            for info in infos:
                if info.file_size > _RATIO_FLOOR_BYTES and info.file_size > limits.max_xml_ratio * max(
                    info.compress_size, 1
                ):
                    raise TableError(
                        "compression_ratio",
                        f"Part '{info.filename[:200]}' of the workbook expands more than "
                        f"{limits.max_xml_ratio:g} times (a possible decompression bomb), so the "
                        "workbook was not opened.",
                    )
            shared = 0
            for info in infos:
                if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                    shared += _scan_xml_part(archive, info, profile)
            if shared > limits.max_shared_strings:
                raise TableError(
                    "too_many_shared_strings",
                    f"The workbook's shared-strings table has more than {limits.max_shared_strings:,} "
                    "entries, so it was not opened; split it into smaller workbooks or save it as CSV.",
                )


def _scan_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, profile: RiskProfile) -> int:
    """Shared-string entries in one XML part; raises TableError for a part that must not be parsed."""
    limits = profile.tables
    count = 0
    carried = b""
    first = True
    with archive.open(info) as member:
        while True:
            block = member.read(_XML_READ_BYTES)
            data = carried + block
            if first:
                first = False
                head = data[:4096]
                if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise TableError(
                        "malformed_file",
                        f"Part '{info.filename[:200]}' of the workbook is not UTF-8 XML, so it was "
                        "not opened.",
                    )
                if _SST_ROOT.search(head) and info.file_size > limits.max_shared_strings_bytes:
                    raise TableError(
                        "too_much_decoded_data",
                        f"The workbook's shared-strings table is {info.file_size:,} bytes once uncompressed, "
                        f"more than the limit of {limits.max_shared_strings_bytes:,}, so it was not opened.",
                    )
            if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
                raise TableError(
                    "xml_doctype",
                    f"Part '{info.filename[:200]}' of the workbook declares a document type or entities, "
                    "which Excel never writes (a possible entity-expansion bomb), so it was not opened.",
                )
            cut = len(data) if not block else max(0, len(data) - _OVERLAP)
            count += sum(1 for match in _SHARED_STRING.finditer(data) if match.start() < cut)
            carried = data[cut:]
            if not block:
                return count


def _read_xlsx(path: Path, profile: RiskProfile) -> list[NamedTable]:
    from openpyxl import load_workbook

    from governance.outputs.checks.archive import inspect_archive

    try:
        _check_workbook_parts(path, profile)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, zlib.error):
        raise TableError(
            "malformed_file", "The workbook's container is damaged, so it was not opened."
        ) from None
    problems = inspect_archive(path, "zip", profile.archive, check_ratio=False)
    if problems:
        raise TableError(
            "malformed_file", f"The workbook's container failed the safety limits: {problems[0].message}"
        )
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # openpyxl raises many unrelated types for damaged workbooks
        raise TableError(
            "malformed_file", f"The workbook could not be opened ({type(exc).__name__})."
        ) from None
    try:
        sheets = []
        cells = 0
        for sheet in workbook.worksheets:
            rows: list[tuple[Any, ...]] = []
            empty = (None,) * (profile.max_columns + 1)
            widest = seen = 0
            # At most one row past the limit is read: blank rows count too, since openpyxl makes
            # one for every row number a sheet skips (a tiny sheet can name row 1,048,576).
            for row in sheet.iter_rows(
                values_only=True, max_col=profile.max_columns + 1, max_row=profile.max_rows + 2
            ):
                seen += 1
                if seen > profile.max_rows + 1:
                    raise TableError(
                        "too_many_rows",
                        f"Sheet '{sheet.title}' has more than {profile.max_rows:,} rows; not read.",
                    )
                if row == empty:
                    continue
                width = _width(row, widest)
                if not width:
                    continue
                widest = max(widest, width)
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
                cells += width
                if cells > profile.tables.max_cells:
                    raise TableError(
                        "too_many_cells",
                        f"The workbook has more than {profile.tables.max_cells:,} cells, so it was not "
                        "read; split it into smaller tables.",
                    )
                rows.append(tuple(row[:width]))
            sheets.append(NamedTable(sheet.title, _rows_to_table(rows)))
        _check_decoded(sum(named.table.nbytes for named in sheets), profile)
        return sheets
    except (TableError, MemoryError):
        raise
    except Exception as exc:
        raise TableError(
            "malformed_file", f"The workbook could not be read ({type(exc).__name__})."
        ) from None
    finally:
        workbook.close()


def _width(row: tuple[Any, ...], hint: int = 0) -> int:
    """Cells up to the last non-empty one (read-only sheets pad rows with None to `max_col`).

    `hint` is the widest row so far: when nothing lies beyond it (one comparison in C), only the cells
    before it are scanned, so a narrow table padded to the column limit costs little per row.
    """
    width = len(row)
    if 0 < hint < width and row[hint:] == (None,) * (width - hint):
        width = hint
    while width and row[width - 1] is None:
        width -= 1
    return width


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
