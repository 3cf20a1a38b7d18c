"""Partitions: a table's rows by (year, admin_level), one Parquet object per partition at a fixed name. Keys,
writing (replace whole: one PUT, then the folder's other objects deleted), reading, listing, schema versions and
the upgrade of older files, and the commit primitives `replace_reports` / `replace_partitions`."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pyarrow.parquet as pq

from schemas import tables
from schemas.tables import PARTITION_KEYS, Table, conform
from tasks.faults import fault_point
from tasks.lake.objects import PART_FILE, READ_LIMIT, _read_all, _read_bytes, _table_bytes, empty_frame, get_table
from tasks.storage import NotFound, StorageError, Store

SCHEMA_VERSION_KEY = b"govreports_schema_version"
# Partition columns as every reader should declare them (Polars hive_schema; pyarrow/DuckDB equivalents in tests).
HIVE_SCHEMA = pl.Schema({"year": pl.Int32, "admin_level": pl.String})

_LEVEL = re.compile(r"^[A-Za-z0-9_-]+$")
_PARTITION = re.compile(r"^year=(-?\d+)/admin_level=([^/]+)/[^/]+\.parquet$")


def _check_partition(year: int, admin_level: str) -> tuple[int, str]:
    if not isinstance(admin_level, str) or not _LEVEL.match(admin_level):
        raise ValueError(f"invalid admin_level {admin_level!r}")
    return int(year), admin_level


def partition_prefix(table: str | Table, year: int, admin_level: str) -> str:
    year, admin_level = _check_partition(year, admin_level)
    return f"{get_table(table).name}/year={year}/admin_level={admin_level}/"


def partition_key(table: str | Table, year: int, admin_level: str) -> str:
    """reports/year=2024/admin_level=county/part-0.parquet"""
    return partition_prefix(table, year, admin_level) + PART_FILE


def write_partition(store: Store, table: str | Table, year: int, admin_level: str, frame: pl.DataFrame) -> str | None:
    """Replace one partition with `frame`: one Parquet object at <table>/year=Y/admin_level=L/part-0.parquet,
    then every other object in that folder deleted. An empty frame removes the partition. Returns the key written.

    `frame` may carry the partition columns (they must then all equal year/admin_level) or not (they are added).
    """
    t = get_table(table)
    year, admin_level = _check_partition(year, admin_level)
    prefix = partition_prefix(t, year, admin_level)
    frame = _with_partition(frame, t, year, admin_level)
    if frame.is_empty():
        store.delete(store.list_objects(prefix).get_column("key").to_list())
        return None
    key = prefix + PART_FILE
    store.put_bytes(key, _table_bytes(frame, t))
    others = [k for k in store.list_objects(prefix).get_column("key").to_list() if k != key]
    if others:
        store.delete(others)
    fault_point("mid_commit")
    return key


def _with_partition(frame: pl.DataFrame, table: Table, year: int, admin_level: str) -> pl.DataFrame:
    values = {"year": year, "admin_level": admin_level}
    for name in PARTITION_KEYS:
        if name in frame.columns:
            bad = frame.filter(pl.col(name).cast(HIVE_SCHEMA[name]).ne_missing(values[name])).height
            if bad:
                raise ValueError(f"{table.name}: {bad} rows have {name} other than {values[name]!r}")
        else:
            frame = frame.with_columns(pl.lit(values[name], dtype=HIVE_SCHEMA[name]).alias(name))
    return frame


def _add_partition_columns(frame: pl.DataFrame, table: Table, year: int, admin_level: str) -> pl.DataFrame:
    frame = frame.with_columns(pl.lit(year, dtype=pl.Int32).alias("year"),
                               pl.lit(admin_level, dtype=pl.String).alias("admin_level"))
    return upgrade_frame(frame, table)


def upgrade_frame(frame: pl.DataFrame, table: str | Table) -> pl.DataFrame:
    """A frame read from a file of any schema version, as the current declaration: columns added since are null,
    columns this version does not know are dropped, types cast. A missing required column is an error: tables only
    grow by nullable columns."""
    t = get_table(table)
    missing = [c for c in t.columns if c.name not in frame.columns]
    required = [c.name for c in missing if not c.nullable]
    if required:
        raise ValueError(f"{t.name}: a file lacks required columns {required}: columns may only be added as nullable")
    if missing:
        frame = frame.with_columns([pl.lit(None, dtype=c.dtype).alias(c.name) for c in missing])
    return frame.select([pl.col(c.name).cast(c.dtype) for c in t.columns])


def file_schema_version(data: bytes) -> int | None:
    """The govreports_schema_version in a Parquet file's key-value metadata (None: written without it)."""
    meta = pq.read_schema(io.BytesIO(data)).metadata or {}
    value = meta.get(SCHEMA_VERSION_KEY)
    return int(value) if value is not None else None


def partition_schema_versions(store: Store, table: str | Table) -> dict[tuple[int, str], int | None]:
    """(year, admin_level) → the schema version of that partition's file: partitions below SCHEMA_VERSION are
    rewritten at the current version the next time a commit touches them (a backfill of their years does that)."""
    t = get_table(table)
    parts = list_partitions(store, t)
    keys = {partition_key(t, y, lv): (y, lv) for y, lv in parts}
    out: dict[tuple[int, str], int | None] = {}
    for key, data, error in store.read_many(list(keys), max_workers=16, max_bytes=READ_LIMIT):
        if data is None:
            if isinstance(error, NotFound):
                continue
            raise StorageError(f"cannot read {store.uri(key)}: {error}")
        out[keys[key]] = file_schema_version(data)
    return out


def outdated_partitions(store: Store, table: str | Table) -> list[tuple[int, str]]:
    """Partitions whose file was written by an older schema version (or without a version)."""
    current = tables.SCHEMA_VERSION
    return sorted(p for p, v in partition_schema_versions(store, table).items() if v is None or v < current)


def read_partition(store: Store, table: str | Table, year: int, admin_level: str) -> pl.DataFrame:
    """One partition with its partition columns added back (declared dtypes); empty frame when absent."""
    t = get_table(table)
    year, admin_level = _check_partition(year, admin_level)
    try:
        data = store.get_bytes(partition_key(t, year, admin_level))
    except FileNotFoundError:
        return empty_frame(t)
    return _add_partition_columns(_read_bytes(data), t, year, admin_level)


def list_partitions(store: Store, table: str | Table) -> list[tuple[int, str]]:
    """Sorted (year, admin_level) of the partitions holding at least one Parquet object."""
    name = get_table(table).name
    found: set[tuple[int, str]] = set()
    for key in store.list_objects(f"{name}/").get_column("key").to_list():
        m = _PARTITION.match(key[len(name) + 1:])
        if m:
            found.add((int(m.group(1)), m.group(2)))
    return sorted(found)


def read_table(store: Store, table: str | Table, *, years: Collection[int] | None = None,
               levels: Collection[str] | None = None) -> pl.DataFrame:
    """The table (or the chosen years/levels: partitions are pruned by path before reading), partition columns
    typed as declared; an empty frame with the schema when nothing matches."""
    t = get_table(table)
    year_set = None if years is None else {int(y) for y in years}
    level_set = None if levels is None else set(levels)
    parts = [(y, lv) for y, lv in list_partitions(store, t)
             if (year_set is None or y in year_set) and (level_set is None or lv in level_set)]
    keys = {partition_key(t, y, lv): (y, lv) for y, lv in parts}
    frames = [_add_partition_columns(df, t, *keys[k]) for k, df in _read_all(store, list(keys))]
    if not frames:
        return empty_frame(t)
    return pl.concat(frames, how="vertical")


def scan_table(store: Store, table: str | Table) -> pl.LazyFrame:
    """A lazy scan with Polars' own reader (hive partitioning, HIVE_SCHEMA, storage options for S3), as a BI tool
    would read the table. Filter on year/admin_level to prune partitions."""
    t = get_table(table)
    if not list_partitions(store, t):
        return empty_frame(t).lazy()
    # the declared file schema, not the first file's: partitions of older versions lack columns added since
    file_schema = {c.name: c.dtype for c in t.file_columns}
    lf = pl.scan_parquet(store.uri(f"{t.name}/**/*.parquet"), hive_partitioning=True, hive_schema=HIVE_SCHEMA,
                         schema=file_schema, missing_columns="insert", extra_columns="ignore",
                         storage_options=store.polars_storage_options())
    return lf.select([pl.col(c.name).cast(c.dtype) for c in t.columns])


def replace_reports(store: Store, table: str | Table, new_rows: pl.DataFrame, drop_report_ids: Collection[str],
                    partitions: Collection[tuple[int, str]], *,
                    fixup: Callable[[pl.DataFrame], pl.DataFrame] | None = None, max_workers: int = 4) -> int:
    """The commit primitive. For each partition in `partitions` ∪ the partitions of `new_rows`: keep the existing
    rows whose report_id is neither in `drop_report_ids` nor in new_rows.report_id, add the new rows of that
    partition, and write it with write_partition. `fixup` (optional, frame → frame with the same columns) is applied
    to the kept rows (the new rows come as they should be written).

    Idempotent: the same call twice leaves the same lake. Rows of a report sitting in a partition not named here
    are not touched: pass the report's old partitions (from the state) when its year or level may have changed.
    Returns the number of rows in the rewritten partitions.
    """
    t = get_table(table)
    new = conform(new_rows, t) if new_rows.width else empty_frame(t)
    by_part = by_partition(new) if new.height else {}
    del new
    return replace_partitions(store, t, by_part, drop_report_ids, partitions, fixup=fixup, max_workers=max_workers)


def by_partition(frame: pl.DataFrame) -> dict[tuple[int, str], pl.DataFrame]:
    """A frame's rows by partition: {(year, admin_level): rows}, in order."""
    return {(int(y), str(lv)): part
            for (y, lv), part in frame.partition_by("year", "admin_level", as_dict=True, maintain_order=True).items()}


def replace_partitions(store: Store, table: str | Table, new_by_partition: dict[tuple[int, str], pl.DataFrame],
                       drop_report_ids: Collection[str], partitions: Collection[tuple[int, str]], *,
                       fixup: Callable[[pl.DataFrame], pl.DataFrame] | None = None, max_workers: int = 4) -> int:
    """`replace_reports` with the new rows already split by partition ({(year, admin_level): rows}). The dict is
    emptied as the partitions are written, so the run's new rows leave memory partition by partition."""
    t = get_table(table)
    by_part = new_by_partition
    # the ids to remove as one Series, never Python strings (2.5 M rows of table 3 at 100k reports)
    remove_ids = pl.concat([*(f.get_column("report_id") for f in by_part.values()),
                            pl.Series("report_id", list(drop_report_ids), dtype=pl.String)]).unique()
    targets = {_check_partition(y, lv) for y, lv in partitions}
    targets |= {_check_partition(y, lv) for y, lv in by_part}
    empty = empty_frame(t)

    def rebuild(part: tuple[int, str]) -> int:
        year, level = part
        existing = read_partition(store, t, year, level)
        kept = existing
        if existing.height and remove_ids.len():  # (is_in hashes every id to remove: not for a partition that is new)
            kept = existing.filter(~pl.col("report_id").is_in(remove_ids.implode()))
        if fixup is not None and kept.height:
            kept = fixup(kept)
        new = by_part.pop(part, None)
        # (the merged partition's grain is checked once, as it is written)
        merged = pl.concat([kept, empty if new is None else conform(new, t, check_grain=False)], how="vertical")
        del existing, kept, new
        write_partition(store, t, year, level, merged)
        return merged.height

    ordered = sorted(targets)
    if not ordered:
        return 0
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(ordered)))) as pool:
        return sum(pool.map(rebuild, ordered))

