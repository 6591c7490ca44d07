"""Which columns of a table are counts, which are other measures and which are labels.

Heuristics, in order: a count-like name (n, count, freq, total ...) makes a count; a measure-like name
(mean, median, rate, percent, min, max ...) makes a measure; a label-like name (year, age, code, region
...) makes a label. Otherwise a first column of strictly increasing integers is a label (a row index);
non-negative whole numbers are counts; other numbers are measures; text is a label. Text columns whose
values are numbers apart from suppression markers ("*", "<5", "[REDACTED]", "c", "x", "..") are read as
numbers with the suppressed cells missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

Role = Literal["count", "measure", "label"]

COUNT_TOKENS = frozenset(
    {
        "n",
        "count",
        "counts",
        "freq",
        "frequency",
        "frequencies",
        "number",
        "num",
        "total",
        "totals",
        "cases",
        "patients",
        "people",
        "persons",
        "individuals",
        "records",
        "events",
        "deaths",
        "admissions",
        "respondents",
        "obs",
        "observations",
        "size",
    }
)
MEASURE_TOKENS = frozenset(
    {
        "mean",
        "avg",
        "average",
        "median",
        "sd",
        "std",
        "stdev",
        "se",
        "sem",
        "ci",
        "lci",
        "uci",
        "lower",
        "upper",
        "lcl",
        "ucl",
        "pct",
        "percent",
        "percentage",
        "rate",
        "ratio",
        "prop",
        "proportion",
        "share",
        "score",
        "min",
        "max",
        "minimum",
        "maximum",
        "sum",
        "value",
        "coef",
        "coefficient",
        "estimate",
        "beta",
        "or",
        "hr",
        "rr",
        "p",
        "pvalue",
        "var",
        "variance",
        "iqr",
        "q1",
        "q3",
        "weight",
        "bmi",
        "cost",
        "income",
        "amount",
        "spend",
        "price",
        "duration",
        "los",
        "t",
        "z",
        "stat",
        "statistic",
        "df",
        "dof",
    }
)
LABEL_TOKENS = frozenset(
    {
        "year",
        "yr",
        "years",
        "age",
        "ageband",
        "month",
        "day",
        "week",
        "quarter",
        "date",
        "time",
        "period",
        "code",
        "id",
        "index",
        "idx",
        "group",
        "band",
        "category",
        "cat",
        "class",
        "region",
        "level",
        "rank",
        "order",
        "sex",
        "gender",
        "ethnicity",
        "area",
        "lsoa",
        "msoa",
        "district",
        "sector",
        "decile",
        "quintile",
        "quartile",
        "tertile",
        "imd",
        "stage",
        "grade",
        "type",
        "label",
        "bin",
        "bucket",
        "start",
        "end",
        "from",
        "to",
        "name",
        "site",
        "practice",
        "stp",
        "icb",
        "ccg",
        "la",
    }
)
EXTREME_TOKENS = frozenset({"min", "max", "minimum", "maximum", "smallest", "largest", "highest", "lowest"})
DOF_NAMES = frozenset({"df", "dof", "df_resid", "df_residual", "residual_df", "degrees_of_freedom"})

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_MARKER = (
    "(?i)^(\\*+|-|\u2013|\u2014|"
    r"\.\.?|<\s*\d+(\.\d+)?|\[?redacted\]?|suppressed|c|x|z|~|n/?a|na|nan|null|none)$"
)
_SAMPLE = 2_000


@dataclass(frozen=True, slots=True)
class Column:
    index: int
    name: str
    role: Role
    numbers: pa.Array | None  # int64 or float64; suppressed or empty cells are null
    suppressed: int  # cells holding a suppression marker


def name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [token for token in re.split(r"[^a-z0-9]+", spaced.lower()) if token]


def normalised_name(name: str) -> str:
    return "_".join(name_tokens(name))


def numeric_view(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array | None, int]:
    """The column as int64/float64 (suppression markers and blanks → null), and the number of markers."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    kind = array.type
    if pa.types.is_integer(kind):
        return array.cast(pa.int64()), 0
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return array.cast(pa.float64()), 0
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None, 0
    if len(array) > _SAMPLE and _numbers_or_markers(array.slice(0, _SAMPLE))[0] is None:
        return None, 0
    return _numbers_or_markers(array)


def _numbers_or_markers(array: pa.Array) -> tuple[pa.Array | None, int]:
    trimmed = pc.replace_substring(pc.utf8_trim_whitespace(array), ",", "")
    is_number = pc.fill_null(pc.match_substring_regex(trimmed, _NUMBER), False)
    is_marker = pc.fill_null(pc.match_substring_regex(trimmed, _MARKER), False)
    is_blank = pc.fill_null(pc.equal(trimmed, ""), True)
    understood = pc.or_(pc.or_(is_number, is_marker), is_blank)
    if not pc.all(understood).as_py() or not pc.any(is_number).as_py():
        return None, 0
    numbers = pc.if_else(is_number, trimmed, pa.scalar(None, pa.string())).cast(pa.float64())
    if pc.all(pc.equal(numbers, pc.floor(numbers))).as_py() is not False:
        numbers = numbers.cast(pa.int64())
    return numbers, int(pc.sum(is_marker).as_py() or 0)


def classify(table: pa.Table) -> list[Column]:
    columns = []
    for index, name in enumerate(table.column_names):
        numbers, suppressed = numeric_view(table.column(index))
        columns.append(Column(index, name, _role(index, name, numbers), numbers, suppressed))
    return columns


def _role(index: int, name: str, numbers: pa.Array | None) -> Role:
    if numbers is None or numbers.null_count == len(numbers):
        return "label"
    tokens = set(name_tokens(name))
    whole_non_negative = _whole_non_negative(numbers)
    if tokens & COUNT_TOKENS and not tokens & EXTREME_TOKENS:
        return "count" if whole_non_negative else "measure"
    if tokens & MEASURE_TOKENS:
        return "measure"
    if tokens & LABEL_TOKENS:
        return "label"
    if index == 0 and pa.types.is_integer(numbers.type) and _strictly_increasing(numbers):
        return "label"
    return "count" if whole_non_negative else "measure"


def _whole_non_negative(numbers: pa.Array) -> bool:
    minimum = pc.min(numbers).as_py()
    if minimum is None or minimum < 0:
        return False
    if pa.types.is_integer(numbers.type):
        return True
    return pc.all(pc.equal(numbers, pc.floor(numbers))).as_py() is not False


def _strictly_increasing(numbers: pa.Array) -> bool:
    if numbers.null_count or len(numbers) < 2:
        return False
    steps = pc.pairwise_diff(numbers)
    return bool(pc.min(steps.slice(1)).as_py() > 0)
