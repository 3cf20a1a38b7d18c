"""Schema evolution: partitions written by an older schema version stay readable by every reader (lake.read_table,
lake.scan_table, Polars, DuckDB, pyarrow) and runs on top of them work; adding a column breaks neither."""

from __future__ import annotations

import io
import random
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import schemas.tables as tables
from flows import pipeline
from schemas.tables import FAILURES, SCHEMA_VERSION, TABLES, Column
from tasks import lake
from tasks.storage import Store
from tasks.synth.corpus import generate_corpus
from tasks.synth.render import random_record, render_bytes
from tests.test_lake import rows  # every column filled from its dtype

# Schema version 1, frozen: a later version may only append nullable columns (and must raise SCHEMA_VERSION).
V1 = {
    "reports": [("report_id", "String"), ("year", "Int32"), ("admin_level", "String"), ("source", "String"),
                ("content_hash", "String"), ("byte_size", "Int64"), ("encoding", "String"), ("format_version", "String"),
                ("layout", "String"), ("title", "String"), ("organ", "String"), ("organ_kind", "String"),
                ("province", "String"), ("prefecture", "String"), ("county", "String"), ("division_code", "String"),
                ("published_date", "Date"), ("index_number", "String"), ("url", "String"), ("parse_status", "String"),
                ("error_count", "Int32"), ("warning_count", "Int32"), ("duplicate_sources", "List(String)"),
                ("parser_version", "String")],
    "active_disclosure": [("report_id", "String"), ("year", "Int32"), ("admin_level", "String"),
                          ("format_version", "String"), ("item", "String"), ("measure", "String"), ("value", "Float64"),
                          ("raw", "String")],
    "applications": [("report_id", "String"), ("year", "Int32"), ("admin_level", "String"), ("format_version", "String"),
                     ("row_key", "String"), ("row_order", "Int16"), ("row_group", "String"), ("natural_person", "Int64"),
                     ("commercial", "Int64"), ("research", "Int64"), ("nonprofit", "Int64"), ("legal_service", "Int64"),
                     ("other", "Int64"), ("total", "Int64")],
    "review_litigation": [("report_id", "String"), ("year", "Int32"), ("admin_level", "String"), ("group", "String"),
                          ("upheld", "Int64"), ("corrected", "Int64"), ("other", "Int64"), ("pending", "Int64"),
                          ("total", "Int64")],
    "findings": [("report_id", "String"), ("year", "Int32"), ("admin_level", "String"), ("source", "String"),
                 ("rule", "String"), ("severity", "String"), ("table", "String"), ("row", "String"), ("column", "String"),
                 ("field", "String"), ("expected", "String"), ("actual", "String"), ("message", "String")],
    "failures": [("source", "String"), ("run_id", "String"), ("stage", "String"), ("error", "String"),
                 ("recorded_at", "Datetime(time_unit='us', time_zone='UTC')")],
}
# Columns an "older" writer did not have in these tests (all nullable, as added columns must be).
DROPPED = {"reports": ["index_number", "url"], "active_disclosure": ["raw"], "findings": ["expected", "actual"]}


def test_tables_only_grow_by_nullable_columns_at_the_end():
    current = {**TABLES, "failures": FAILURES}
    grew = False
    for name, v1 in V1.items():
        cols = current[name].columns
        assert [(c.name, str(c.dtype)) for c in cols[: len(v1)]] == v1, f"{name}: a v1 column was renamed, retyped or moved"
        added = cols[len(v1):]
        assert all(c.nullable for c in added), f"{name}: an added column must be nullable (old files lack it)"
        grew |= bool(added)
    if grew:
        assert SCHEMA_VERSION > 1, "columns were added: raise schemas.tables.SCHEMA_VERSION"
    for table, names in DROPPED.items():
        assert all(next(c for c in TABLES[table].columns if c.name == n).nullable for n in names)


# -- helpers ------------------------------------------------------------------------------------------------------

def write_old_version(store: Store, table: str, year: int, level: str, frame: pl.DataFrame,
                      drop: list[str], version: int | None = 0, extra: dict[str, str] | None = None) -> None:
    """A partition as an older (or newer) writer left it: without `drop` columns (or with `extra` ones), stamped
    with `version` (None: no stamp at all, as before versions were recorded)."""
    t = TABLES[table]
    data = frame.drop([*drop, "year", "admin_level"])
    for name, value in (extra or {}).items():
        data = data.with_columns(pl.lit(value).alias(name))
    arrow = data.to_arrow()
    fields = [pa.field(f.name, pa.string() if f.type in (pa.large_string(), pa.string_view()) else f.type)
              for f in arrow.schema]
    meta = {"table": t.name} | ({"govreports_schema_version": str(version)} if version is not None else {})
    arrow = arrow.cast(pa.schema(fields, metadata=meta))
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    store.put_bytes(lake.partition_key(t, year, level), buf.getvalue())


def mixed_lake(store: Store) -> pl.DataFrame:
    """reports in three partitions: current version, an old one lacking two columns, and a newer one with a column
    this code does not know. Returns what a reader of the current version must see."""
    current = rows("reports", ["a", "b"], 2023, "county")
    old = rows("reports", ["c"], 2024, "county")
    newer = rows("reports", ["d"], 2024, "central")
    lake.write_partition(store, "reports", 2023, "county", current)
    write_old_version(store, "reports", 2024, "county", old, DROPPED["reports"], version=0)
    write_old_version(store, "reports", 2024, "central", newer, [], version=SCHEMA_VERSION + 1,
                      extra={"column_from_the_future": "x"})
    expected = pl.concat([current, old.with_columns([pl.lit(None, pl.String).alias(c) for c in DROPPED["reports"]]),
                          newer])
    return expected.sort("report_id")


# -- readers of a mixed lake --------------------------------------------------------------------------------------

def test_files_carry_the_schema_version(store):
    lake.write_partition(store, "reports", 2023, "county", rows("reports", ["a"], 2023, "county"))
    meta = pq.read_schema(io.BytesIO(store.get_bytes(lake.partition_key("reports", 2023, "county")))).metadata
    assert meta[b"govreports_schema_version"] == str(SCHEMA_VERSION).encode() and meta[b"table"] == b"reports"
    assert lake.partition_schema_versions(store, "reports") == {(2023, "county"): SCHEMA_VERSION}
    assert lake.outdated_partitions(store, "reports") == []


def test_old_and_newer_partitions_are_read_by_every_reader(store):
    expected = mixed_lake(store)
    assert lake.partition_schema_versions(store, "reports") == {
        (2023, "county"): SCHEMA_VERSION, (2024, "county"): 0, (2024, "central"): SCHEMA_VERSION + 1}
    assert lake.outdated_partitions(store, "reports") == [(2024, "county")]

    # the project's readers
    assert_frame_equal(lake.read_table(store, "reports").sort("report_id"), expected)
    assert_frame_equal(lake.scan_table(store, "reports").collect().sort("report_id"), expected)
    assert_frame_equal(lake.read_table(store, "reports", years=[2024], levels=["county"]),
                       expected.filter(pl.col("report_id") == "c"))

    # Polars, as a BI tool would call it: the declared schema, missing columns inserted, unknown ones ignored
    file_schema = {c.name: c.dtype for c in TABLES["reports"].file_columns}
    got = pl.scan_parquet(store.uri("reports/**/*.parquet"), hive_partitioning=True, hive_schema=lake.HIVE_SCHEMA,
                          schema=file_schema, missing_columns="insert", extra_columns="ignore",
                          storage_options=store.polars_storage_options()).collect()
    assert_frame_equal(got.select(expected.columns).sort("report_id"), expected)

    # DuckDB: union_by_name = true
    con = duckdb.connect()
    store.duckdb_attach(con)
    got = con.sql("SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true, "
                  "hive_types = {'year': INTEGER, 'admin_level': VARCHAR})",
                  params=[store.uri("reports/**/*.parquet")]).pl()
    assert "column_from_the_future" in got.columns  # DuckDB shows it; our readers drop it
    assert_frame_equal(got.select(expected.columns).sort("report_id"), expected, check_dtypes=False)

    # pyarrow: the current schema given, the partitioning declared
    schema = TABLES["reports"].arrow_schema
    partitioning = ds.partitioning(pa.schema([("year", pa.int32()), ("admin_level", pa.string())]), flavor="hive")
    dataset = ds.dataset(store.fs_path("reports"), filesystem=store.fs, format="parquet", partitioning=partitioning,
                         schema=pa.schema([*schema, pa.field("year", pa.int32()), pa.field("admin_level", pa.string())]))
    got = pl.from_arrow(dataset.to_table())
    assert_frame_equal(got.select(expected.columns).sort("report_id"), expected)


def test_a_commit_over_an_old_partition_rewrites_it_at_the_current_version(store):
    expected = mixed_lake(store)
    new = rows("reports", ["e"], 2024, "county")
    lake.replace_reports(store, "reports", new, drop_report_ids=[], partitions=[(2024, "county")])
    assert lake.partition_schema_versions(store, "reports")[(2024, "county")] == SCHEMA_VERSION
    got = lake.read_table(store, "reports", years=[2024], levels=["county"]).sort("report_id")
    want = pl.concat([expected.filter(pl.col("report_id") == "c"), new])  # c keeps its nulls, e has everything
    assert_frame_equal(got, want)
    # failures and state written by an older version are read too
    buf = io.BytesIO()
    pl.DataFrame({"source": ["k"], "run_id": ["r0"], "stage": ["read"], "error": ["e"],
                  "recorded_at": [datetime(2024, 1, 1, tzinfo=UTC)]}).write_parquet(buf)
    store.put_bytes("failures/r0.parquet", buf.getvalue())
    assert lake.read_failures(store).height == 1
    buf = io.BytesIO()
    pl.DataFrame(schema=lake.STATE_SCHEMA).drop("sidecar_etag").write_parquet(buf)  # before sidecars were tracked
    store.put_bytes(lake.STATE_KEY, buf.getvalue())
    assert lake.read_state(store).schema == lake.STATE_SCHEMA


def test_adding_a_column_keeps_existing_partitions_and_readers_working(store, monkeypatch):
    lake.write_partition(store, "reports", 2023, "county", rows("reports", ["a", "b"], 2023, "county"))
    lake.write_partition(store, "reports", 2024, "county", rows("reports", ["c"], 2024, "county"))
    # the next version appends a nullable column
    v2 = replace(TABLES["reports"], columns=(*TABLES["reports"].columns,
                                             Column("page_count", pl.Int32, True, "Pages of the PDF.", "PDF")))
    monkeypatch.setitem(TABLES, "reports", v2)
    monkeypatch.setattr(tables, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    old = lake.read_table(store, "reports")
    assert old.columns[-1] == "page_count" and old.get_column("page_count").null_count() == old.height == 3
    assert_frame_equal(lake.scan_table(store, "reports").collect().sort("report_id"), old.sort("report_id"))
    assert lake.outdated_partitions(store, "reports") == [(2023, "county"), (2024, "county")]
    # a run adds a report with the new column to one partition: that partition is now v2, the other stays v1
    new = rows("reports", ["d"], 2024, "county").with_columns(page_count=pl.lit(12, pl.Int32))
    lake.replace_reports(store, "reports", new, drop_report_ids=[], partitions=[])
    assert lake.partition_schema_versions(store, "reports") == {(2023, "county"): SCHEMA_VERSION,
                                                                (2024, "county"): SCHEMA_VERSION + 1}
    both = lake.read_table(store, "reports").sort("report_id")
    assert both.get_column("page_count").to_list() == [None, None, None, 12]
    assert_frame_equal(lake.scan_table(store, "reports").collect().sort("report_id"), both)
    con = duckdb.connect()
    store.duckdb_attach(con)
    n, pages = con.execute("SELECT count(*), sum(page_count) FROM read_parquet(?, hive_partitioning = true, "
                           "union_by_name = true)", [store.uri("reports/**/*.parquet")]).fetchone()
    assert (n, pages) == (4, 12)


# -- a run on top of an old lake ----------------------------------------------------------------------------------

def _downgrade(dest: Path) -> None:
    """Rewrite every partition of the tables in DROPPED as an older writer would have left it (the state stays:
    an older state is read too, see above, but one without sidecar etags would reprocess every report with one)."""
    store = Store(str(dest))
    for table, drop in DROPPED.items():
        for year, level in lake.list_partitions(store, table):
            frame = lake.read_partition(store, table, year, level)
            write_old_version(store, table, year, level, frame, drop, version=None)


def _snapshot(dest: Path) -> dict[str, pl.DataFrame]:
    store = Store(str(dest))
    return {name: lake.read_table(store, name).sort(lake.grain(name), nulls_last=True) for name in TABLES}


@pytest.mark.slow
def test_a_run_on_top_of_an_old_lake_works_and_a_backfill_upgrades_it(prefect_api, tmp_path):
    src = tmp_path / "src"
    generate_corpus(Store(str(src)), 36, seed=31, years=(2022, 2023), sidecar_share=0.6, duplicate_share=0.0,
                    broken_share=0.0)
    dest = tmp_path / "lake"
    pipeline.nightly(pipeline.RunSettings(source=str(src), dest=str(dest), runner="threads", batch_files=12, workers=2))
    _downgrade(dest)
    assert lake.outdated_partitions(Store(str(dest)), "reports")

    # new reports arrive: the run touches some partitions and must leave the others readable as they are
    rng = random.Random(3)
    for i, (year, organ, level) in enumerate([(2023, "淮安市人民政府", "prefectural"), (2022, "北京市人民政府", "provincial")]):
        rec = random_record(rng, year=year, organ=organ, admin_level=level)
        (src / "reports" / "new").mkdir(parents=True, exist_ok=True)
        (src / "reports" / "new" / f"{i}.txt").write_bytes(render_bytes(rec, "pipe", rng=i))
    s = pipeline.nightly(pipeline.RunSettings(source=str(src), dest=str(dest), runner="threads", batch_files=12, workers=2))
    assert s["status"] == "completed" and s["parsed"] == 2
    clean = tmp_path / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    pipeline.nightly(pipeline.RunSettings(source=str(src), dest=str(clean), runner="threads", batch_files=12, workers=2))

    store = Store(str(dest))
    got, want = _snapshot(dest), _snapshot(clean)
    versions = lake.partition_schema_versions(store, "reports")  # the run rewrote the new reports' partitions only
    assert sorted(p for p, v in versions.items() if v == SCHEMA_VERSION) == [(2022, "provincial"), (2023, "prefectural")]
    assert any(v is None for v in versions.values())
    # rows carried over from old files have nulls where the old writer had no column; the new reports are whole
    new_ids = want["reports"].filter(pl.col("source").str.starts_with("reports/new/")).get_column("report_id")
    for table, drop in DROPPED.items():
        carried = ~pl.col("report_id").is_in(new_ids.to_list())
        want[table] = want[table].with_columns([pl.when(carried).then(None).otherwise(pl.col(c)).alias(c) for c in drop])
    for name in TABLES:
        assert_frame_equal(got[name], want[name], check_row_order=True)

    # a backfill of every year rewrites every partition at the current version: the lake is the clean lake
    pipeline.backfill([2022, 2023], pipeline.RunSettings(source=str(src), dest=str(dest), runner="threads", batch_files=12, workers=2))
    for table in DROPPED:
        assert lake.outdated_partitions(store, table) == []
    got, want = _snapshot(dest), _snapshot(clean)
    for name in TABLES:
        assert_frame_equal(got[name], want[name], check_row_order=True)
