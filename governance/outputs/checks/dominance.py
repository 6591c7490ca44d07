"""Dominance rules on individual contributions: (n, k) rule, p% rule and contributor threshold.

Contributions come in long form, one row per contributor, with the cell identified by the label columns
(every non-numeric column plus numeric columns with label-like names). All work is vectorised: rows
are sorted by cell and by descending contribution, each row's rank within its cell is derived from
the cell boundaries, and one grouped aggregation gives each cell's total, contributor count and
largest contributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from governance.outputs.checks.base import FindingCollector
from governance.outputs.checks.columns import classify
from governance.outputs.risk_profile import RiskProfile

_NULL_KEY = "\x00(missing)"


@dataclass(frozen=True, slots=True)
class CellStats:
    keys: list[str]
    key_values: pa.Table  # one row per cell
    contributors: pa.Array  # int64
    total: pa.Array  # float64
    top_n: pa.Array  # sum of the n largest contributions
    top1: pa.Array
    top2: pa.Array
    first_rows: pa.Array  # int64: each cell's first data row in the contributions table (0-based)
    negative: int  # negative contributions (rules use magnitudes)


def cell_statistics(table: pa.Table, column: str, n: int) -> CellStats:
    index = table.column_names.index(column)
    roles = classify(table)
    keys = [c.name for c in roles if c.role == "label" and c.index != index]
    values = roles[index].numbers
    if values is None:
        raise ValueError(f"the contributions column '{column}' does not hold numbers")
    values = values.cast(pa.float64())
    negative = int(pc.sum(pc.less(values, 0)).as_py() or 0)
    work = {
        f"k{i}": pc.fill_null(table.column(key).cast(pa.string()), _NULL_KEY) for i, key in enumerate(keys)
    }
    work["v"] = pc.abs(values)
    work["r"] = pa.array(range(table.num_rows), pa.int64())
    data = pa.table(work).filter(pc.is_valid(work["v"]))
    key_fields = [f"k{i}" for i in range(len(keys))]
    order = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in key_fields] + [("v", "descending")])
    data = data.take(order)
    rows = data.num_rows
    if rows == 0:
        empty = pa.array([], pa.float64())
        return CellStats(
            keys,
            pa.table({k: pa.array([], pa.string()) for k in keys}),
            pa.array([], pa.int64()),
            empty,
            empty,
            empty,
            empty,
            pa.array([], pa.int64()),
            negative,
        )
    starts_flag = pa.concat_arrays([pa.array([True]), _key_changes(data, key_fields)])
    group = pc.subtract(pc.cumulative_sum(starts_flag.cast(pa.int64())), 1)
    starts = pc.indices_nonzero(starts_flag)
    position = pc.subtract(pc.cumulative_sum(pa.repeat(1, rows)), 1)
    rank = pc.subtract(position, pc.take(starts, group).cast(pa.int64()))
    zero = pa.scalar(0.0)
    v = data.column("v")
    stats = (
        pa.table(
            {
                "g": group,
                "v": v,
                "top_n": pc.if_else(pc.less(rank, n), v, zero),
                "top1": pc.if_else(pc.equal(rank, 0), v, zero),
                "top2": pc.if_else(pc.equal(rank, 1), v, zero),
                "r": data.column("r"),
            }
        )
        .group_by("g")
        .aggregate(
            [("v", "count"), ("v", "sum"), ("top_n", "sum"), ("top1", "sum"), ("top2", "sum"), ("r", "min")]
        )
        .sort_by("g")
    )
    first_rows = pc.take(starts, stats.column("g"))
    key_values = pa.table({key: pc.take(data.column(f"k{i}"), first_rows) for i, key in enumerate(keys)})
    return CellStats(
        keys,
        key_values,
        stats.column("v_count").combine_chunks().cast(pa.int64()),
        stats.column("v_sum").combine_chunks(),
        stats.column("top_n_sum").combine_chunks(),
        stats.column("top1_sum").combine_chunks(),
        stats.column("top2_sum").combine_chunks(),
        stats.column("r_min").combine_chunks().cast(pa.int64()),
        negative,
    )


def _key_changes(data: pa.Table, key_fields: list[str]) -> pa.Array:
    rows = data.num_rows
    changed = pa.repeat(False, rows - 1)
    for key in key_fields:
        column = data.column(key).combine_chunks()
        changed = pc.or_(changed, pc.not_equal(column.slice(1), column.slice(0, rows - 1)))
    return changed


def check_dominance(table: pa.Table, column: str, profile: RiskProfile, found: FindingCollector) -> int:
    """Add dominance findings for every cell; return the number of cells examined."""
    stats = cell_statistics(table, column, profile.safe_nk_n)
    k, p, threshold = profile.safe_nk_k, profile.safe_pratio_p, profile.safe_threshold
    total = stats.total
    nk_fail = pc.and_(pc.greater(total, 0), pc.greater(stats.top_n, pc.multiply(total, k)))
    remainder = pc.subtract(pc.subtract(total, stats.top1), stats.top2)
    p_fail = pc.and_(pc.greater(stats.top1, 0), pc.less(remainder, pc.multiply(stats.top1, p)))
    few = pc.less(stats.contributors, threshold)
    # What each rule says, in words that give no figure from the data: neither the cell's labels nor
    # its contributions, shares or number of contributors (findings are seen beyond the checkers).
    rules: tuple[tuple[str, pa.Array, str], ...] = (
        (
            "nk_rule",
            nk_fail,
            f"the {profile.safe_nk_n} largest contributions make up more than {k:.0%} of the total "
            "(the (n,k) rule); suppress the cell or combine it with others",
        ),
        (
            "p_ratio",
            p_fail,
            "the contributions other than the two largest add up to less than "
            f"{p:.0%} of the largest, so the largest contributor's value could be estimated (the p% "
            "rule); suppress the cell or combine it with others",
        ),
        (
            "threshold",
            few,
            f"it has fewer contributors than the safe threshold of {threshold}; suppress the cell or "
            "combine it with others",
        ),
    )
    for code, mask, explain in rules:
        hits = pc.indices_nonzero(pc.fill_null(mask, False))
        found.add_counted(code, len(hits), status="fail")
        for i in hits.slice(0, found.room).to_pylist():
            row = int(stats.first_rows[i].as_py())
            found.add_detail(
                code,
                f"The cell of '{column}' that data row {row + 1} contributes to (with every row of the "
                f"same labels): {explain}.",
                {"first_row": row, "column": column},
            )
    if stats.negative:
        found.add(
            "negative_contributions",
            f"Some contributions in '{column}' are negative; the dominance rules used their "
            "magnitudes, so check whether offsetting values hide a dominant contributor.",
            {"column": column},
            status="review",
        )
    return len(stats.contributors)
