"""The lake's records beside the tables: the state (what was processed, _state/processed.parquet), the runs
(_runs/run_id=<id>.parquet) and the failures (failures/<run_id>.parquet), each declared in schemas/tables.py (STATE,
RUNS, FAILURES) and conformed to it before it is written."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from schemas.tables import FAILURES, RUNS, STATE, conform
from tasks.lake.objects import _check_id, _frame_bytes, _read_all, _read_bytes, _table_bytes, empty_frame
from tasks.lake.partitions import upgrade_frame
from tasks.storage import Store

STATE_KEY = "_state/processed.parquet"
RUNS_PREFIX = "_runs"
FAILURES_PREFIX = "failures"
STATE_SCHEMA = STATE.polars_schema
# State columns added after the first version: an older state file lacks them (read as null).
_STATE_ADDED = ("sidecar_etag",)
_failures_lock = threading.Lock()


# -- state -------------------------------------------------------------------------------------------------------

def _conform_state(frame: pl.DataFrame, *, check_grain: bool) -> pl.DataFrame:
    """The state as declared (STATE), columns added since its file was written as nulls, undeclared columns kept
    after the declared ones (a state written by a newer version)."""
    frame = frame.with_columns([pl.lit(None, dtype=STATE_SCHEMA[n]).alias(n) for n in _STATE_ADDED
                                if n not in frame.columns])
    return conform(frame, STATE, check_grain=check_grain, extra="keep")


def read_state(store: Store) -> pl.DataFrame:
    """_state/processed.parquet, or an empty frame with STATE_SCHEMA."""
    try:
        data = store.get_bytes(STATE_KEY)
    except FileNotFoundError:
        return pl.DataFrame(schema=STATE_SCHEMA)
    return _conform_state(_read_bytes(data), check_grain=False)


def write_state(store: Store, frame: pl.DataFrame) -> None:
    """Write the whole state as one object (atomic replace), sorted by key, one row per key. Extra columns are
    kept."""
    state = _conform_state(frame, check_grain=True).sort("key", nulls_last=True, maintain_order=True)
    store.put_bytes(STATE_KEY, _frame_bytes(state))


# -- runs --------------------------------------------------------------------------------------------------------

def append_run(store: Store, run_row: Mapping[str, Any]) -> str:
    """Record one run as _runs/run_id=<id>.parquet (one object per run; re-recording a run replaces it). The row's
    columns must be declared in RUNS; it holds those it has (a run recovered without its summary has few), in the
    declared order and dtypes."""
    run_id = _check_id(str(run_row.get("run_id", "")), "run_id")
    key = f"{RUNS_PREFIX}/run_id={run_id}.parquet"
    frame = conform(pl.DataFrame([dict(run_row)], infer_schema_length=None), RUNS, partial=True, extra="error")
    store.put_bytes(key, _frame_bytes(frame))
    return key


def read_runs(store: Store) -> pl.DataFrame:
    """Every recorded run, oldest first (by started_at when recorded)."""
    keys = [k for k in store.list_objects(f"{RUNS_PREFIX}/").get_column("key").to_list() if k.endswith(".parquet")]
    frames = [df for _k, df in _read_all(store, keys)]
    if not frames:
        return pl.DataFrame(schema={"run_id": pl.String})
    runs = pl.concat(frames, how="diagonal_relaxed")
    return runs.sort([c for c in ("started_at", "run_id") if c in runs.columns], nulls_last=True)


# -- failures ----------------------------------------------------------------------------------------------------

def _failures_key(run_id: str) -> str:
    return f"{FAILURES_PREFIX}/{_check_id(run_id, 'run_id')}.parquet"


def append_failures(store: Store, frame: pl.DataFrame) -> list[str]:
    """Add failure rows: one object per run, failures/<run_id>.parquet (rows appended to an existing one; a source
    already recorded for that run is replaced, so a replayed commit does not repeat it). Read-modify-write: call it
    from the single writer (the commit), not from many processes at once; threads of one process are serialised
    here."""
    failures = conform(frame, FAILURES).unique(subset=["source", "run_id"], keep="last", maintain_order=True)
    written: list[str] = []
    with _failures_lock:
        for (run_id,), part in failures.partition_by("run_id", as_dict=True, maintain_order=True).items():
            key = _failures_key(str(run_id))
            try:
                existing = upgrade_frame(_read_bytes(store.get_bytes(key)), FAILURES)
            except FileNotFoundError:
                existing = empty_frame(FAILURES)
            merged = pl.concat([existing, part], how="vertical").unique(subset=["source", "run_id"], keep="last",
                                                                        maintain_order=True)
            store.put_bytes(key, _table_bytes(merged, FAILURES))
            written.append(key)
    return written


def _failure_objects(store: Store) -> list[str]:
    return [k for k in store.list_objects(f"{FAILURES_PREFIX}/").get_column("key").to_list()
            if k.endswith(".parquet") and "/" not in k[len(FAILURES_PREFIX) + 1:]]


def read_failures(store: Store) -> pl.DataFrame:
    frames = [upgrade_frame(df, FAILURES) for _k, df in _read_all(store, _failure_objects(store))]
    if not frames:
        return empty_frame(FAILURES)
    return pl.concat(frames, how="vertical").sort("recorded_at", "source", maintain_order=True)


def clear_failures(store: Store, sources: Iterable[str]) -> int:
    """Remove the failure rows of `sources` (parsed OK since): affected objects are rewritten, or deleted when
    emptied. Returns the number of rows removed."""
    drop = list(set(sources))
    if not drop:
        return 0
    removed = 0
    with _failures_lock:
        for key, raw in _read_all(store, _failure_objects(store)):
            df = upgrade_frame(raw, FAILURES)
            kept = df.filter(~pl.col("source").is_in(drop))
            if kept.height == df.height:
                continue
            removed += df.height - kept.height
            if kept.is_empty():
                store.delete([key])
            else:
                store.put_bytes(key, _table_bytes(kept, FAILURES))
    return removed

