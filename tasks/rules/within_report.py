"""The form's accounting rules as Polars expressions over a whole batch: each failure is a finding row."""

from __future__ import annotations

import polars as pl

from schemas import form
from schemas.tables import FINDING_SCHEMA

APPLICANT_COLS = list(form.APPLICANTS)
SIX = APPLICANT_COLS[:6]
FINDING_COLS = list(FINDING_SCHEMA)  # report_id and the finding columns (schemas/tables.py)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDING_SCHEMA)


def applications_row_totals(apps: pl.DataFrame) -> pl.DataFrame:
    """In every row, 总计 = the sum of the six applicant columns (a blank anywhere: cannot be judged)."""
    expected = pl.sum_horizontal(SIX, ignore_nulls=False)
    return (
        apps.filter(expected.is_not_null() & pl.col("total").is_not_null() & (expected != pl.col("total")))
        .select(
            "report_id",
            rule=pl.lit("applications_row_total_mismatch"),
            severity=pl.lit("error"),
            table=pl.lit("applications"),
            row=pl.col("row_key"),
            column=pl.lit("total"),
            field=pl.format("applications.{}[6]", pl.col("row_key")),
            expected=expected.cast(pl.String),
            actual=pl.col("total").cast(pl.String),
            message=pl.format("row {}: total {} ≠ sum of the six applicant columns {}", pl.col("row_key"), pl.col("total"), expected),
        )
    )


def _long(apps: pl.DataFrame) -> pl.DataFrame:
    return apps.select("report_id", "row_key", "row_group", "format_version", *APPLICANT_COLS).unpivot(
        index=["report_id", "row_key", "row_group", "format_version"], on=APPLICANT_COLS, variable_name="column", value_name="value"
    )


def applications_column_rules(apps: pl.DataFrame) -> pl.DataFrame:
    """Per column: 一 + 二 = (七)总计 + 四, and (七)总计 = the sum of all detail rows (一)…(六)."""
    if apps.is_empty():
        return _empty()
    long = _long(apps)
    n_outcome = {v: sum(1 for r in rows if r.group == "outcome") for v, rows in form.APPLICATION_ROWS.items()}

    def row(key: str) -> pl.Expr:
        return pl.col("value").filter(pl.col("row_key") == key).first()

    per_col = long.group_by("report_id", "column", maintain_order=True).agg(
        new_received=row("new_received"),
        carried_over=row("carried_over"),
        total=row("total"),
        carried_forward=row("carried_forward"),
        detail_sum=pl.col("value").filter(pl.col("row_group") == "outcome").sum(),
        detail_nulls=pl.col("value").filter(pl.col("row_group") == "outcome").null_count(),
        detail_rows=(pl.col("row_group") == "outcome").sum(),
        version=pl.col("format_version").first(),
    )
    col_index = pl.col("column").replace_strict({c: str(i) for i, c in enumerate(APPLICANT_COLS)}, return_dtype=pl.String)
    lhs = pl.col("new_received") + pl.col("carried_over")
    rhs = pl.col("total") + pl.col("carried_forward")
    identity = per_col.filter(lhs.is_not_null() & rhs.is_not_null() & (lhs != rhs)).select(
        "report_id",
        rule=pl.lit("applications_column_identity_mismatch"),
        severity=pl.lit("error"),
        table=pl.lit("applications"),
        row=pl.lit("new_received+carried_over"),
        column=pl.col("column"),
        field=pl.format("applications.total[{}]", col_index),
        expected=lhs.cast(pl.String),
        actual=rhs.cast(pl.String),
        message=pl.format("column {}: 一+二 = {} but (七)总计+四 = {}", pl.col("column"), lhs, rhs),
    )
    complete = (pl.col("detail_nulls") == 0) & (
        pl.col("detail_rows") == pl.col("version").replace_strict(n_outcome, return_dtype=pl.UInt32))
    detail = per_col.filter(complete & pl.col("total").is_not_null() & (pl.col("detail_sum") != pl.col("total"))).select(
        "report_id",
        rule=pl.lit("applications_detail_sum_mismatch"),
        severity=pl.lit("error"),
        table=pl.lit("applications"),
        row=pl.lit("total"),
        column=pl.col("column"),
        field=pl.format("applications.total[{}]", col_index),
        expected=pl.col("detail_sum").cast(pl.String),
        actual=pl.col("total").cast(pl.String),
        message=pl.format("column {}: (七)总计 {} ≠ sum of the detail rows {}", pl.col("column"), pl.col("total"), pl.col("detail_sum")),
    )
    return pl.concat([identity, detail])


def review_litigation_totals(rl: pl.DataFrame) -> pl.DataFrame:
    """In each group, 总计 = 维持 + 纠正 + 其他 + 尚未审结."""
    expected = pl.sum_horizontal(["upheld", "corrected", "other", "pending"], ignore_nulls=False)
    group_index = pl.col("group").replace_strict({g: str(i) for i, g in enumerate(form.REVIEW_GROUPS)}, return_dtype=pl.String)
    return rl.filter(expected.is_not_null() & pl.col("total").is_not_null() & (expected != pl.col("total"))).select(
        "report_id",
        rule=pl.lit("review_litigation_total_mismatch"),
        severity=pl.lit("error"),
        table=pl.lit("review_litigation"),
        row=pl.col("group"),
        column=pl.lit("total"),
        field=pl.format("review_litigation[{}]", (group_index.cast(pl.Int32) * 5 + 4).cast(pl.String)),
        expected=expected.cast(pl.String),
        actual=pl.col("total").cast(pl.String),
        message=pl.format("{}: total {} ≠ upheld+corrected+other+pending {}", pl.col("group"), pl.col("total"), expected),
    )


def validate(apps: pl.DataFrame, rl: pl.DataFrame) -> pl.DataFrame:
    """All within-report rules over a batch; returns findings (report_id + the finding columns)."""
    parts = [_empty()]
    if not apps.is_empty():
        parts += [applications_row_totals(apps), applications_column_rules(apps)]
    if not rl.is_empty():
        parts.append(review_litigation_totals(rl))
    return pl.concat([p.select(pl.col(c).cast(dtype) for c, dtype in FINDING_SCHEMA.items()) for p in parts])
