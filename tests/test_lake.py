"""The lake: exact partition paths, whole-partition replacement, idempotent commits, readers, staging, lease."""

from __future__ import annotations

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from schemas.tables import APPLICATIONS, FAILURES, FINDINGS, TABLES, conform
from tasks import lake
from tasks.storage import Store

PART = "reports/year=2024/admin_level=county/part-0.parquet"


def rows(table: str, report_ids: list[str], year: int = 2024, level: str = "county", per_report: int = 1,
         tag: str = "v1") -> pl.DataFrame:
    """Rows for any table: every declared column filled from its dtype; `tag` changes the text values."""
    t = TABLES[table]
    out = []
    for rid in report_ids:
        for i in range(per_report):
            row = {}
            for c in t.columns:
                dt = c.dtype
                if c.name == "report_id":
                    row[c.name] = rid
                elif c.name == "year":
                    row[c.name] = year
                elif c.name == "admin_level":
                    row[c.name] = level
                elif dt == pl.String:
                    row[c.name] = f"{c.name}-{i}-{tag}"
                elif dt in (pl.Int16, pl.Int32, pl.Int64):
                    row[c.name] = i
                elif dt == pl.Float64:
                    row[c.name] = i + 0.5
                elif dt == pl.Date:
                    row[c.name] = date(2025, 1, 15)
                elif isinstance(dt, pl.List):
                    row[c.name] = [f"dup-{rid}"]
                else:  # pragma: no cover
                    raise AssertionError(dt)
            out.append(row)
    return pl.DataFrame(out, schema=t.polars_schema)


def keys(store: Store, prefix: str = "") -> list[str]:
    return store.list_objects(prefix).get_column("key").to_list()


# -- partitions --------------------------------------------------------------------------------------------------

def test_write_partition_exact_path_and_file(store):
    frame = rows("reports", ["r2", "r1", "r3"])
    assert lake.write_partition(store, "reports", 2024, "county", frame) == PART
    assert keys(store) == [PART]
    meta = pq.ParquetFile(io.BytesIO(store.get_bytes(PART)))
    assert meta.schema_arrow.names == TABLES["reports"].arrow_schema.names  # partition keys only in the path
    assert "year" not in meta.schema_arrow.names and "admin_level" not in meta.schema_arrow.names
    col = meta.metadata.row_group(0).column(0)
    assert col.compression == "ZSTD" and col.statistics is not None and col.statistics.has_min_max
    assert meta.schema_arrow.field("source").type == pa.string()
    back = lake.read_partition(store, "reports", 2024, "county")
    assert back.schema == TABLES["reports"].polars_schema
    assert back.get_column("report_id").to_list() == ["r1", "r2", "r3"]  # sorted deterministically
    assert_frame_equal(back, frame.sort("report_id"))


def test_rewrite_replaces_the_partition_whole(store):
    lake.write_partition(store, "reports", 2024, "county", rows("reports", ["a", "b"]))
    store.put_bytes("reports/year=2024/admin_level=county/part-1.parquet", store.get_bytes(PART))  # a stray file
    store.put_bytes("reports/year=2024/admin_level=county/notes.txt", b"junk")
    lake.write_partition(store, "reports", 2024, "county", rows("reports", ["b", "c"], tag="v2"))
    assert keys(store) == [PART]
    back = lake.read_table(store, "reports")
    assert back.get_column("report_id").to_list() == ["b", "c"]
    assert set(back.get_column("title").to_list()) == {"title-0-v2"}


def test_write_partition_checks_and_fills_partition_columns(store):
    with pytest.raises(ValueError, match="year other than 2023"):
        lake.write_partition(store, "reports", 2023, "county", rows("reports", ["a"], year=2024))
    with pytest.raises(ValueError):
        lake.write_partition(store, "reports", 2024, "../county", rows("reports", ["a"]))
    lake.write_partition(store, "reports", 2022, "central", rows("reports", ["x"]).drop("year", "admin_level"))
    assert lake.list_partitions(store, "reports") == [(2022, "central")]


def test_empty_frame_removes_the_partition(store):
    lake.write_partition(store, "reports", 2024, "county", rows("reports", ["a"]))
    lake.write_partition(store, "reports", 2023, "county", rows("reports", ["b"], year=2023))
    assert lake.write_partition(store, "reports", 2024, "county", lake.empty_frame("reports")) is None
    assert keys(store, "reports/") == ["reports/year=2023/admin_level=county/part-0.parquet"]
    assert lake.list_partitions(store, "reports") == [(2023, "county")]
    assert lake.read_partition(store, "reports", 2024, "county").is_empty()


def test_replace_reports_is_idempotent(store):
    lake.write_partition(store, "applications", 2024, "county", rows("applications", ["A", "B"], per_report=3))
    lake.write_partition(store, "applications", 2023, "province",
                         rows("applications", ["C"], year=2023, level="province", per_report=3))
    new = pl.concat([
        rows("applications", ["B"], per_report=2, tag="v2"),   # B reparsed, same partition
        rows("applications", ["D"], year=2023, level="province", per_report=1, tag="v2"),  # a new report
    ])

    def commit() -> int:
        return lake.replace_reports(store, "applications", new, drop_report_ids={"A"},
                                    partitions=[(2024, "county"), (2023, "province")])

    assert commit() == 2 + 3 + 1
    first = {k: store.get_bytes(k) for k in keys(store)}
    assert commit() == 6
    assert {k: store.get_bytes(k) for k in keys(store)} == first  # byte for byte
    table = lake.read_table(store, "applications")
    counts = dict(table.group_by("report_id").len().iter_rows())
    assert counts == {"B": 2, "C": 3, "D": 1}
    assert table.filter(pl.col("report_id") == "B").get_column("format_version").str.ends_with("-v2").all()


def test_replace_reports_moves_a_report_and_applies_fixup(store):
    lake.write_partition(store, "reports", 2024, "county", rows("reports", ["A", "B"]))
    moved = rows("reports", ["B"], year=2023, level="prefectural", tag="v2")
    n = lake.replace_reports(store, "reports", moved, drop_report_ids=[], partitions=[(2024, "county")],
                             fixup=lambda f: f.with_columns(organ=pl.lit("fixed")))
    assert n == 2
    table = lake.read_table(store, "reports")
    assert sorted(table.select("report_id", "year", "admin_level").iter_rows()) == [
        ("A", 2024, "county"), ("B", 2023, "prefectural")]
    # the fixup is applied to the rows kept from the lake (A); the new rows (B) are written as given
    organs = dict(table.select("report_id", "organ").iter_rows())
    assert organs["A"] == "fixed" and organs["B"] == moved.get_column("organ")[0] != "fixed"
    # dropping the last report of a partition removes the partition
    lake.replace_reports(store, "reports", lake.empty_frame("reports"), drop_report_ids=["A"],
                         partitions=[(2024, "county")])
    assert lake.list_partitions(store, "reports") == [(2023, "prefectural")]


def test_read_table_prunes_and_types(store):
    for y, lv, ids in [(2023, "county", ["a"]), (2024, "county", ["b"]), (2024, "central", ["c", "d"])]:
        lake.write_partition(store, "findings", y, lv, rows("findings", ids, year=y, level=lv))
    assert lake.list_partitions(store, "findings") == [(2023, "county"), (2024, "central"), (2024, "county")]
    assert lake.read_table(store, "findings").height == 4
    assert lake.read_table(store, "findings", years=[2024]).height == 3
    assert lake.read_table(store, "findings", years=[2024], levels=["county"]).get_column("report_id").to_list() == ["b"]
    assert lake.read_table(store, "findings").schema == TABLES["findings"].polars_schema
    empty = lake.read_table(store, "reports")
    assert empty.is_empty() and empty.schema == TABLES["reports"].polars_schema
    assert lake.read_table(store, "findings", years=[1999]).is_empty()


# -- other readers -----------------------------------------------------------------------------------------------

def _lake_for_readers(store: Store) -> pl.DataFrame:
    parts = [(2023, "county", ["a", "b"]), (2024, "county", ["c"]), (2024, "provincial", ["d"])]
    for y, lv, ids in parts:
        lake.write_partition(store, "active_disclosure", y, lv, rows("active_disclosure", ids, y, lv, per_report=2))
    # things that must not be read as table data: state, staging, runs, lease, temporary files
    lake.write_state(store, pl.DataFrame(schema=lake.STATE_SCHEMA))
    lake.stage_frames(store, "run1", "00000", {"active_disclosure": rows("active_disclosure", ["z"])})
    lake.acquire_lease(store, "reader-test", 60)
    return lake.read_table(store, "active_disclosure").sort("report_id", "item", "measure", "value")


def test_polars_reads_the_table_with_hive_partitioning(store):
    expected = _lake_for_readers(store)
    lf = pl.scan_parquet(store.uri("active_disclosure/**/*.parquet"), hive_partitioning=True,
                         hive_schema=lake.HIVE_SCHEMA, storage_options=store.polars_storage_options())
    got = lf.filter(pl.col("year") == 2024).collect()
    assert got.schema["year"] == pl.Int32 and got.schema["admin_level"] == pl.String
    assert sorted(got.get_column("report_id").unique().to_list()) == ["c", "d"]
    scanned = lake.scan_table(store, "active_disclosure").collect().sort("report_id", "item", "measure", "value")
    assert_frame_equal(scanned, expected)


def test_pyarrow_dataset_reads_the_table(store):
    expected = _lake_for_readers(store)
    partitioning = ds.partitioning(pa.schema([("year", pa.int32()), ("admin_level", pa.string())]), flavor="hive")
    dataset = ds.dataset(store.fs_path("active_disclosure"), filesystem=store.fs, format="parquet",
                         partitioning=partitioning)
    got = pl.from_arrow(dataset.to_table(filter=ds.field("admin_level") == "county"))
    assert got.height == 6 and got.schema["year"] == pl.Int32
    whole = pl.from_arrow(dataset.to_table()).select(expected.columns).sort("report_id", "item", "measure", "value")
    assert_frame_equal(whole, expected)


def test_duckdb_reads_the_table(store):
    expected = _lake_for_readers(store)
    con = duckdb.connect()
    mode = store.duckdb_attach(con)
    # DuckDB fetches httpfs at run time, which cannot happen offline: S3 goes through s3fs (register_filesystem)
    assert mode == ("local" if store.is_local else "fsspec")
    glob = store.uri("active_disclosure/**/*.parquet")
    got = con.sql(
        "SELECT * FROM read_parquet(?, hive_partitioning = true, "
        "hive_types = {'year': INTEGER, 'admin_level': VARCHAR}) WHERE year = 2023", params=[glob]).pl()
    assert got.height == 4 and got.schema["year"] == pl.Int32
    n, = con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true)", [glob]).fetchone()
    assert n == expected.height


# -- the conform gate -----------------------------------------------------------------------------------------------

def test_conform_refuses_a_repeated_grain_and_wrong_dtypes():
    """schemas.tables.conform, the one step every frame passes before it is written: the declared grain (findings:
    report_id, rule, field and message, the field null for a whole table) must not repeat, and a column whose dtype
    would change its values when cast is refused, not cast."""
    findings = rows("findings", ["a"]).with_columns(field=pl.lit(None, pl.String))
    two_tables = pl.concat([findings, findings.with_columns(message=pl.lit("table 4 missing"))])
    assert conform(two_tables, FINDINGS).height == 2  # the message tells them apart: not a repeat
    repeated = pl.concat([findings, findings.with_columns(actual=pl.lit("other"))])
    with pytest.raises(ValueError, match=r"findings: 2 rows repeat the grain \('report_id', 'rule', 'field', 'message'\)"):
        conform(repeated, FINDINGS)
    assert conform(repeated, FINDINGS, check_grain=False).height == 2  # reading staged batches: repeats allowed

    apps = rows("applications", ["a", "b"])
    widened = apps.with_columns(pl.col("row_order").cast(pl.Int64), pl.col("year").cast(pl.Int64))
    assert conform(widened, APPLICATIONS).schema == APPLICATIONS.polars_schema  # integers that fit: cast
    for column, value, message in (("total", pl.lit(1.5), "total is Float64, declared Int64"),
                                   ("total", pl.lit("7"), "total is String, declared Int64"),
                                   ("row_key", pl.lit(3), "row_key is Int32, declared String"),
                                   ("row_order", pl.lit(40000, pl.Int64), "do not fit the declared dtypes")):
        with pytest.raises(ValueError, match=message):
            conform(apps.with_columns(value.alias(column)), APPLICATIONS)
    with pytest.raises(ValueError, match="nulls in required columns"):
        conform(apps.with_columns(row_key=pl.lit(None, pl.String)), APPLICATIONS)


def test_every_write_goes_through_the_gate(store):
    """Partitions, staged batches, the state and run rows are refused before anything is written."""
    dup = pl.concat([rows("applications", ["a"]), rows("applications", ["a"]).with_columns(total=pl.lit(9, pl.Int64))])
    with pytest.raises(ValueError, match="repeat the grain"):
        lake.write_partition(store, "applications", 2024, "county", dup)
    with pytest.raises(ValueError, match="repeat the grain"):
        lake.stage_frames(store, "run-g", "00000", {"applications": dup})
    now = datetime(2026, 1, 2, tzinfo=UTC)
    state = pl.DataFrame([{"key": "k", "parser_version": "1", "processed_at": now, "status": "parsed"}] * 2,
                         schema=lake.STATE_SCHEMA)
    with pytest.raises(ValueError, match="state: 2 rows repeat the grain"):
        lake.write_state(store, state)
    with pytest.raises(ValueError, match="wrong dtypes: size is String"):
        lake.write_state(store, state.head(1).with_columns(size=pl.lit("12")))
    with pytest.raises(ValueError, match=r"runs: undeclared columns \['wall_ms'\]"):
        lake.append_run(store, {"run_id": "r1", "wall_ms": 3})
    assert keys(store) == []


# -- staging, state, runs, failures ------------------------------------------------------------------------------

def test_staged_rows_by_partition_equal_the_whole_run_made_unique(store):
    """The commit reads a staged table split by partition, a few batches at a time: the same rows as the whole
    run's table made unique on the grain (first batch wins), even for a report staged by two batches in two
    partitions (the same bytes under two keys whose sidecars name different levels)."""
    batches = [
        rows("applications", ["a", "b"], per_report=3),
        pl.concat([rows("applications", ["c"], per_report=3, level="city", tag="v2"),
                   rows("applications", ["b"], per_report=3, level="city")]),  # b again, later, elsewhere
        rows("applications", ["d"], year=2023, per_report=2),
        rows("applications", ["b", "e"], per_report=3, year=2023, tag="v3"),
    ]
    for i, frame in enumerate(batches):
        lake.stage_frames(store, "run-p", f"{i:05d}", {"applications": frame, "reports": rows(
            "reports", frame.get_column("report_id").unique(maintain_order=True).to_list())})
    staged = lake.staged_keys(store, "run-p")
    several = lake.staged_ids_in_several_batches(store, staged["reports"])
    assert several.to_list() == ["b"]

    whole = (lake.read_staged(store, "run-p")["applications"]
             .unique(subset=lake.grain("applications"), keep="first", maintain_order=True))
    for group in (1, 3):
        parts = lake.read_staged_partitions(store, "applications", staged["applications"], in_several=several,
                                            group=group)
        assert set(parts) == {(2024, "county"), (2024, "city"), (2023, "county")}
        for (year, level), frame in parts.items():
            expected = whole.filter((pl.col("year") == year) & (pl.col("admin_level") == level))
            assert_frame_equal(frame.sort(lake.grain("applications")), expected.sort(lake.grain("applications")))
    assert parts[(2024, "city")].get_column("report_id").unique().to_list() == ["c"]  # b's rows stay where first staged


def test_staging_reads_only_complete_batches(store):
    now = datetime(2026, 1, 2, tzinfo=UTC)
    keys_frame = pl.DataFrame([{"key": "k1", "parser_version": "1", "processed_at": now, "status": "parsed"}],
                              schema=lake.STATE_SCHEMA)  # state rows, declared as STATE
    lake.stage_frames(store, "run-1", "00000", {"reports": rows("reports", ["a"]), "_keys": keys_frame})
    lake.stage_frames(store, "run-1", "00001", {"reports": rows("reports", ["b"]),
                                                "_keys": keys_frame.with_columns(key=pl.lit("k2"))})
    # a batch killed mid-write: files, no _SUCCESS
    store.put_bytes("_staging/run-1/00002/reports.parquet", store.get_bytes("_staging/run-1/00000/reports.parquet"))
    lake.stage_frames(store, "run-2", "00000", {"reports": rows("reports", ["other"])})
    assert "_staging/run-1/00000/_SUCCESS" in keys(store, "_staging/run-1/00000/")

    staged = lake.read_staged(store, "run-1")
    assert set(staged) == {"reports", "_keys"}
    assert staged["reports"].get_column("report_id").to_list() == ["a", "b"]
    assert staged["reports"].schema == TABLES["reports"].polars_schema
    assert staged["_keys"].get_column("key").to_list() == ["k1", "k2"]
    assert lake.read_staged(store, "run-none") == {}
    assert lake.list_partitions(store, "reports") == []  # staging is outside the table folders

    lake.stage_frames(store, "run-1", "00001", {"reports": rows("reports", ["b2"])})  # re-staged without _keys
    assert lake.read_staged(store, "run-1")["_keys"].get_column("key").to_list() == ["k1"]

    assert lake.clear_staging(store, "run-1") > 0
    assert keys(store, "_staging/") == ["_staging/run-2/00000/_SUCCESS", "_staging/run-2/00000/reports.parquet"]
    lake.clear_staging(store)
    assert keys(store, "_staging/") == []


def test_state_round_trip(store):
    assert lake.read_state(store).schema == lake.STATE_SCHEMA and lake.read_state(store).is_empty()
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    state = pl.DataFrame({
        "key": ["b.txt", "a 报告.txt"], "size": [2, 1], "etag": ["e2", "e1"], "content_hash": ["h2", "h1"],
        "report_id": ["r2", "r1"], "year": [2024, 2023], "admin_level": ["county", "central"],
        "parser_version": ["1", "1"], "processed_at": [now, now], "status": ["parsed", "parsed"],
    })
    lake.write_state(store, state)  # sidecar_etag missing: added as null
    assert keys(store, "_state/") == ["_state/processed.parquet"]
    back = lake.read_state(store)
    assert back.schema == lake.STATE_SCHEMA
    assert back.get_column("key").to_list() == ["a 报告.txt", "b.txt"]
    assert back.get_column("processed_at").to_list() == [now, now]
    with pytest.raises(ValueError, match="missing columns"):
        lake.write_state(store, state.drop("etag"))


def test_runs(store):
    assert lake.read_runs(store).is_empty()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    lake.append_run(store, {"run_id": "r2", "started_at": t0.replace(day=2), "status": "completed", "files_per_s": None})
    lake.append_run(store, {"run_id": "r1", "started_at": t0, "status": "partial", "files_per_s": 12.5})
    assert keys(store, "_runs/") == ["_runs/run_id=r1.parquet", "_runs/run_id=r2.parquet"]
    runs = lake.read_runs(store)
    assert runs.get_column("run_id").to_list() == ["r1", "r2"]
    assert runs.get_column("files_per_s").to_list() == [12.5, None]
    with pytest.raises(ValueError):
        lake.append_run(store, {"run_id": "../x"})


def test_failures_append_read_clear(store):
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def failures(run_id: str, sources: list[str]) -> pl.DataFrame:
        return pl.DataFrame({"source": sources, "run_id": run_id, "stage": "read", "error": "boom",
                             "recorded_at": now}, schema=FAILURES.polars_schema)

    lake.append_failures(store, failures("run-1", ["x.txt", "y.txt"]))
    lake.append_failures(store, failures("run-1", ["z.txt", "x.txt"]))  # appended; the exact duplicate dropped
    lake.append_failures(store, failures("run-2", ["y.txt"]))
    assert keys(store, "failures/") == ["failures/run-1.parquet", "failures/run-2.parquet"]
    got = lake.read_failures(store)
    assert got.schema == FAILURES.polars_schema
    assert sorted(got.select("run_id", "source").iter_rows()) == [
        ("run-1", "x.txt"), ("run-1", "y.txt"), ("run-1", "z.txt"), ("run-2", "y.txt")]
    assert lake.clear_failures(store, ["y.txt"]) == 2
    assert keys(store, "failures/") == ["failures/run-1.parquet"]  # emptied object removed
    assert sorted(lake.read_failures(store).get_column("source").to_list()) == ["x.txt", "z.txt"]
    assert lake.clear_failures(store, []) == 0
    assert lake.read_failures(Store(store.url + "-empty", settings=store._settings)).is_empty()


# -- the lease ---------------------------------------------------------------------------------------------------

def test_lease_acquire_refuse_release(store):
    lease = lake.acquire_lease(store, "run-a", ttl_s=60)
    assert lease.owner == "run-a" and lease.stolen_from is None
    with pytest.raises(lake.LeaseHeldError, match="run-a") as info:
        lake.acquire_lease(store, "run-b", ttl_s=60)
    assert info.value.holder == "run-a" and info.value.expires_at > time.time()
    lease.renew(120)
    assert lease.expires_at > time.time() + 100
    assert lease.release() and not store.exists(lake.LEASE_KEY)
    assert not lease.release()  # once
    with lake.acquire_lease(store, "run-b", ttl_s=60) as second:
        assert second.owner == "run-b"
    assert not store.exists(lake.LEASE_KEY)


def test_lease_expired_is_taken_over_once(store):
    old = lake.acquire_lease(store, "dead-run", ttl_s=0.2)
    time.sleep(0.3)
    barrier = threading.Barrier(4)

    def contend(i: int):
        barrier.wait()
        try:
            return lake.acquire_lease(store, f"run-{i}", ttl_s=60)
        except lake.LeaseHeldError:
            return None

    with ThreadPoolExecutor(4) as pool:
        leases = [x for x in pool.map(contend, range(4)) if x is not None]
    assert len(leases) == 1
    winner = leases[0]
    assert winner.stolen_from == "dead-run"
    assert not old.release()  # no longer ours: the new holder's lease stays
    assert store.exists(lake.LEASE_KEY)
    with pytest.raises(lake.LeaseLostError):
        old.renew(60)
    assert winner.release()
    assert not store.exists(lake.LEASE_KEY)
