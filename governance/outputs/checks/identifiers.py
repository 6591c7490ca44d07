"""Direct identifiers: e-mail addresses, phone numbers, UK postcodes, NHS numbers (valid check digit
only), dates of birth, and columns whose names announce identifiers.

Values found → "fail"; a suspicious column name or date pattern alone → "review". Tables are scanned
column-wise with Arrow's RE2 kernels; other text is streamed in blocks with a small overlap so that a
match spanning two blocks is still found (and counted once).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from governance.outputs.checks import patterns
from governance.outputs.checks.base import CheckContext, CheckResult, FindingCollector
from governance.outputs.checks.columns import normalised_name
from governance.outputs.checks.detect import detect
from governance.outputs.checks.tables import NamedTable, TableError, load_tables

BLOCK_CHARS = 1024 * 1024
OVERLAP_CHARS = 256
_SAMPLE_LIMIT = 3  # findings listed per column and kind: _SAMPLE_LIMIT * 10 (all are counted)
_BIRTH_MIN_AGE_DAYS = 16 * 365
_DAY_SECONDS = 86_400

_VALUE_KINDS: tuple[tuple[str, str, str], ...] = (
    ("email", patterns.EMAIL_RE2, "an e-mail address"),
    ("postcode", patterns.POSTCODE, "a full UK postcode"),
)
_PHONE_RE2 = f"{patterns.PHONE_UK}|{patterns.PHONE_INTL}"
_TEXT_PATTERNS: tuple[tuple[str, re.Pattern[str], str, str | None], ...] = (
    ("email", re.compile(patterns.EMAIL_TEXT), "an e-mail address", "@"),
    ("postcode", re.compile(patterns.POSTCODE), "a full UK postcode", None),
)
_WHAT = {
    "email": "an e-mail address",
    "phone": "a phone number",
    "postcode": "a full UK postcode",
    "nhs_number": "a valid NHS number",
}
_FIX = "remove it, or replace it with a code that cannot be linked back to the person"
_TEXT_DOB = re.compile(f"{patterns.BIRTH_WORDS}[^\\n]{{0,40}}?(?:{patterns.ISO_DATE}|{patterns.UK_DATE})")
_COLUMN_RULES = tuple((re.compile(rule), what) for rule, what in patterns.IDENTIFIER_COLUMNS)
_BIRTH_COLUMN = re.compile(patterns.BIRTH_COLUMN)


class IdentifiersCheck:
    name = "identifiers"
    version = "2"  # 2: findings carry coordinates and rules, never values

    def run(self, path: Path, ctx: CheckContext) -> CheckResult:
        found = FindingCollector(ctx.profile.max_findings)
        parameters: dict[str, Any] = {
            "kinds": ["email", "phone", "postcode", "nhs_number", "date_of_birth", "identifier_column"]
        }
        if path.stat().st_size == 0:
            return found.result(self.name, self.version, parameters)
        detection = detect(path, ctx)
        unreadable: TableError | None = None
        if detection.is_table:
            try:
                tables = load_tables(path, ctx)
            except TableError as exc:
                tables, unreadable = None, exc
            if tables is not None:
                parameters["scanned_as"] = "table"
                for named in tables:
                    _scan_table(named, found)
                return found.result(self.name, self.version, parameters)
        if detection.is_text:
            parameters["scanned_as"] = "text"
            if path.stat().st_size > ctx.profile.max_file_bytes:
                found.add(
                    "not_checked", "The file is over the size limit, so it was not scanned for identifiers."
                )
            else:
                _scan_text(path, found)
            return found.result(self.name, self.version, parameters)
        if detection.is_table:
            reason = f" ({unreadable.message.rstrip('.')})" if unreadable is not None else ""
            found.add(
                "not_checked", f"The table could not be read{reason}, so it was not scanned for identifiers."
            )
            return found.result(self.name, self.version, parameters)
        parameters["scanned_as"] = "not applicable (binary format)"
        return found.result(self.name, self.version, parameters)


# ---- tables -------------------------------------------------------------------------------------------


def _scan_table(named: NamedTable, found: FindingCollector) -> None:
    table = named.table
    where = {"sheet": named.sheet} if named.sheet else {}
    for index, name in enumerate(table.column_names):
        column = table.column(index).combine_chunks()
        normalised = normalised_name(name)
        label = next((what for rule, what in _COLUMN_RULES if rule.search(normalised)), None)
        birth_named = bool(_BIRTH_COLUMN.search(normalised))
        if label is not None:
            found.add(
                "identifier_column",
                f"Column '{name}' is named like {label}; direct identifiers must not leave the environment.",
                {"column": name, **where},
                status="review",
            )
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            _string_values(column, name, where, found)
        elif pa.types.is_integer(kind):
            _integer_nhs_numbers(column.cast(pa.int64()), name, where, found)
        elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            _integer_nhs_numbers(_whole_numbers(column), name, where, found)
        days = _as_days(column)
        if days is not None:
            _dates(days, name, where, found, birth_named=birth_named)


def _string_values(column: pa.Array, name: str, where: dict[str, Any], found: FindingCollector) -> None:
    for code, pattern, _what in _VALUE_KINDS:
        mask = pc.fill_null(pc.match_substring_regex(column, pattern), False)
        _report(found, code, pc.indices_nonzero(mask).to_pylist(), name, where)
    # Phone and NHS numbers: RE2 finds candidate cells, the guarded Python patterns confirm them
    # (digits that belong to a decimal number are not identifiers; RE2 cannot express that).
    for code, pattern, confirm in (
        ("phone", _PHONE_RE2, patterns.phone_number_spans),
        ("nhs_number", patterns.NHS_CANDIDATE, patterns.nhs_number_spans),
    ):
        mask = pc.fill_null(pc.match_substring_regex(column, pattern), False)
        candidates = pc.indices_nonzero(mask)
        if not len(candidates):
            continue
        texts = pc.take(column, candidates).to_pylist()
        rows = [
            row for row, text in zip(candidates.to_pylist(), texts, strict=True) if text and confirm(text)
        ]
        _report(found, code, rows, name, where)


def _integer_nhs_numbers(
    numbers: pa.Array, name: str, where: dict[str, Any], found: FindingCollector
) -> None:
    in_range = pc.and_(pc.greater_equal(numbers, 1_000_000_000), pc.less_equal(numbers, 9_999_999_999))
    if not pc.any(pc.fill_null(in_range, False)).as_py():
        return
    mask = pc.and_(pc.fill_null(in_range, False), _nhs_valid(numbers))
    _report(found, "nhs_number", pc.indices_nonzero(mask).to_pylist(), name, where)


def _whole_numbers(column: pa.Array) -> pa.Array:
    """A floating column's whole-number values in the 10-digit range as int64, others null: an NHS
    number stored as 9434765919.0 is still one, a mean such as 9434765919.5 is not."""
    values = column.cast(pa.float64())
    whole = pc.fill_null(
        pc.and_(
            pc.equal(values, pc.floor(values)),
            pc.and_(pc.greater_equal(values, 1e9), pc.less(values, 1e10)),
        ),
        False,
    )
    kept = pc.if_else(whole, values, pa.scalar(None, pa.float64()))
    return kept.cast(pa.int64())


def _nhs_valid(numbers: pa.Array) -> pa.Array:
    """Vectorised modulus-11 check on 10-digit numbers (leading zeros allowed)."""
    total = pa.repeat(0, len(numbers)).cast(pa.int64())
    for position in range(9):
        digit = pc.modulo(pc.divide(numbers, 10 ** (9 - position)), 10)
        total = pc.add(total, pc.multiply(digit, 10 - position))
    check = pc.subtract(11, pc.modulo(total, 11))
    check = pc.if_else(pc.equal(check, 11), 0, check)
    valid = pc.and_(pc.not_equal(check, 10), pc.equal(check, pc.modulo(numbers, 10)))
    in_range = pc.and_(pc.greater_equal(numbers, 0), pc.less_equal(numbers, 9_999_999_999))
    return pc.fill_null(pc.and_(valid, in_range), False)


def _as_days(column: pa.Array) -> pa.Array | None:
    """Day numbers (since 1970) for date-like columns that hold full dates, else None."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        return pc.divide(column.cast(pa.timestamp("s")).cast(pa.int64()), _DAY_SECONDS)
    if pa.types.is_date(kind):
        return column.cast(pa.date32()).cast(pa.int32()).cast(pa.int64())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)) or len(column) == 0:
        return None
    for pattern, fmt in ((patterns.ISO_DATE, "%Y-%m-%d"), (patterns.UK_DATE, "%d/%m/%Y")):
        sample = column.slice(0, 1000)
        matched = pc.sum(pc.fill_null(pc.match_substring_regex(sample, f"^\\s*(?:{pattern})\\s*$"), False))
        if (matched.as_py() or 0) * 2 >= max(1, len(sample) - sample.null_count):
            parsed = pc.strptime(pc.utf8_trim_whitespace(column), format=fmt, unit="s", error_is_null=True)
            return pc.divide(parsed.cast(pa.int64()), _DAY_SECONDS)
    return None


def _dates(
    days: pa.Array, name: str, where: dict[str, Any], found: FindingCollector, *, birth_named: bool
) -> None:
    valid = days.drop_null()
    if len(valid) == 0:
        return
    if birth_named:
        found.add(
            "date_of_birth",
            f"Column '{name}' holds {len(valid):,} full dates of birth.",
            {"column": name, **where},
        )
        return
    today = (dt.date.today() - dt.date(1970, 1, 1)).days
    ages = pc.subtract(today, valid)
    plausible = pc.and_(pc.greater_equal(ages, 0), pc.less_equal(ages, 110 * 365))
    share_plausible = pc.mean(plausible.cast(pa.float64())).as_py() or 0.0
    median_age = pc.approximate_median(ages).as_py() or 0
    distinct = pc.count_distinct(valid).as_py() or 0
    if share_plausible >= 0.9 and median_age >= _BIRTH_MIN_AGE_DAYS and distinct >= min(10, len(valid)):
        found.add(
            "possible_birth_dates",
            f"Column '{name}' holds full dates that look like dates of birth; release only coarser "
            "dates (year, or month and year) unless justified.",
            {"column": name, **where},
            status="review",
        )


def _report(found: FindingCollector, code: str, rows: list[int], name: str, where: dict[str, Any]) -> None:
    """Count every hit; list some by where they are. Never the value, nor any part of it: whoever
    needs to see it can open the file."""
    if not rows:
        return
    found.add_counted(code, len(rows), status="fail")
    for row in rows[: min(found.room, _SAMPLE_LIMIT * 10)]:
        found.add_detail(
            code,
            f"Column '{name}', data row {row + 1} contains {_WHAT[code]}; {_FIX}.",
            {"row": row, "column": name, **where},
        )


# ---- free text ----------------------------------------------------------------------------------------


def _scan_text(path: Path, found: FindingCollector) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    carried = ""  # tail of the previous block, not yet scanned
    carried_line = 1  # line number at the start of `carried`
    covered = 0  # `carried` offsets before this belong to a match already reported
    with path.open("rb") as handle:
        while True:
            raw = handle.read(BLOCK_CHARS)
            text = carried + decoder.decode(raw, final=not raw)
            if not text:
                break
            # Matches starting in the last OVERLAP_CHARS are left for the next round, where they are whole.
            boundary = len(text) if not raw else max(0, len(text) - OVERLAP_CHARS)
            reported_to = _scan_block(text, covered, boundary, carried_line, found)
            covered = max(0, reported_to - boundary)
            carried_line += text.count("\n", 0, boundary)
            carried = text[boundary:]
            if not raw:
                break


def _scan_block(text: str, start: int, end: int, first_line: int, found: FindingCollector) -> int:
    """Report matches starting in [start, end); return the offset where the last reported match ends."""
    reported_to = 0

    def report(code: str, offset: int, message: str, match_end: int) -> None:
        nonlocal reported_to
        reported_to = max(reported_to, match_end)
        found.add_counted(code, 1, status="fail")
        if found.room:
            line = first_line + text.count("\n", 0, offset)
            found.add_detail(code, f"Line {line} {message}.", {"line": line})

    for code, pattern, what, needle in _TEXT_PATTERNS:
        if needle is not None and needle not in text:
            continue
        for match in pattern.finditer(text):
            if start <= match.start() < end:
                report(code, match.start(), f"contains {what}; {_FIX}", match.end())
    for offset, match_end in patterns.phone_number_spans(text):
        if start <= offset < end:
            report("phone", offset, f"contains a phone number; {_FIX}", match_end)
    for offset, match_end, _digits in patterns.nhs_number_spans(text):
        if start <= offset < end:
            report("nhs_number", offset, f"contains a valid NHS number; {_FIX}", match_end)
    for match in _TEXT_DOB.finditer(text):
        if start <= match.start() < end:
            report("date_of_birth", match.start(), "mentions a date of birth", match.end())
    return reported_to
