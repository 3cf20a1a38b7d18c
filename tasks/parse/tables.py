"""Reading a table: its value cells by row (rows found by their label patterns in form order), the checks every value
passes (not a number, negative, implausible, fused digits split more than one way), and table 2 (主动公开)."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from schemas import form
from tasks.parse.cells import (
    Cell,
    Fit,
    combine,
    fit_cells,
    fused_cells,
    line_cells,
    match_rows,
    to_runs,
)
from tasks.parse.extracted import Extracted, finding

_IS_PAD = attrgetter("pad")


def cells_for(region: str, flattened: bool) -> list[Cell]:
    return fused_cells(region) if flattened else line_cells(region)


def find_rows(region: str, flattened: bool, patterns: list[str]) -> dict[int, list[Cell]]:
    """A table region's value cells by row index, rows found by their label patterns in form order."""
    return match_rows(to_runs(cells_for(region, flattened)), combine(patterns), _IS_PAD)


def _value_of(c: Cell) -> int | float | None:
    return c.value if c.kind == "number" else None


# Table 2 (主动公开)

def extract_active_disclosure(region: str | None, version: str, flattened: bool, out: Extracted) -> dict | None:
    items = form.ACTIVE_DISCLOSURE[version]
    if region is None:
        out.findings.append(finding("active_disclosure_incomplete", "table 2 (主动公开) not found", table="active_disclosure"))
        return None
    found = find_rows(region, flattened, [it.pattern for it in items])
    if not found:  # a heading with no table under it (the table is an image, or was cut away)
        out.findings.append(finding("active_disclosure_incomplete", "table 2 (主动公开) has no rows", table="active_disclosure"))
        return None
    table: dict[str, dict[str, Any]] = {}
    missing = []
    for i, item in enumerate(items):
        n = len(item.measures)
        fit = fit_cells(found.get(i, []), n) if i in found else Fit(None, problem="incomplete")
        table[item.key] = _cells_to_dict(fit, item.key, item.measures, "active_disclosure", out, integer=False)
        if fit.cells is None and fit.problem == "incomplete":
            missing.append(item.key)
    if missing:
        out.findings.append(finding(
            "active_disclosure_incomplete", f"table 2 rows missing or short: {', '.join(missing)}",
            table="active_disclosure", row=",".join(missing), expected=sum(len(it.measures) for it in items)))
    return table


def _cells_to_dict(fit: Fit, key: str, measures: tuple[str, ...], table: str, out: Extracted, *, integer: bool) -> dict:
    if fit.cells is not None:
        vals = {}
        for m, c in zip(measures, fit.cells, strict=True):
            vals[m] = checked(c, table, key, m, f"{table}.{key}.{m}", out, allow_negative=(m == "change"))
        if fit.problem == "extra_cells":
            out.findings.append(finding(f"{table}_extra_cells", f"row {key} has more cells than the form; the first {len(measures)} kept",
                                        severity="warning", table=table, row=key))
        return vals
    if fit.candidates:
        return {m: agreed(fit.candidates, j, table, key, m, f"{table}.{key}.{m}", out) for j, m in enumerate(measures)}
    if fit.problem in ("ambiguous", "unsplittable"):
        for m in measures:
            out.findings.append(ambiguous(table, key, m, f"{table}.{key}.{m}", "fused digits cannot be split back into cells"))
    return dict.fromkeys(measures)


def agreed(cands: list[tuple[int, ...]], j: int, table: str, row: str, col: str, path: str, out: Extracted) -> int | None:
    values = {c[j] for c in cands}
    if len(values) == 1:
        v = next(iter(values))
        if abs(v) > INT64_MAX:
            out.findings.append(finding(f"{table}_implausible_value", f"{path}: {v} is too large to store; kept null",
                                        severity="warning", table=table, row=row, column=col, field_=path, actual=v))
            return None
        return v
    out.findings.append(ambiguous(table, row, col, path, f"{len(cands)} splits of the fused digits fit; candidates for this cell: "
                                   + ", ".join(str(v) for v in sorted(values)[:6])))
    return None


def ambiguous(table: str, row: str, col: str | None, path: str, why: str) -> dict:
    return finding("ambiguous_value", f"{path}: {why}", table=table, row=row, column=col, field_=path)


INT64_MAX = 2**63 - 1


def checked(c: Cell, table: str, row: str, col: str, path: str, out: Extracted, *, allow_negative: bool = False,
             integer: bool = False):
    if c.kind == "non_numeric":
        out.findings.append(finding(f"{table}_non_numeric_value", f"{path}: cell {c.text!r} is not a number; kept null",
                                    severity="warning", table=table, row=row, column=col, field_=path, actual=c.text))
        return None
    v = _value_of(c)
    if v is None:
        return None
    if integer and isinstance(v, float):
        if not v.is_integer():
            out.findings.append(finding(f"{table}_non_numeric_value", f"{path}: {c.text!r} is not a whole count; kept null",
                                        severity="warning", table=table, row=row, column=col, field_=path, actual=c.text))
            return None
        v = int(v)
    if v < 0 and not allow_negative:
        out.findings.append(finding(f"{table}_negative_value", f"{path}: a count cannot be negative ({v})",
                                    table=table, row=row, column=col, field_=path, expected=">= 0", actual=v))
    if abs(v) >= 1_000_000_000:
        storable = not integer or abs(v) <= INT64_MAX
        out.findings.append(finding(f"{table}_implausible_value", f"{path}: {v} is beyond any plausible count"
                                    + ("" if storable else "; too large to store, kept null"),
                                    severity="warning", table=table, row=row, column=col, field_=path, actual=v))
        if not storable:
            return None
    return v
