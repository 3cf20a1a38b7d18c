"""The lake's commit: one writer folds a run's staged batches into the touched partitions, then the failures, then
the state; its inputs go to a manifest first, so a commit that died half way is finished by the next run
(`recover_commits`) from the same inputs, giving the same lake byte for byte."""

from __future__ import annotations

import functools
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from tasks import lake
from tasks.faults import fault_point
from tasks.storage import Store

FailedBatch = tuple[str, list[dict[str, Any]], str]  # (batch id, its items, the error)


def commit_staged(dest: str, run_id: str, state: pl.DataFrame, deleted: Sequence[str],
                  failed_batches: Sequence[FailedBatch], *, batches: Collection[str], summary_row: Mapping[str, Any],
                  lease: lake.Lease | None = None) -> dict[str, Any]:
    """Write the commit's inputs to the run's manifest (a run dying from here on is finished by the next one,
    `recover_commits`), then commit them (`commit_run`)."""
    recorded_at = datetime.now(UTC)
    lake.write_commit_manifest(Store(dest), run_id, {
        "batches": sorted(batches), "deleted": list(deleted), "failed_batches": list(failed_batches),
        "recorded_at": recorded_at.isoformat(), "summary": dict(summary_row)})
    return commit_run(dest, run_id, state, deleted, failed_batches, batches=batches, recorded_at=recorded_at,
                      lease=lease)


def commit_run(dest: str, run_id: str, state: pl.DataFrame, deleted: Sequence[str],
               failed_batches: Sequence[FailedBatch], *,
               batches: Collection[str] | None = None, recorded_at: datetime | None = None,
               lease: lake.Lease | None = None) -> dict[str, Any]:
    """Fold the run's staged batches (`batches`, or every complete one) into the lake, then the failures, then the
    state, then drop the staging. Deterministic and idempotent given the same inputs, so a commit that died half
    way is finished by replaying it (`recover_commits`)."""
    store = Store(dest)
    t0 = time.perf_counter()
    if lease is not None:
        lease.check()
    # one staged table at a time: the whole run's rows of all five tables at once would be the job's memory peak
    staged = lake.staged_keys(store, run_id, batches)

    def read(name: str) -> pl.DataFrame | None:
        return lake.read_staged_frame(store, name, staged.get(name, []))

    keys_new = read("_keys")
    if keys_new is None:
        keys_new = pl.DataFrame(schema=lake.STATE_SCHEMA)
    now = recorded_at or datetime.now(UTC)
    staged_failures = read("_failures")
    failures = [staged_failures if staged_failures is not None else pl.DataFrame(schema=lake.FAILURES.polars_schema)]
    failed_keys: list[str] = []
    for batch_id, items, error in failed_batches:
        failures.append(pl.DataFrame([{"source": it["key"], "run_id": run_id, "stage": "batch", "error": f"batch {batch_id}: {error}",
                                       "recorded_at": now} for it in items], schema=lake.FAILURES.polars_schema))
        failed_keys += [it["key"] for it in items]
    failures_df = pl.concat(failures)

    changed_keys = set(keys_new.get_column("key").to_list()) | set(deleted)
    old_touched = state.filter(pl.col("key").is_in(list(changed_keys)))
    new_state = pl.concat([state.filter(~pl.col("key").is_in(list(changed_keys))), keys_new.select(list(lake.STATE_SCHEMA))],
                          how="vertical_relaxed").sort("key")
    # a failed read keeps the last good parse of that key, if any, in the lake: drop only what is really gone
    live = new_state.filter(pl.col("status") == "parsed")
    live_ids = set(live.get_column("report_id").to_list())
    drop_ids = (set(old_touched.get_column("report_id").drop_nulls().to_list()) - live_ids)
    failed_now = keys_new.filter(pl.col("status") == "failed").get_column("key").to_list()
    # …and so does a key of a failed batch; either way its etag is forgotten, so the next run tries it again
    keep_old = state.filter(pl.col("key").is_in(failed_now + failed_keys) & (pl.col("status") == "parsed"))
    if keep_old.height:
        drop_ids -= set(keep_old.get_column("report_id").to_list())
        new_state = pl.concat([new_state.filter(~(pl.col("key").is_in(keep_old.get_column("key").to_list()))),
                               keep_old.with_columns(etag=pl.lit(None, pl.String))]).sort("key")
        live = new_state.filter(pl.col("status") == "parsed")

    partitions = {(int(y), str(lv)) for y, lv in old_touched.filter(pl.col("year").is_not_null())
                  .select("year", "admin_level").unique().iter_rows()}
    # each touched report's source and duplicates, from every live key holding it (touched or not); the new rows'
    # reports are all touched. Kept as frames: at 100k reports a Python set of ids rebuilt per partition cost seconds
    touched_ids = pl.concat([old_touched.get_column("report_id"), keys_new.get_column("report_id")]).drop_nulls().unique()
    sources = (live.filter(pl.col("report_id").is_in(touched_ids.implode())).sort("key")
               .group_by("report_id", maintain_order=True)
               .agg(source=pl.col("key").first(), duplicate_sources=pl.col("key").slice(1)))
    # a table's staged rows are read a few batches at a time and split by partition as read, and each partition
    # leaves memory once written: the run's rows are never all in one frame (that was the job's memory peak)
    in_several = lake.staged_ids_in_several_batches(store, staged.get("reports", []))
    rows_written: dict[str, int] = {}
    for name in lake.TABLE_NAMES:
        if lease is not None:  # a run whose lease was lost (renewals failed, taken over) stops writing here
            lease.check()
        new_parts = lake.read_staged_partitions(store, name, staged.get(name, []), in_several=in_several)
        fixup = None
        if name == "reports":
            fixup = functools.partial(with_sources, sources=sources)
            new_parts = {part: fixup(frame) for part, frame in new_parts.items()}
        # (replace_partitions adds the partitions the new rows fall in to the old partitions of the touched keys,
        # and empties new_parts as it writes them)
        rows_written[name] = lake.replace_partitions(store, name, new_parts, drop_report_ids=drop_ids,
                                                     partitions=partitions, fixup=fixup)
        del new_parts
    # failures hold each object's latest open failure: what this run settled (parsed, deleted or failed again)
    # loses its older rows, then this run's failures are added
    lake.clear_failures(store, changed_keys | set(failed_keys))
    if failures_df.height:
        lake.append_failures(store, failures_df)
    if lease is not None:
        lease.check()
    fault_point("before_state")
    lake.write_state(store, new_state)
    fault_point("after_state")
    lake.clear_staging(store, run_id)
    return {"rows_written": rows_written, "partitions": len(partitions), "commit_s": time.perf_counter() - t0,
            "failures_recorded": failures_df.height, "dropped_reports": len(drop_ids)}


def recover_commits(dest: str, lease: lake.Lease, run_id: str) -> list[str]:
    """Finish the commits of runs that died while committing (their manifest is still in _staging): the same
    inputs give the lake those runs would have left. Their _runs row is written then, marked recovered_by."""
    store = Store(dest)
    done: list[str] = []
    for manifest in lake.pending_commits(store):
        old = manifest["run_id"]
        failed = [(str(b), list(items), str(err)) for b, items, err in manifest.get("failed_batches", [])]
        recorded_at = datetime.fromisoformat(manifest["recorded_at"]) if manifest.get("recorded_at") else None
        commit_run(dest, old, lake.read_state(store), manifest.get("deleted", []), failed,
                   batches=manifest.get("batches"), recorded_at=recorded_at, lease=lease)
        row = dict(manifest.get("summary") or {"run_id": old})
        for k in ("started_at", "finished_at"):
            if isinstance(row.get(k), str):
                row[k] = datetime.fromisoformat(row[k])
        row.update(finished_at=datetime.now(UTC), recovered_by=run_id)
        lake.append_run(store, row)
        done.append(old)
    return done


def with_sources(frame: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
    """The report's source is its first key; other keys with the same bytes are listed as duplicates. Rows of
    reports missing from `sources` keep theirs."""
    if frame.is_empty():
        return frame
    cols = frame.columns
    joined = frame.join(sources.rename({"source": "_src", "duplicate_sources": "_dups"}), on="report_id", how="left")
    mask = pl.col("_src").is_not_null()
    return joined.with_columns(
        source=pl.when(mask).then(pl.col("_src")).otherwise(pl.col("source")),
        duplicate_sources=pl.when(mask).then(
            pl.when(pl.col("_dups").list.len() > 0).then(pl.col("_dups")).otherwise(pl.lit(None, pl.List(pl.String))))
        .otherwise(pl.col("duplicate_sources")),
    ).select(cols)
