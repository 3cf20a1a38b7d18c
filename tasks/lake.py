"""The only place that writes the lake: whole partitions as one object each, staging, state, runs, failures, lease.

Replace semantics without a table format: a partition is rebuilt deterministically and written as ONE object at
a fixed name (`part-0.parquet`) — locally a temporary file then os.replace, on S3 a single PUT, both atomic for
readers — then any other object in that folder is deleted. Readers see the old partition or the new one, never
half of each; reruns are idempotent. State, staging and run records live outside the table folders.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
import pyarrow.parquet as pq

from schemas.tables import FAILURES, PARTITION_KEYS, TABLES, Table, conform
from tasks.storage import Store

TABLE_NAMES = tuple(TABLES)
PART_NAME = "part-0.parquet"
STATE_KEY = "_state/processed.parquet"
LEASE_KEY = "_state/lease.json"
ROW_GROUP_ROWS = 64_000
_GRAIN = {
    "reports": ["report_id"],
    "active_disclosure": ["report_id", "item", "measure"],
    "applications": ["report_id", "row_key"],
    "review_litigation": ["report_id", "group"],
    "findings": ["report_id", "rule", "field", "message"],
}
HIVE_SCHEMA = {"year": pl.Int32, "admin_level": pl.String}


def grain(name: str) -> list[str]:
    return _GRAIN[name]


def empty_frame(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[name].polars_schema)


def partition_key(name: str, year: int, level: str) -> str:
    return f"{name}/year={int(year)}/admin_level={level}/{PART_NAME}"


def _parquet_bytes(frame: pl.DataFrame, schema: pa.Schema) -> bytes:
    table = frame.to_arrow()
    table = table.cast(schema) if table.schema != schema else table
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True, row_group_size=ROW_GROUP_ROWS)
    return buf.getvalue()


def write_partition(store: Store, name: str, year: int, level: str, frame: pl.DataFrame) -> int:
    """Rebuild one partition as a single object; an empty frame removes the partition."""
    table: Table = TABLES[name]
    folder = f"{name}/year={int(year)}/admin_level={level}/"
    existing = [k for k in store.list_objects(folder).get_column("key").to_list()]
    key = folder + PART_NAME
    if frame.is_empty():
        store.delete(existing)
        return 0
    data = conform(frame, table).sort(grain(name), nulls_last=True).drop(list(PARTITION_KEYS))
    store.put_bytes(key, _parquet_bytes(data, table.arrow_schema))
    others = [k for k in existing if k != key]
    if others:
        store.delete(others)
    return data.height


def read_partition(store: Store, name: str, year: int, level: str) -> pl.DataFrame:
    key = partition_key(name, year, level)
    if not store.exists(key):
        return empty_frame(name)
    frame = pl.read_parquet(io.BytesIO(store.get_bytes(key)))
    return frame.with_columns(year=pl.lit(int(year), pl.Int32), admin_level=pl.lit(level, pl.String)).select(
        TABLES[name].polars_schema.names())


def list_partitions(store: Store, name: str) -> list[tuple[int, str]]:
    keys = store.list_objects(f"{name}/").get_column("key").to_list()
    out = set()
    for k in keys:
        parts = k.split("/")
        if len(parts) >= 4 and parts[1].startswith("year=") and parts[2].startswith("admin_level=") and parts[3].endswith(".parquet"):
            out.add((int(parts[1][5:]), parts[2][12:]))
    return sorted(out)


def read_table(store: Store, name: str, *, years: Collection[int] | None = None, levels: Collection[str] | None = None) -> pl.DataFrame:
    frames = [read_partition(store, name, y, lv) for y, lv in list_partitions(store, name)
              if (years is None or y in years) and (levels is None or lv in levels)]
    return pl.concat(frames) if frames else empty_frame(name)


def replace_reports(store: Store, name: str, new_rows: pl.DataFrame, *, drop_report_ids: Collection[str],
                    partitions: Collection[tuple[int, str]],
                    fixup: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> int:
    """Rewrite every partition in `partitions` (and those of new_rows): existing rows minus dropped or replaced
    reports, plus the new rows. Idempotent. Returns the rows in the rewritten partitions."""
    replaced = set(drop_report_ids) | set(new_rows.get_column("report_id").to_list())
    targets = set(partitions) | {(int(y), str(lv)) for y, lv in new_rows.select("year", "admin_level").unique().iter_rows()}
    total = 0
    for year, level in sorted(targets):
        old = read_partition(store, name, year, level)
        keep = old.filter(~pl.col("report_id").is_in(list(replaced))) if replaced else old
        add = new_rows.filter((pl.col("year") == year) & (pl.col("admin_level") == level))
        frame = pl.concat([keep, conform(add, TABLES[name])], how="vertical_relaxed")
        if fixup is not None:
            frame = fixup(frame)
        total += write_partition(store, name, year, level, frame)
    return total


# ---------------------------------------------------------------------------------------------------------------
# Staging: each batch writes its frames, then a _SUCCESS marker; the commit reads only complete batches.

def stage_frames(store: Store, run_id: str, batch_id: str, frames: dict[str, pl.DataFrame]) -> None:
    base = f"_staging/{run_id}/{batch_id}/"
    for name, frame in frames.items():
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="zstd")
        store.put_bytes(base + name + ".parquet", buf.getvalue())
    store.put_bytes(base + "_SUCCESS", b"")


def read_staged(store: Store, run_id: str) -> dict[str, pl.DataFrame]:
    keys = store.list_objects(f"_staging/{run_id}/").get_column("key").to_list()
    done = {k.rsplit("/", 1)[0] for k in keys if k.endswith("/_SUCCESS")}
    parts: dict[str, list[pl.DataFrame]] = {}
    for k in sorted(keys):
        folder, fname = k.rsplit("/", 1)
        if folder in done and fname.endswith(".parquet"):
            parts.setdefault(fname[: -len(".parquet")], []).append(pl.read_parquet(io.BytesIO(store.get_bytes(k))))
    return {name: pl.concat(fs, how="vertical_relaxed") for name, fs in parts.items()}


def clear_staging(store: Store, run_id: str | None = None) -> None:
    store.delete_prefix("_staging/" + (f"{run_id}/" if run_id else ""))


# ---------------------------------------------------------------------------------------------------------------
# State, runs, failures

def read_state(store: Store) -> pl.DataFrame:
    from flows.pipeline import STATE_COLUMNS  # the state's columns belong to the flow that plans with them

    if not store.exists(STATE_KEY):
        return pl.DataFrame(schema=STATE_COLUMNS)
    frame = pl.read_parquet(io.BytesIO(store.get_bytes(STATE_KEY)))
    for col, dtype in STATE_COLUMNS.items():
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype).alias(col))
    return frame.select([pl.col(c).cast(t) for c, t in STATE_COLUMNS.items()])


def write_state(store: Store, frame: pl.DataFrame) -> None:
    buf = io.BytesIO()
    frame.sort("key").write_parquet(buf, compression="zstd")
    store.put_bytes(STATE_KEY, buf.getvalue())


def append_run(store: Store, row: dict) -> None:
    buf = io.BytesIO()
    pl.DataFrame([row], infer_schema_length=None).write_parquet(buf)
    store.put_bytes(f"_runs/{row['run_id']}.parquet", buf.getvalue())


def read_runs(store: Store) -> pl.DataFrame:
    keys = sorted(store.list_objects("_runs/").get_column("key").to_list())
    frames = [pl.read_parquet(io.BytesIO(store.get_bytes(k))) for k in keys if k.endswith(".parquet")]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def append_failures(store: Store, frame: pl.DataFrame) -> None:
    run_id = frame.get_column("run_id")[0]
    buf = io.BytesIO()
    conform(frame, FAILURES).write_parquet(buf, compression="zstd")
    store.put_bytes(f"failures/{run_id}.parquet", buf.getvalue())


def read_failures(store: Store) -> pl.DataFrame:
    keys = sorted(store.list_objects("failures/").get_column("key").to_list())
    frames = [pl.read_parquet(io.BytesIO(store.get_bytes(k))) for k in keys if k.endswith(".parquet")]
    return pl.concat(frames) if frames else pl.DataFrame(schema=FAILURES.polars_schema)


def clear_failures(store: Store, sources: Collection[str]) -> None:
    """Failures of sources that have since been parsed are history: remove them from the failure records."""
    srcs = list(sources)
    for k in store.list_objects("failures/").get_column("key").to_list():
        frame = pl.read_parquet(io.BytesIO(store.get_bytes(k)))
        kept = frame.filter(~pl.col("source").is_in(srcs))
        if kept.height == frame.height:
            continue
        if kept.is_empty():
            store.delete([k])
        else:
            buf = io.BytesIO()
            kept.write_parquet(buf, compression="zstd")
            store.put_bytes(k, buf.getvalue())


# ---------------------------------------------------------------------------------------------------------------
# Writer lease: one run writes a lake at a time.

class LeaseHeldError(RuntimeError):
    pass


@dataclass
class Lease:
    store: Store
    owner: str

    def release(self) -> None:
        try:
            held = json.loads(self.store.get_bytes(LEASE_KEY))
        except (FileNotFoundError, OSError, ValueError):
            return
        if held.get("owner") == self.owner:
            self.store.delete([LEASE_KEY])


def acquire_lease(store: Store, owner: str, ttl_s: int) -> Lease:
    """Create `_state/lease.json` only if absent; a live lease held by another run refuses, an expired one is taken."""
    body = json.dumps({"owner": owner, "expires_at": time.time() + ttl_s,
                       "acquired_at": datetime.now(UTC).isoformat()}).encode()
    for _ in range(2):
        if store.put_if_absent(LEASE_KEY, body):
            return Lease(store, owner)
        try:
            held = json.loads(store.get_bytes(LEASE_KEY))
        except (FileNotFoundError, OSError, ValueError):
            continue
        if float(held.get("expires_at", 0)) > time.time():
            raise LeaseHeldError(f"the lake is being written by run {held.get('owner')} (lease until "
                                 f"{datetime.fromtimestamp(float(held['expires_at']), UTC).isoformat()}); refusing to write it too")
        store.delete([LEASE_KEY])  # expired: a run that died; take it over
    raise LeaseHeldError("could not acquire the writer lease")
