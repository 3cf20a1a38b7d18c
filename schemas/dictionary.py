"""The data dictionary (Markdown) rendered from the table declarations and the form; `python -m schemas.dictionary`
writes docs/data-dictionary.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from schemas import form, tables
from schemas.tables import PARTITION_KEYS, Column, Table

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
REGENERATE = "python -m schemas.dictionary (or: make docs)"

# Where a table's objects sit under the lake root, when not the Hive layout every partitioned table shares.
_LOCATIONS = {"failures": "failures/<run_id>.parquet", "state": "_state/processed.parquet",
              "runs": "_runs/run_id=<run_id>.parquet"}
_LOCATION_NOTES = {"failures": " (one object per run; not partitioned)",
                   "state": " (one object, rewritten whole by each commit; not partitioned: year and admin_level are "
                            "columns)",
                   "runs": " (one object per run, holding the columns the run recorded; not partitioned)"}
_PARTITIONED = "{name}/year=YYYY/admin_level=LEVEL/part-0.parquet"


def all_tables() -> list[Table]:
    """Every Table declared in schemas/tables.py, in declaration order (a new declaration is documented at once)."""
    return [v for v in vars(tables).values() if isinstance(v, Table)]


def _cell(text: object) -> str:
    """Text for a Markdown table cell: pipes escaped, no line breaks."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def dtype_name(dtype: pl.DataType | type[pl.DataType]) -> str:
    """Polars dtype as written in the declarations: String, Int32, List(String), Datetime(us, UTC)."""
    dt = dtype() if isinstance(dtype, type) else dtype
    if isinstance(dt, pl.List):
        return f"List({dtype_name(dt.inner)})"
    if isinstance(dt, pl.Datetime):
        return f"Datetime({dt.time_unit}, {dt.time_zone})" if dt.time_zone else f"Datetime({dt.time_unit})"
    return str(dt)


def parquet_type(column: Column, table: Table) -> str:
    """The type inside the Parquet files (Arrow), or where a partition key lives."""
    if column.name in PARTITION_KEYS and is_partitioned(table):
        return "path (partition key)"
    return str(tables._arrow_type(column.dtype))


def grain(table: Table) -> str:
    return ", ".join(table.grain)


def is_partitioned(table: Table) -> bool:
    if table.name in _LOCATIONS:
        return False
    names = {c.name for c in table.columns}
    return all(k in names for k in PARTITION_KEYS)


def location(table: Table) -> str:
    return _LOCATIONS.get(table.name) or (_PARTITIONED.format(name=table.name) if is_partitioned(table)
                                          else f"{table.name}/*.parquet")


def _table_section(table: Table) -> list[str]:
    out = [f"### `{table.name}`", "", _cell(table.description), "",
           f"- grain (one row per): `{grain(table)}`", f"- objects: `{location(table)}`{_LOCATION_NOTES.get(table.name, '')}", "",
           "| column | type | Parquet | nullable | meaning | source in the report |", "|---|---|---|---|---|---|"]
    for c in table.columns:
        out.append(f"| `{c.name}` | {dtype_name(c.dtype)} | {parquet_type(c, table)} | {'yes' if c.nullable else 'no'} | "
                   f"{_cell(c.description)} | {_cell(c.source)} |")
    return [*out, ""]


def _codes_section() -> list[str]:
    out = ["## Codes", "", "The keys stored in `active_disclosure.item/measure`, `applications.row_key` and "
           "`review_litigation.group`, with the labels printed on the national form (`schemas/form.py`).", ""]
    out += ["### Table 2 (active_disclosure): items and measures", "",
            "| format_version | item | printed label | measures |", "|---|---|---|---|"]
    for version in form.FORMAT_VERSIONS:
        for item in form.ACTIVE_DISCLOSURE[version]:
            measures = ", ".join(f"`{m}` {form.MEASURE_LABELS[m]}" for m in item.measures)
            out.append(f"| {version} | `{item.key}` | {_cell(item.label)} | {_cell(measures)} |")
    out += ["", "### Table 3 (applications): rows", "",
            "`row_order` is the row's position in its form version. The 2019 trial form has one `other` row "
            "(六)其他处理 where the 2021 form has three `other_*` rows.", "",
            "| row_key | row_group | printed label | in 2019 form (row_order) | in 2021 form (row_order) |",
            "|---|---|---|---|---|"]
    orders = {v: {r.key: i for i, r in enumerate(form.APPLICATION_ROWS[v], 1)} for v in form.FORMAT_VERSIONS}
    rows = {r.key: r for v in form.FORMAT_VERSIONS for r in form.APPLICATION_ROWS[v]}
    keys = [r.key for r in form.APPLICATION_ROWS["2021"]]
    previous = None
    for r in form.APPLICATION_ROWS["2019"]:  # rows of the 2019 form only go after their predecessor there
        if r.key not in keys:
            keys.insert(keys.index(previous) + 1 if previous else 0, r.key)
        previous = r.key
    for key in keys:
        r = rows[key]
        cols = [f"yes ({orders[v][key]})" if key in orders[v] else "no" for v in form.FORMAT_VERSIONS]
        out.append(f"| `{key}` | {r.group} | {_cell(r.label)} | {cols[0]} | {cols[1]} |")
    out += ["", "Applicant columns: " + ", ".join(
        f"`{k}` {label}" for k, label in zip(form.APPLICANTS, form.APPLICANT_LABELS, strict=True)) + ".", ""]
    out += ["### Table 4 (review_litigation): groups and outcomes", "",
            "| group | printed label |", "|---|---|"]
    out += [f"| `{g}` | {label} |" for g, label in zip(form.REVIEW_GROUPS, form.REVIEW_GROUP_LABELS, strict=True)]
    out += ["", "Outcome columns: " + ", ".join(
        f"`{k}` {label}" for k, label in zip(form.REVIEW_OUTCOMES, form.REVIEW_OUTCOME_LABELS, strict=True)) + ".", "",
            f"Administrative levels (`admin_level`): {', '.join(f'`{lv}`' for lv in form.ADMIN_LEVELS)}. "
            f"Organ kinds (`organ_kind`): {', '.join(f'`{k}`' for k in form.ORGAN_KINDS)}.", ""]
    return out


def _indicators_section() -> list[str]:
    """The indicator views (schemas/indicators.py): computed by DuckDB over the tables (deploy/bi/views.sql)."""
    from schemas import indicators

    out = ["## Indicator views", "", "Views over the tables above, in `deploy/bi/views.sql` (DuckDB) and the BI database "
           "`make bi` builds (the dashboards read them); they hold no data of their own.", ""]
    out += [f"- {_cell(line)}" for line in indicators.SUMMARY] + [""]
    for v in indicators.VIEWS:
        out += [f"### `{v.name}`", "", _cell(v.description), "", f"- grain (one row per): `{v.grain}`", "",
                "| column | type | nullable | meaning | from |", "|---|---|---|---|---|"]
        out += [f"| `{c.name}` | {dtype_name(c.dtype)} | {'yes' if c.nullable else 'no'} | {_cell(c.description)} | "
                f"{_cell(c.source)} |" for c in v.columns]
        out.append("")
    return out


def render() -> str:
    """The whole dictionary as Markdown (deterministic: only the declarations go in)."""
    ts = all_tables()
    out = [
        "# Data dictionary", "",
        f"<!-- Generated from schemas/tables.py and schemas/form.py by `{REGENERATE}`. Do not edit by hand: "
        "tests/test_dictionary.py fails when this file and the declarations differ. -->", "",
        "## Lake layout", "",
        "- Every partitioned table is Hive-partitioned by report year and administrative level: "
        "`dest/<table>/year=YYYY/admin_level=LEVEL/part-0.parquet`, one file per partition (zstd, statistics). "
        "The partition keys `year` and `admin_level` live in the path only, not inside the files: read with "
        "hive partitioning and declare their types (`year` Int32, `admin_level` String) — Polars "
        "`hive_schema=`, DuckDB `hive_types=`, pyarrow `partitioning=`.",
        "- `year` is the report year (the statistics period, never the publish date); `year=0` holds files whose "
        "year cannot be told (non-reports, cut files), so nothing is dropped.",
        "- A partition is replaced as a whole (one object at a fixed name), so readers see the old or the new file.",
        "- Outside the tables: `failures/`, `_state/` and `_runs/` (below), `_staging/`, `_reports/` (the "
        "data-quality report, HTML): glob only table folders, e.g. `dest/applications/*/*/*.parquet`.",
        "- Values stay as printed: a blank is null (not 0), and a rule failure is a finding row, never a fix.",
        "- BI views over these tables: `deploy/bi/` (DuckDB).", "",
        "## Tables", "",
        "| table | one row per | objects | description |", "|---|---|---|---|",
    ]
    out += [f"| [`{t.name}`](#{t.name}) | `{grain(t)}` | `{location(t)}` | {_cell(t.description)} |" for t in ts]
    out.append("")
    for t in ts:
        out += _table_section(t)
    out += _indicators_section()
    out += _codes_section()
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the data dictionary (Markdown) from schemas/.")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help=f"default: {DOC_PATH}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the declarations")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
