"""DuckDB views over the lake for BI (generated from schemas/), and a connection helper for a local folder or S3."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from schemas import form, indicators
from schemas.tables import CROSS_YEAR_FINDINGS, EXPECTED_PUBLISHERS, FAILURES, PARTITION_KEYS, TABLES, Table

REPO = Path(__file__).resolve().parents[2]
BI_DIR = REPO / "deploy" / "bi"
VIEWS_PATH = BI_DIR / "views.sql"
QUERIES_DIR = BI_DIR / "queries"
LAKE_VARIABLE = "lake"  # views.sql reads the lake root from DuckDB's `SET VARIABLE lake = '…'`

PARTITIONED_TABLES: tuple[Table, ...] = (*TABLES.values(), CROSS_YEAR_FINDINGS)
HIVE_TYPES = "{'year': 'INTEGER', 'admin_level': 'VARCHAR'}"  # declared, or DuckDB reads year as BIGINT

# Table 3 rows grouped as an analyst reads them: each outcome row belongs to a category; the numbered sub-rows
# of (三) 不予公开, (四) 无法提供, (五) 不予处理 and (六) 其他处理 carry a reason (the key after the prefix).
OUTCOME_CATEGORIES = ("new_received", "carried_over", "granted", "partially_granted", "denied", "unavailable",
                      "not_processed", "other", "total", "carried_forward")
_CATEGORY_PREFIXES = ("denied_", "unavailable_", "not_processed_", "other_")


def outcome_category(row_key: str) -> tuple[str, str | None]:
    """(category, reason) of a table-3 row key: denied_state_secret → (denied, state_secret); granted → (granted, None)."""
    for prefix in _CATEGORY_PREFIXES:
        if row_key.startswith(prefix):
            return prefix[:-1], row_key[len(prefix):]
    return row_key, None


def duckdb_type(dtype: Any) -> str:
    """The DuckDB type of a declared Polars dtype."""
    dt = dtype() if isinstance(dtype, type) else dtype
    if isinstance(dt, pl.List):
        return duckdb_type(dt.inner) + "[]"
    if isinstance(dt, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dt.time_zone else "TIMESTAMP"
    names = {pl.String: "VARCHAR", pl.Int16: "SMALLINT", pl.Int32: "INTEGER", pl.Int64: "BIGINT",
             pl.Float64: "DOUBLE", pl.Date: "DATE", pl.Boolean: "BOOLEAN"}
    for polars_type, name in names.items():
        if dt == polars_type:
            return name
    raise TypeError(f"no DuckDB type for {dt}")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _columns(table: Table) -> str:
    return ",\n    ".join(_ident(c.name) for c in table.columns)


def table_glob(table: Table) -> str:
    """The table's objects relative to the lake root (failures and expected_publishers are not partitioned)."""
    if not all(k in {c.name for c in table.columns} for k in PARTITION_KEYS):
        return f"{table.name}/*.parquet"
    return f"{table.name}/*/*/*.parquet"


def _read(table: Table, root_sql: str) -> str:
    path = f"{root_sql} || '/{table_glob(table)}'"
    if all(k in {c.name for c in table.columns} for k in PARTITION_KEYS):
        return f"read_parquet({path}, allow_empty = true, hive_partitioning = true, hive_types = {HIVE_TYPES})"
    return f"read_parquet({path}, allow_empty = true)"


def table_view(table: Table, root_sql: str) -> str:
    """CREATE VIEW over the table's Parquet objects, columns in declared order and typed as declared. The typed
    empty SELECT unioned by name keeps the view valid while a table has no object yet (a healthy lake has no
    failures; cross-year findings need consecutive years): read_parquet's allow_empty alone gives a column
    `empty`, which the outer SELECT drops. Filters still reach the Parquet scan (partition pruning)."""
    typed = ",\n        ".join(f"CAST(NULL AS {duckdb_type(c.dtype)}) AS {_ident(c.name)}" for c in table.columns)
    return (f"CREATE OR REPLACE VIEW {_ident(table.name)} AS\nSELECT\n    {_columns(table)}\nFROM (\n"
            f"    SELECT\n        {typed}\n    WHERE false\n    UNION ALL BY NAME\n"
            f"    SELECT * FROM {_read(table, root_sql)}\n);")


def _values_view(name: str, columns: Iterable[str], rows: Iterable[tuple[object, ...]], comment: str) -> str:
    body = ",\n    ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    cols = ", ".join(_ident(c) for c in columns)
    return f"-- {comment}\nCREATE OR REPLACE VIEW {_ident(name)} AS\nSELECT * FROM (VALUES\n    {body}\n) AS t({cols});"


def dimension_views() -> list[str]:
    """Small lookup views from schemas/form.py: labels, categories and sort orders."""
    app_rows = []
    for version in form.FORMAT_VERSIONS:
        for order, r in enumerate(form.APPLICATION_ROWS[version], 1):
            category, reason = outcome_category(r.key)
            app_rows.append((version, r.key, order, r.group, category, OUTCOME_CATEGORIES.index(category) + 1,
                             reason, r.label))
    measures = []
    for version in form.FORMAT_VERSIONS:
        for i, item in enumerate(form.ACTIVE_DISCLOSURE[version], 1):
            for j, m in enumerate(item.measures, 1):
                measures.append((version, item.key, i, item.label, m, j, form.MEASURE_LABELS[m]))
    return [
        _values_view("application_rows", ("format_version", "row_key", "row_order", "row_group", "category",
                                          "category_order", "reason", "label"), app_rows,
                     "Table 3 rows: join on (format_version, row_key). category: granted, partially_granted, denied, "
                     "unavailable, not_processed, other (outcomes) or the row itself; reason: the numbered sub-row."),
        _values_view("disclosure_measures", ("format_version", "item", "item_order", "item_label", "measure",
                                             "measure_order", "measure_label"), measures,
                     "Table 2 items and measures with their printed labels: join on (format_version, item, measure)."),
        _values_view("review_groups", ("group", "group_order", "label"),
                     [(g, i, label) for i, (g, label) in enumerate(zip(form.REVIEW_GROUPS, form.REVIEW_GROUP_LABELS,
                                                                          strict=True), 1)],
                     "Table 4 groups in printed order."),
        _values_view("admin_levels", ("admin_level", "level_order"),
                     [(lv, i) for i, lv in enumerate(form.ADMIN_LEVELS, 1)], "Administrative levels, top down."),
    ]


def all_tables() -> tuple[Table, ...]:
    return (*PARTITIONED_TABLES, FAILURES, EXPECTED_PUBLISHERS)


def indicator_views() -> list[str]:
    """The indicator views of schemas/indicators.py, in dependency order, each with its description."""
    out = []
    for v in indicators.VIEWS:
        comment = "\n".join("-- " + line for line in _wrap(f"{v.name}: {v.description}"))
        out.append(f"{comment}\nCREATE OR REPLACE VIEW {_ident(v.name)} AS\n{v.sql};")
    return out


def _wrap(text: str, width: int = 116) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def views_sql() -> str:
    """deploy/bi/views.sql: every view, reading the lake root from the DuckDB variable `lake`."""
    root = f"getvariable('{LAKE_VARIABLE}')"
    head = [
        "-- DuckDB views over the govreports lake: one view per table, plus lookup views from the national form.",
        "-- Generated from schemas/ by `python -m tasks.report.bi --write-views` (make docs); do not edit by hand.",
        "--",
        "-- DuckDB CLI (the lake root is read when a view is queried, so set it in every session):",
        f"--   SET VARIABLE {LAKE_VARIABLE} = '/srv/govreports/lake';      -- a local folder, no trailing slash",
        f"--   SET VARIABLE {LAKE_VARIABLE} = 's3://bucket/lake';          -- S3: LOAD httpfs; CREATE SECRET (TYPE s3, …) first",
        "--   .read deploy/bi/views.sql",
        "--   .read deploy/bi/queries/requests_by_year_level.sql",
        "-- A table with no object yet (no failures, say) reads as empty. tasks/report/bi.py `connect` creates the same views",
        "-- with a literal root instead of the variable (for a database file Superset opens).",
        "",
    ]
    body = [table_view(t, root) for t in all_tables()] + dimension_views() + indicator_views()
    return "\n".join(head) + "\n" + "\n\n".join(body) + "\n"


# -- the expected publishers --------------------------------------------------------------------------------------

EXPECTED_PUBLISHERS_KEY = "expected_publishers/part-0.parquet"


def expected_publishers_frame() -> pl.DataFrame:
    """EXPECTED_PUBLISHERS from the division table (tasks/parse/divisions.py `governments`), its vintage on every row."""
    from tasks.parse.divisions import DIVISION_TABLE_VINTAGE, governments

    rows = [{"division_code": d.division_code, "level": d.admin_level, "name": name, "government": organ,
             "province": d.province, "prefecture": d.prefecture, "valid_from": None, "valid_to": None,
             "vintage": DIVISION_TABLE_VINTAGE} for d, name, organ in governments()]
    return pl.DataFrame(rows, schema=EXPECTED_PUBLISHERS.polars_schema)


def write_expected_publishers(store: Any) -> str:
    """(Re)write dest/expected_publishers/part-0.parquet (one object, replaced whole; ~3,200 rows, ~40 KB)."""
    from tasks.lake import _table_bytes

    store.put_bytes(EXPECTED_PUBLISHERS_KEY, _table_bytes(expected_publishers_frame(), EXPECTED_PUBLISHERS))
    return EXPECTED_PUBLISHERS_KEY


# -- connecting ------------------------------------------------------------------------------------------------

def create_views(con: Any, store: Any) -> None:
    """Create every view on `con` with the store's literal root (local path or s3://bucket/prefix)."""
    root = _literal(store.uri())
    for table in all_tables():
        con.execute(table_view(table, root))
    for stmt in dimension_views() + indicator_views():
        con.execute(stmt)


def connect(lake: Any, database: str = ":memory:") -> Any:
    """A DuckDB connection with the views over `lake` (a folder, s3://bucket/prefix or a Store). S3 goes through
    httpfs when that extension is installed, else through the store's s3fs filesystem (fsspec), which needs no
    download. `database` may be a file: the views persist there with literal paths (Superset, DuckDB CLI)."""
    import duckdb

    from tasks.storage import Store

    store = lake if isinstance(lake, Store) else Store(lake)
    con = duckdb.connect(database)
    store.duckdb_attach(con)
    create_views(con, store)
    return con


def query_names(queries_dir: Path = QUERIES_DIR) -> list[str]:
    return sorted(p.stem for p in queries_dir.glob("*.sql"))


def query_text(name: str, queries_dir: Path = QUERIES_DIR) -> str:
    path = Path(name) if name.endswith(".sql") else queries_dir / f"{name}.sql"
    return path.read_text(encoding="utf-8")


def run_query(con: Any, name: str, queries_dir: Path = QUERIES_DIR) -> pl.DataFrame:
    """Run deploy/bi/queries/<name>.sql (or a path) on a connection from `connect`; the result as a Polars frame."""
    return con.sql(query_text(name, queries_dir)).pl()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DuckDB views over the govreports lake.")
    parser.add_argument("--write-views", action="store_true", help="(re)write deploy/bi/views.sql from schemas/")
    parser.add_argument("--lake", help="lake root: a folder or s3://bucket/prefix")
    parser.add_argument("--database", default=":memory:", help="a DuckDB file to keep the views in (default: memory)")
    parser.add_argument("--expected-publishers", action="store_true",
                        help="(re)write the lake's expected_publishers table from the division table (needs --lake)")
    parser.add_argument("queries", nargs="*", help=f"query names ({', '.join(query_names())}) or .sql paths")
    args = parser.parse_args(argv)
    if args.write_views:
        VIEWS_PATH.parent.mkdir(parents=True, exist_ok=True)
        VIEWS_PATH.write_text(views_sql(), encoding="utf-8")
        print(f"wrote {VIEWS_PATH}")
    if args.expected_publishers:
        if not args.lake:
            parser.error("--expected-publishers needs --lake")
        from tasks.storage import Store

        print(f"wrote {Store(args.lake).uri(write_expected_publishers(Store(args.lake)))}")
    if args.lake:
        con = connect(args.lake, args.database)
        with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=60):
            for name in args.queries:
                print(f"-- {name}")
                print(run_query(con, name))
        con.close()
    elif args.queries:
        parser.error("--lake is needed to run queries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
