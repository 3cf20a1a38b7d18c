"""Prefect flows: `nightly` (incremental, idempotent) and `backfill` (given years), object storage → Parquet lake.

Each flow reads as its steps: list → plan batches → parse and stage (batch tasks, fanned out on the chosen task
runner) → commit the touched partitions → record the run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.postrun import post_run
from tasks import lake
from tasks.faults import fault_point
from tasks.parse import isolate
from tasks.parse.documents import PARSER_VERSION, UNKNOWN_YEAR, Document, ParsedBatch, parse_documents, parse_sidecar
from tasks.parse.pdf import SCAN_PAGE_BYTES
from tasks.storage import Store

SIDECAR_SUFFIX = ".meta.json"
STATE_COLUMNS = {
    "key": pl.String, "size": pl.Int64, "etag": pl.String, "content_hash": pl.String, "report_id": pl.String,
    "year": pl.Int32, "admin_level": pl.String, "parser_version": pl.String, "processed_at": pl.Datetime("us", "UTC"),
    "status": pl.String, "sidecar_etag": pl.String,
}


class PipelineSettings(BaseSettings):
    """Tunables, from flow parameters or GOVREPORTS_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="GOVREPORTS_")
    # at most this many objects per batch task. Each task costs ~100-250 ms of Prefect bookkeeping, and the run
    # ends in smaller batches (make_batches), so the last one leaves the other workers idle briefly. A worker's
    # peak memory, measured here on generated reports parsed `parse_chunk` at a time: 3,000 objects ~440 MiB,
    # 6,000 ~560 MiB (parsed all at once: 3,000 ~570 MiB, 6,000 ~910 MiB).
    batch_files: int = 6000
    batch_bytes: int = 64 * 1024**2   # …and at most this many bytes
    parse_chunk: int = 1000           # a batch is parsed this many objects at a time (the parser's memory)
    read_workers: int = 32            # concurrent S3 reads inside a batch (a local folder is read in order)
    max_object_bytes: int = 50 * 1024**2  # larger objects are refused with a reason, never read into memory
    workers: int | None = None        # task-runner workers (default: cores)
    # the writer lease: renewed every ttl/6 while the run lives, so a run killed on another machine blocks the
    # next one for at most this long (a dead process on this machine is noticed at once)
    lease_ttl_seconds: int = 1800
    lease_wait_seconds: float = 0.0   # a second run waits this long for the lease, then refuses (0: refuse at once)
    # Each file's parse has a budget (tasks/parse/isolate.py): over it, the file is refused with the reason and the rest of
    # its batch goes on. Documents are parsed in a child process of each worker, which a file can stall or kill
    # without taking its batch along; isolate_parse=False parses in the worker itself, with no budget.
    file_time_budget_s: float = 30.0
    file_memory_budget_mb: int = 1024
    isolate_parse: bool = True
    batch_retries: int = 2            # a batch task that raises is retried, then recorded in failures
    batch_retry_delay_seconds: float = 2.0  # first retry after this, then 5× longer
    # PDF attachments (scans among them, read by OCR at ~2-4 s a page on one core) go in batches of their own, at
    # most this many pages each (pages estimated from bytes: SCAN_PAGE_BYTES), after the text reports' batches
    scan_batch_pages: int = 24


# ---------------------------------------------------------------------------------------------------------------
# Planning (pure functions over small frames)

@dataclass
class Plan:
    batches: list[list[dict[str, Any]]]
    deleted: list[str]
    skipped: int
    seen: int
    sidecars: int
    ignored: int = 0  # control and hidden names (a segment starting with `_` or `.`, so `..` too): never reports


def split_listing(listing: pl.DataFrame) -> pl.DataFrame:
    """Report objects with their sidecar's key and etag (a sidecar change reprocesses its report)."""
    is_side = pl.col("key").str.ends_with(SIDECAR_SUFFIX)
    # control files and folders start with `_` or `.` (the truth file, a store's _tmp/, .DS_Store): never reports.
    # A literal `.` or `..` segment, or a name starting with `..` (`..年报/`), is an odd key, not a control file.
    hidden = pl.col("key").str.contains(r"(?:^|/)(?:_|\.[^./])")
    reports = listing.filter(~is_side & ~hidden)
    sides = listing.filter(is_side).select(
        key=pl.col("key").str.strip_suffix(SIDECAR_SUFFIX), sidecar_key=pl.col("key"), sidecar_etag=pl.col("etag"))
    return reports.join(sides, on="key", how="left")


def with_problems(listing: pl.DataFrame, problems: Sequence[tuple[str, str]]) -> pl.DataFrame:
    """The listing with what it could not list as objects too (`problem`: why; size 0, the reason as etag), so each
    becomes a failures row, and stays one, skipped, until the entry changes."""
    listing = listing.with_columns(problem=pl.lit(None, pl.String))
    if not problems:
        return listing
    extra = pl.DataFrame({"key": [k for k, _ in problems], "size": [0] * len(problems),
                          "etag": [f"unlisted: {r}" for _, r in problems], "problem": [r for _, r in problems]},
                         schema=listing.schema)
    return pl.concat([listing, extra]).unique("key", keep="first").sort("key")


def refuse_overlap(source: str, dest: str) -> None:
    """A lake inside its source folder (or the same folder) would read its own files as reports on the next run:
    refused before anything is written."""
    src, dst = Store(source), Store(dest)
    if src.is_local != dst.is_local:
        return
    if src.is_local:
        a, b = os.path.realpath(src.root), os.path.realpath(dst.root)
    elif src.bucket != dst.bucket:
        return
    else:
        a, b = "/" + src.prefix, "/" + dst.prefix
    if a == b or b.startswith(a.rstrip("/") + "/"):
        raise ValueError(f"dest {Store.redact(dest)} is {'the source folder' if a == b else 'inside the source'} "
                         f"{Store.redact(source)}: the next run would read the lake's own files as reports; give a "
                         "dest outside the source")


def plan_work(listing: pl.DataFrame, state: pl.DataFrame, settings: PipelineSettings, *, full: bool = False,
              years: Sequence[int] | None = None) -> Plan:
    objects = split_listing(listing)
    is_sidecar = listing.get_column("key").str.ends_with(SIDECAR_SUFFIX)
    joined = objects.join(state.select("key", s_etag="etag", s_size="size", s_version="parser_version", s_status="status",
                                       s_year="year", s_side="sidecar_etag"), on="key", how="left")
    unchanged = (
        (pl.col("s_etag") == pl.col("etag")) & (pl.col("s_size") == pl.col("size"))
        & (pl.col("s_version") == PARSER_VERSION) & pl.col("s_status").is_in(["parsed", "rejected"])
        & (pl.col("s_side").eq_missing(pl.col("sidecar_etag")))
    )
    changed = ~unchanged.fill_null(False)
    if full:
        todo = pl.lit(True)
    elif years:
        # a backfill reprocesses the given years fully, and anything new or changed (its year is not known yet)
        todo = pl.col("s_year").is_in(list(years)).fill_null(False) | changed
    else:
        todo = changed
    # batches follow the year, so a backfill's years run side by side within the runner's worker limit
    work = joined.filter(todo).sort(pl.col("s_year").fill_null(0), "key")
    deleted = sorted(set(state.get_column("key").to_list()) - set(objects.get_column("key").to_list()))
    text_items, pdf_items = split_pdfs(work.to_dicts())
    batches = make_batches(text_items, settings.batch_files, settings.batch_bytes,
                           workers=settings.workers or os.cpu_count() or 2)
    batches += page_batches(pdf_items, settings.scan_batch_pages, settings.batch_files)
    return Plan(batches=batches, deleted=deleted,
                skipped=objects.height - work.height, seen=objects.height, sidecars=int(is_sidecar.sum()),
                ignored=listing.height - objects.height - int(is_sidecar.sum()))


def make_batches(items: list[dict[str, Any]], max_files: int, max_bytes: int, *, workers: int = 1,
                 min_files: int = 250) -> list[list[dict[str, Any]]]:
    """Items, in order, in batches of at most `max_files` objects and `max_bytes` bytes.

    With several workers, a run ends in smaller and smaller batches (`workers` of half the size, then of a quarter…,
    down to `min_files`): the last batch to finish then ends soon after the others, instead of leaving them idle for
    up to a whole batch. A run too small for that is split evenly, in as many batches as the workers or a multiple.
    """
    n = len(items)
    sizes = [max_files] * -(-n // max_files)
    if workers > 1 and n:
        tail, size = [], max_files // 2
        while size >= min_files:
            tail += [size] * workers
            size //= 2
        if n >= sum(tail) + workers * max_files:
            head = n - sum(tail)
            sizes = [max_files] * (head // max_files) + ([head % max_files] if head % max_files else []) + tail
        else:  # too few to taper: even batches, as many as the workers or a multiple of them
            count = -(-len(sizes) // workers) * workers
            per = -(-n // count)
            sizes = [per] * -(-n // per)
    batches: list[list[dict[str, Any]]] = []
    start = 0
    for want in sizes:
        cur: list[dict[str, Any]] = []
        size = 0
        for it in items[start:start + want]:
            nbytes = int(it.get("size") or 0)
            if cur and size + nbytes > max_bytes:
                batches.append(cur)
                cur, size = [], 0
            cur.append({k: it.get(k) for k in ("key", "size", "etag", "sidecar_key", "sidecar_etag")})
            if it.get("problem"):
                cur[-1]["problem"] = it["problem"]
            size += nbytes
        if cur:
            batches.append(cur)
        start += want
    return batches




def split_pdfs(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(other objects, PDF attachments): a PDF may be a scan, which OCR reads at seconds a page, so PDFs are
    batched by pages and kept out of the text reports' batches (a run with a few scans reads its text reports at
    the usual speed; a backfill of scans spreads over the workers batch by batch)."""
    pdfs = [it for it in items if str(it["key"]).lower().endswith(".pdf")]
    if not pdfs:
        return items, []
    return [it for it in items if not str(it["key"]).lower().endswith(".pdf")], pdfs


def page_batches(items: list[dict[str, Any]], max_pages: int, max_files: int) -> list[list[dict[str, Any]]]:
    """PDFs in batches of at most `max_pages` estimated pages and `max_files` files (a larger file is a batch of its
    own). Pages are estimated from bytes, fractions kept: a text-layer PDF of 50 KiB counts as a sixth of a page, so
    the 30% of a real crawl that are text PDFs (~10 ms each) go some 140 to a batch, not 24 (a batch task costs ~0.1 s
    of hand-over: 24 a batch made a 20,000-report mix 250 batches of 0.3 s)."""
    batches: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    held, limit = 0, max_pages * SCAN_PAGE_BYTES  # pages counted in bytes: no float drift at the edge
    for it in items:
        n = int(it.get("size") or 0)
        if cur and (held + n > limit or len(cur) >= max_files):
            batches.append(cur)
            cur, held = [], 0
        cur.append({k: it.get(k) for k in ("key", "size", "etag", "sidecar_key", "sidecar_etag")})
        held += n
    if cur:
        batches.append(cur)
    return batches


# ---------------------------------------------------------------------------------------------------------------
# The batch task: read concurrently, parse, stage. Keys in, a small summary out.

@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10], task_run_name="parse-batch-{batch_id}")
def parse_batch(source: str, dest: str, run_id: str, batch_id: str, items_json: str,
                settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batch's items come as one JSON string: Prefect walks every parameter collection looking for futures, on
    both sides of the process pool, and a thousand dicts cost ~100 ms a task that way (measured here)."""
    return process_batch(source, dest, run_id, batch_id, json.loads(items_json), PipelineSettings(**(settings or {})))


def process_batch(source: str, dest: str, run_id: str, batch_id: str, items: list[dict[str, Any]],
                  settings: PipelineSettings) -> dict[str, Any]:
    fault_point("batch", batch_id)
    started_at = time.time()  # (epoch seconds: the flow lines batches up by worker to see the time between them)
    t0 = time.perf_counter()
    src, dst = Store(source), Store(dest)
    if settings.isolate_parse:  # its start-up overlaps the reads
        isolate.supervisor(settings.file_time_budget_s, settings.file_memory_budget_mb).start()
    keys = [it["key"] for it in items if not it.get("problem")]  # (what the listing refused is never read)
    side_keys = [it["sidecar_key"] for it in items if it.get("sidecar_key") and not it.get("problem")]
    results = src.read_many(keys + side_keys, max_workers=settings.read_workers, max_bytes=settings.max_object_bytes)
    by_key = {k: (data, err) for k, data, err in results}
    t1 = time.perf_counter()
    docs: list[Document] = []
    doc_items: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    rejected: set[str] = set()  # refused for good until their bytes change: never retried by the next run
    now = datetime.now(UTC)
    for it in items:
        if it.get("problem"):  # the listing found it unsafe or unreadable (a symlink loop, one leaving the source)
            failures.append({"source": it["key"], "run_id": run_id, "stage": "list", "error": it["problem"],
                             "recorded_at": now})
            rejected.add(it["key"])
            continue
        data, err = by_key.get(it["key"], (None, "not read"))
        if data is None:
            failures.append({"source": it["key"], "run_id": run_id, "stage": "read", "error": str(err), "recorded_at": now})
            continue
        meta, problem = None, None
        if it.get("sidecar_key"):
            sdata, serr = by_key.get(it["sidecar_key"], (None, None))
            meta, problem = parse_sidecar(sdata)
            if sdata is None and serr:
                problem = f"sidecar could not be read: {serr}"
        docs.append(Document(source=it["key"], data=data, meta=meta, meta_problem=problem))
        doc_items.append(it)
    if settings.isolate_parse:
        outcome = isolate.supervisor(settings.file_time_budget_s, settings.file_memory_budget_mb).parse(
            docs, settings.parse_chunk)
        frames_parsed, records = outcome.frames, outcome.records
        for i, reason in sorted(outcome.refused.items()):
            failures.append({"source": docs[i].source, "run_id": run_id, "stage": "parse", "error": reason,
                             "recorded_at": now})
            rejected.add(docs[i].source)
    else:
        parsed = _parse_in_chunks(docs, settings.parse_chunk)
        frames_parsed, records = parsed.frames, dict(enumerate(parsed.records))
    t2 = time.perf_counter()
    state_rows = [{
        "key": it["key"], "size": it.get("size"), "etag": it.get("etag"), "content_hash": None, "report_id": rec["report_id"],
        "year": rec["year"] if isinstance(rec["year"], int) else UNKNOWN_YEAR,
        "admin_level": rec["admin_level"] or "unknown", "parser_version": PARSER_VERSION, "processed_at": now,
        "status": "parsed", "sidecar_etag": it.get("sidecar_etag"),
    } for i, it in enumerate(doc_items) if (rec := records.get(i)) is not None]
    item_of = {it["key"]: it for it in items}
    for f in failures:
        it = item_of[f["source"]]
        state_rows.append({"key": it["key"], "size": it.get("size"), "etag": it.get("etag"), "content_hash": None,
                           "report_id": None, "year": None, "admin_level": None, "parser_version": PARSER_VERSION,
                           "processed_at": now, "status": "rejected" if it["key"] in rejected else "failed",
                           "sidecar_etag": it.get("sidecar_etag")})
    parsed = ParsedBatch(frames=frames_parsed)
    reports = parsed.frames["reports"]
    hashes = dict(zip(reports.get_column("report_id").to_list(), reports.get_column("content_hash").to_list(), strict=True))
    for row in state_rows:
        if row["report_id"]:
            row["content_hash"] = hashes.get(row["report_id"])
    frames = dict(parsed.frames)
    frames["_keys"] = pl.DataFrame(state_rows, schema=STATE_COLUMNS)
    frames["_failures"] = pl.DataFrame(failures, schema=lake.FAILURES.polars_schema)
    lake.stage_frames(dst, run_id, batch_id, frames)
    t3 = time.perf_counter()
    return {
        "batch_id": batch_id, "files": len(items), "parsed": len(state_rows) - len(failures),
        "failed": len(failures), "bytes": sum(len(d.data) for d in docs),
        "findings": dict(Counter(parsed.frames["findings"].get_column("rule").to_list())),
        "read_s": t1 - t0, "parse_s": t2 - t1, "stage_s": t3 - t2,
        "worker": f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}", "started_at": started_at,
        "ended_at": time.time(),
    }


def _parse_in_chunks(docs: list[Document], chunk: int) -> ParsedBatch:
    """parse_documents over `chunk` documents at a time, the frames joined and made unique on each table's grain
    as one call over the whole batch makes them (a report's first document wins). A call's working memory grows
    with its documents (3,000 generated reports: +265 MiB at once, +122 MiB in chunks of 1,000, same time), so a
    batch's size is bounded by its frames, not by the parser's intermediates."""
    if len(docs) <= chunk:
        return parse_documents(docs)
    parts = [parse_documents(docs[i:i + chunk]) for i in range(0, len(docs), chunk)]
    frames = {name: pl.concat([p.frames[name] for p in parts], how="vertical")
              .unique(subset=lake.grain(name), keep="first", maintain_order=True) for name in parts[0].frames}
    return ParsedBatch(frames=frames, records=[rec for p in parts for rec in p.records])


# ---------------------------------------------------------------------------------------------------------------
# Commit: one writer rebuilds every touched partition from the lake and the staged batches.

def commit_run(dest: str, run_id: str, state: pl.DataFrame, deleted: Sequence[str],
               failed_batches: Sequence[tuple[str, list[dict[str, Any]], str]], *,
               batches: Collection[str] | None = None, recorded_at: datetime | None = None,
               lease: lake.Lease | None = None) -> dict[str, Any]:
    """Fold the run's staged batches (`batches`, or every complete one) into the lake, then the failures, then the
    state, then drop the staging. Deterministic and idempotent given the same inputs, so a commit that died half
    way is finished by replaying it (`_recover_commits`)."""
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
        keys_new = pl.DataFrame(schema=STATE_COLUMNS)
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
    new_state = pl.concat([state.filter(~pl.col("key").is_in(list(changed_keys))), keys_new.select(list(STATE_COLUMNS))],
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
            fixup = functools.partial(_with_sources, sources=sources)
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


def _recover_commits(dest: str, lease: lake.Lease, run_id: str) -> list[str]:
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


def _with_sources(frame: pl.DataFrame, sources: pl.DataFrame) -> pl.DataFrame:
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


# ---------------------------------------------------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_on_signals(lease: lake.Lease):
    """SIGTERM or SIGINT (a Ctrl-C, a scheduler stopping the job, Prefect cancelling the flow run) ends the run at
    once, as a kill would: the task workers and parser processes are killed, the lease let go (at most 5 s), and the
    process exits 128 + the signal's number. Nothing is rolled back: a commit under way is finished by the next run
    from its manifest, batches staged without a commit are redone (state was not advanced). Only where the flow runs
    in the main thread (the CLI, a deployment's flow-run process); elsewhere Python cannot take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, _frame: Any) -> None:
        for sig in STOP_SIGNALS:  # a second signal while stopping changes nothing
            signal.signal(sig, signal.SIG_IGN)
        with contextlib.suppress(Exception):
            get_run_logger().warning("%s: stopping now (the next run finishes or discards what this one left)",
                                     signal.Signals(signum).name)
        _kill_descendants()
        releaser = threading.Thread(target=lease.release, daemon=True)
        releaser.start()
        releaser.join(5)
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _kill_descendants() -> None:
    """SIGKILL every process below this one (Linux /proc; elsewhere nothing): workers, parsers, Prefect's server."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def _workers_share_api(runner: str):
    """Worker processes report to this flow's Prefect API. Without PREFECT_API_URL in their environment each
    would start a temporary server of its own: ~10 s before its first task and ~650 MiB (measured here), per
    worker. With an API configured (a deployment) there is nothing to do; threads share the flow's client."""
    from prefect.context import FlowRunContext
    from prefect.settings import get_current_settings

    ctx = FlowRunContext.get()
    if runner == "threads" or get_current_settings().api.url or ctx is None or "PREFECT_API_URL" in os.environ:
        yield
        return
    os.environ["PREFECT_API_URL"] = str(ctx.client.api_url).rstrip("/")  # inherited by the workers spawned now
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


def _submission_window(runner: str, dask_address: str | None, workers: int | None) -> int:
    """How many batch tasks are submitted ahead: twice the workers, so a worker never waits for the next batch, and
    batches start in plan order give or take a few. Prefect hands submissions to the pool from resolver threads, so
    a run submitted all at once started its batches out of order: here a full batch of 6,000 once ran after the
    run's small closing batches, and the other worker sat idle ~6 s at the end (the tapering undone). An existing
    Dask cluster, whose size the flow does not know, gets every batch at once."""
    if runner == "dask" and dask_address:
        return 1 << 30
    return 2 * (workers or os.cpu_count() or 2)


def make_task_runner(runner: str, dask_address: str | None = None, workers: int | None = None):
    """local = processes (parsing is CPU-bound); threads; dask (prefect-dask: a LocalCluster or an existing cluster)."""
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    workers = workers or os.cpu_count() or 2
    if runner in ("local", "processes"):
        return ProcessPoolTaskRunner(max_workers=workers)
    if runner == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    raise ValueError(f"unknown runner {runner!r}: choose local, processes, threads or dask")


@dataclass
class RunSummary:
    run_id: str
    flow: str
    source: str
    dest: str
    started_at: datetime
    files_seen: int = 0
    skipped: int = 0
    parsed: int = 0
    failed: int = 0
    deleted: int = 0
    batches: int = 0
    failed_batches: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    status: str = "running"

    def row(self) -> dict[str, Any]:
        wall = self.timings.get("wall_s", 0.0)
        return {
            "run_id": self.run_id, "flow": self.flow, "source": Store.redact(self.source), "dest": Store.redact(self.dest),
            "started_at": self.started_at, "finished_at": datetime.now(UTC), "status": self.status,
            "files_seen": self.files_seen, "skipped": self.skipped, "parsed": self.parsed, "failed": self.failed,
            "deleted": self.deleted, "batches": self.batches, "failed_batches": self.failed_batches,
            "findings": sum(self.findings.values()), "wall_s": wall,
            "files_per_s": (self.parsed / wall) if wall else None, "parser_version": PARSER_VERSION,
        }


def run_pipeline(flow_name: str, source: str, dest: str, *, full: bool = False, years: Sequence[int] | None = None,
                 runner: str = "local", dask_address: str | None = None, batch_files: int | None = None,
                 batch_bytes: int | None = None, workers: int | None = None, progress: bool = False,
                 raise_on_partial: bool = True) -> RunSummary:
    for name, url in (("source", source), ("dest", dest)):
        if not str(url or "").strip():
            raise ValueError(f"{name} is empty: give a folder or s3://bucket/prefix (an empty URL would mean the "
                             "worker's current directory)")
    refuse_overlap(source, dest)
    logger = get_run_logger()
    overrides = {k: v for k, v in {"batch_files": batch_files, "batch_bytes": batch_bytes, "workers": workers}.items() if v}
    settings = PipelineSettings(**overrides)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    summary = RunSummary(run_id, flow_name, source, dest, datetime.now(UTC))
    t_start = time.perf_counter()
    src, dst = Store(source), Store(dest)
    lease = lake.acquire_lease(dst, owner=run_id, ttl_s=settings.lease_ttl_seconds, wait_s=settings.lease_wait_seconds)
    lease.keep_alive(settings.lease_ttl_seconds)
    failed_batches: list[tuple[str, list[dict[str, Any]], str]] = []
    stop_on_signals = _stop_on_signals(lease)
    try:
        stop_on_signals.__enter__()
        # a run that died: a commit it had started is finished from its manifest; batches it staged without
        # committing are redone from their sources (state was not advanced); its temporary files go
        for old in _recover_commits(dest, lease, run_id):
            logger.warning("%s: run %s had died during its commit: finished it from its staged batches", run_id, old)
        lake.clear_staging(dst)
        dst.clean_tmp()
        t0 = time.perf_counter()
        listing = src.list_objects()
        listing = with_problems(listing, src.listing_problems)
        fault_point("listing")
        state = lake.read_state(dst)
        plan = plan_work(listing, state, settings, full=full, years=years)
        summary.timings["list_plan_s"] = time.perf_counter() - t0
        summary.files_seen, summary.skipped, summary.deleted = plan.seen, plan.skipped, len(plan.deleted)
        summary.batches = len(plan.batches)
        logger.info("%s: %d objects, %d to process in %d batches, %d unchanged, %d deleted (%d sidecars, %d control "
                    "or hidden names ignored)", run_id, plan.seen, plan.seen - plan.skipped, len(plan.batches),
                    plan.skipped, len(plan.deleted), plan.sidecars, plan.ignored)
        task_totals: Counter[str] = Counter()
        done_batches: list[str] = []
        spans: list[tuple[str, float, float]] = []  # (worker, started, ended) of each batch, epoch seconds
        if plan.batches:
            t1, phase_start = time.perf_counter(), time.time()
            settings_dict = settings.model_dump()
            delays = [settings.batch_retry_delay_seconds * 5**i for i in range(settings.batch_retries)]
            batch_task = parse_batch.with_options(retries=settings.batch_retries, retry_delay_seconds=delays or 0)
            window = _submission_window(runner, dask_address, settings.workers)
            with _workers_share_api(runner), make_task_runner(runner, dask_address, settings.workers) as tr:
                todo = list(enumerate(plan.batches))[::-1]  # popped from the end: in plan order
                futures: dict[Any, tuple[str, list[dict[str, Any]]]] = {}
                bar = _progress(sum(len(items) for items in plan.batches), progress)
                while todo or futures:
                    while todo and len(futures) < window:
                        i, items = todo.pop()
                        bid = f"{i:05d}"
                        fut = tr.submit(batch_task, parameters={"source": source, "dest": dest, "run_id": run_id,
                                                                 "batch_id": bid, "items_json": json.dumps(items),
                                                                 "settings": settings_dict})
                        futures[fut] = (bid, items)
                    first_done = as_completed(list(futures))
                    fut = next(first_done)
                    first_done.close()
                    bid, items = futures.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # recorded in failures; the rest commits; the run says partial
                        logger.error("batch %s failed: %s", bid, Store.redact(f"{type(exc).__name__}: {exc}"))
                        failed_batches.append((bid, items, Store.redact(f"{type(exc).__name__}: {exc}")))
                        bar.update(len(items))
                        continue
                    done_batches.append(bid)
                    summary.parsed += res["parsed"]
                    summary.failed += res["failed"]
                    for rule, n in res["findings"].items():
                        summary.findings[rule] = summary.findings.get(rule, 0) + n
                    for k in ("read_s", "parse_s", "stage_s"):
                        task_totals[k] += res[k]
                    spans.append((res["worker"], res["started_at"], res["ended_at"]))
                    bar.update(len(items))
                    bar.set_postfix(parsed=summary.parsed, failed=summary.failed, refresh=False)
                bar.close()
            summary.timings["batches_s"] = time.perf_counter() - t1
            summary.timings.update(_worker_idle(spans, phase_start, time.time()))
            summary.timings.update({f"task_{k}": v for k, v in task_totals.items()})
        summary.failed_batches = len(failed_batches)
        summary.failed += sum(len(items) for _, items, _ in failed_batches)
        summary.status = "partial" if failed_batches else "completed"
        fault_point("after_stage")
        if plan.batches or plan.deleted:
            recorded_at = datetime.now(UTC)
            # the commit's inputs first: a run dying from here on is finished by the next one
            lake.write_commit_manifest(dst, run_id, {
                "batches": sorted(done_batches), "deleted": plan.deleted, "failed_batches": failed_batches,
                "recorded_at": recorded_at.isoformat(), "summary": summary.row()})
            commit = commit_run(dest, run_id, state, plan.deleted, failed_batches, batches=done_batches,
                                recorded_at=recorded_at, lease=lease)
            summary.rows_written = commit["rows_written"]
            summary.timings["commit_s"] = commit["commit_s"]
        summary.timings["wall_s"] = time.perf_counter() - t_start
        lake.append_run(dst, summary.row())
        _artifact(summary)
        logger.info("%s %s: %d parsed, %d failed, %d skipped in %.1f s", run_id, summary.status, summary.parsed,
                    summary.failed, summary.skipped, summary.timings["wall_s"])
    finally:
        stop_on_signals.__exit__(None, None, None)
        lease.release()
    if failed_batches and raise_on_partial:
        raise RuntimeError(f"run {run_id} partial: {len(failed_batches)} of {len(plan.batches)} batches failed "
                           f"(recorded in failures; the rest committed; the next run retries them)")
    return summary


def _worker_idle(spans: Sequence[tuple[str, float, float]], start: float, end: float) -> dict[str, float]:
    """Where the batch phase's workers were not in a batch, summed over workers: before their first batch (start-up:
    spawning, imports), between batches (the task engine's bookkeeping, waiting for the next submission) and after
    their last (the run's tail). A worker is a host, process and thread. Workers on other hosts are timed by their
    own clocks against this one's: a skewed clock skews their figures (never below zero)."""
    by_worker: dict[str, list[tuple[float, float]]] = {}
    for worker, a, b in spans:
        by_worker.setdefault(worker, []).append((a, b))
    startup = between = tail = 0.0
    for runs in by_worker.values():
        runs.sort()
        startup += max(runs[0][0] - start, 0.0)
        between += sum(max(nxt[0] - prev[1], 0.0) for prev, nxt in pairwise(runs))
        tail += max(end - runs[-1][1], 0.0)
    return {"workers_seen": float(len(by_worker)), "worker_startup_s": startup, "worker_between_s": between,
            "worker_tail_s": tail}


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    # counted in files, advanced as each batch lands (on stderr; the CLI turns it on for a terminal or --progress)
    return tqdm(total=total, desc="reports", unit="file", unit_scale=True, disable=not enabled, leave=True,
                mininterval=0.5)


def _artifact(summary: RunSummary) -> None:
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.row().items() if k not in ("source", "dest"))
    findings = "\n".join(f"| {k} | {v} |" for k, v in sorted(summary.findings.items(), key=lambda kv: -kv[1])) or "| — | 0 |"
    written = "\n".join(f"| {k} | {v} |" for k, v in summary.rows_written.items()) or "| — | 0 |"
    md = (f"# govreports run {summary.run_id}\n\n| field | value |\n|---|---|\n{rows}\n\n"
          f"## Findings by rule\n\n| rule | count |\n|---|---|\n{findings}\n\n"
          f"## Rows in rewritten partitions\n\n| table | rows |\n|---|---|\n{written}\n")
    try:
        create_markdown_artifact(md, key="govreports-run-summary", description=f"{summary.flow} {summary.status}")
    except Exception as exc:  # an artifact must never fail the run
        get_run_logger().warning("could not create the run artifact: %s", exc)


def _finish(dest: str, s: RunSummary) -> dict[str, Any]:
    """After a committed run: cross-year findings and the data-quality report (flows/postrun.py), then the result.
    An idle run (nothing parsed or deleted) changed nothing, so the last report stands. A failure here is logged
    and returned, never raised: the lake is already committed. A partial run raises after this."""
    out = {**s.row(), "timings": dict(s.timings)}
    for_run = s.run_id if (s.parsed or s.deleted or s.failed) else _post_run_pending(dest)
    if for_run:
        t0 = time.perf_counter()
        try:
            out["post_run"] = post_run(dest, for_run, s.row())
        except Exception as exc:
            get_run_logger().error("post-run steps failed (the lake is committed): %s", Store.redact(f"{type(exc).__name__}: {exc}"))
            out["post_run_error"] = Store.redact(f"{type(exc).__name__}: {exc}")
        out["timings"]["post_run_s"] = time.perf_counter() - t0
    if s.status == "partial":
        raise RuntimeError(f"run {s.run_id} partial: {s.failed_batches} of {s.batches} batches failed "
                           f"(recorded in failures; the rest committed; the next run retries them)")
    return out


def _post_run_pending(dest: str) -> str | None:
    """The last run that changed the lake, if its post-run steps never finished (it was killed after its commit)."""
    try:
        runs = lake.read_runs(Store(dest))
        if runs.is_empty() or "parsed" not in runs.columns:
            return None
        changed = runs.filter((pl.col("parsed") > 0) | (pl.col("deleted") > 0) | (pl.col("failed") > 0))
        if changed.is_empty():
            return None
        last = changed.get_column("run_id").to_list()[-1]
        return None if Store(dest).exists(f"_reports/{last}.html") else last
    except Exception as exc:  # only a check: never a reason to fail an idle run
        get_run_logger().warning("could not check for unfinished post-run steps: %s", exc)
        return None


@flow(name="nightly", log_prints=True)
def nightly(source: str, dest: str, full: bool = False, runner: str = "local", dask_address: str | None = None,
            batch_files: int | None = None, batch_bytes: int | None = None, workers: int | None = None,
            progress: bool = False) -> dict[str, Any]:
    """Process what is new or changed since the last run; remove what the source deleted."""
    s = run_pipeline("nightly", source, dest, full=full, runner=runner, dask_address=dask_address,
                     batch_files=batch_files, batch_bytes=batch_bytes, workers=workers, progress=progress,
                     raise_on_partial=False)
    return _finish(dest, s)


@flow(name="backfill", log_prints=True)
def backfill(years: list[int], source: str, dest: str, runner: str = "local", dask_address: str | None = None,
             batch_files: int | None = None, workers: int | None = None, progress: bool = False) -> dict[str, Any]:
    """Reprocess the given report years fully (years in parallel, within the runner's worker limit)."""
    s = run_pipeline("backfill", source, dest, years=sorted(set(years)), runner=runner, dask_address=dask_address,
                     batch_files=batch_files, workers=workers, progress=progress, raise_on_partial=False)
    return _finish(dest, s)
