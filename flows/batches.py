"""The parse and OCR steps: one Prefect task per batch of files (read concurrently, parse, stage; keys in, a small
summary out), submitted a window at a time to the chosen task runner, every future resolved and every failure kept.

A parse batch does not OCR a scan it meets (a PDF of page images with no text layer): it hands it back with its real
page count (`Parsed.deferred`), so the text reports sharing its batch never wait seconds a page for it. The flow then
reads those scans in OCR batches of their own, sized by pages (flows/plan.py `ocr_batches`), on the same runner
(`batch_runner`), as its next step (`read_scans`, tasks `ocr-batch-NNNNN`); both steps stage, one commit follows.
Measured here (`python -m tests.bench.bench_ocr_lane`, 1,000 generated text reports with and without 30 one-page
scans, local runner, 2 workers, runs interleaved, the machine's 2 cores loaded 10-13 deep by other jobs): with the
scans left unread (`--ocr-off`, 6 pairs) the text reports were staged at 14.97 s of flow time against 14.86 s
(median, ratio 1.007; CPU of the run 18.0 s against 18.5 s); with OCR (3 pairs) 14.1 s against 11.1 s, pairs
0.70-1.74 (noise), then 235-360 s of OCR batches, all 30 scans landed."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from flows.plan import OCR_OFF_SUFFIX, ocr_batches
from flows.settings import PipelineSettings, RunSettings
from tasks import lake
from tasks.faults import fault_point
from tasks.lake.commit import FailedBatch
from tasks.parse import isolate
from tasks.parse.documents import PARSER_VERSION, UNKNOWN_YEAR, Document, ParsedBatch, parse_documents, parse_sidecar
from tasks.storage import Store


@dataclass
class Parsed:
    """What the batch tasks of a run did: the batches staged, those that failed for good, and their sums."""

    done_batches: list[str] = field(default_factory=list)
    failed_batches: list[FailedBatch] = field(default_factory=list)
    parsed: int = 0
    failed: int = 0  # files refused or unreadable inside staged batches (a failed batch's files: `failed_files`)
    findings: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    deferred: list[dict[str, Any]] = field(default_factory=list)  # scans left to OCR: their items, with `pages`
    ocr_batches: int = 0
    scans: int = 0       # scans given to the OCR batches, and their pages (at most OCR's page limit each)
    ocr_pages: int = 0

    @property
    def failed_files(self) -> int:
        return sum(len(items) for _, items, _ in self.failed_batches)

    def add_scans(self, ocr: Parsed) -> None:
        """The OCR step's outcome folded in (its timings as ocr_*: the parse step's stay the text reports')."""
        self.done_batches += ocr.done_batches
        self.failed_batches += ocr.failed_batches
        self.parsed += ocr.parsed
        self.failed += ocr.failed
        for rule, n in ocr.findings.items():
            self.findings[rule] = self.findings.get(rule, 0) + n
        self.ocr_batches, self.scans, self.ocr_pages = ocr.ocr_batches, ocr.scans, ocr.ocr_pages
        self.timings.update({f"ocr_{k}": v for k, v in ocr.timings.items()})


@contextlib.contextmanager
def batch_runner(settings: RunSettings, needed: bool = True):
    """The run's task runner, shared by its parse and OCR steps (a Dask cluster or a process pool started once);
    None when the run has no batches (an idle rerun starts no workers)."""
    if not needed:
        yield None
        return
    with (_workers_share_api(settings.runner), _quiet_local_cluster(settings.runner, settings.dask_address),
          make_task_runner(settings.runner, settings.dask_address, settings.workers) as tr):
        yield tr


def read_scans(settings: RunSettings, run_id: str, scans: Sequence[dict[str, Any]], runner: Any = None, *,
               first_id: int = 0) -> Parsed:
    """The OCR step: the scans the parse batches handed back, read in `ocr-batch-NNNNN` tasks sized by real pages
    (numbered on from the parse batches: staged side by side, one commit)."""
    batches = ocr_batches(scans, settings.scan_batch_pages, workers=settings.workers or os.cpu_count() or 2)
    out = parse_batches(settings, run_id, batches, runner, first_id=first_id, task_fn=ocr_batch)
    out.ocr_batches = len(batches)
    out.scans = sum(len(b) for b in batches)
    out.ocr_pages = sum(max(1, min(isolate.SCAN_MAX_PAGES, int(it.get("pages") or 1))) for b in batches for it in b)
    return out


def parse_batches(settings: RunSettings, run_id: str, batches: Sequence[list[dict[str, Any]]], runner: Any = None,
                  *, first_id: int = 0, task_fn: Any = None) -> Parsed:
    """Submit one `parse_batch` task (or `task_fn`'s) per batch on the run's task runner (`runner`, else one of its
    own), a window ahead of the workers (in plan order), and wait for every one: a batch that still fails after its
    retries is kept (it goes to failures; the rest commits; the run says partial), never lost in a future nobody
    resolved. Batch ids count from `first_id`."""
    out = Parsed()
    if not batches:
        return out
    if runner is None:
        with batch_runner(settings) as tr:
            return parse_batches(settings, run_id, batches, tr, first_id=first_id, task_fn=task_fn)
    logger = get_run_logger()
    task_totals: Counter[str] = Counter()
    spans: list[tuple[str, float, float]] = []  # (worker, started, ended) of each batch, epoch seconds
    t1, phase_start = time.perf_counter(), time.time()
    batch_settings = settings.batch_settings()
    delays = [settings.batch_retry_delay_seconds * 5**i for i in range(settings.batch_retries)]
    batch_task = (task_fn or parse_batch).with_options(retries=settings.batch_retries,
                                                       retry_delay_seconds=delays or 0)
    window = _submission_window(settings.runner, settings.dask_address, settings.workers)
    with contextlib.nullcontext(runner) as tr:  # (the runner's context is the caller's: batch_runner)
        todo = list(enumerate(batches, start=first_id))[::-1]  # popped from the end: in plan order
        futures: dict[Any, tuple[str, list[dict[str, Any]]]] = {}
        bar = _progress(sum(len(items) for items in batches), settings.progress)
        while todo or futures:
            while todo and len(futures) < window:
                i, items = todo.pop()
                bid = f"{i:05d}"
                fut = tr.submit(batch_task, parameters={"source": settings.source, "dest": settings.dest,
                                                         "run_id": run_id, "batch_id": bid,
                                                         "items_json": json.dumps(items), "settings": batch_settings})
                futures[fut] = (bid, items)
            first_done = as_completed(list(futures))
            fut = next(first_done)
            first_done.close()
            bid, items = futures.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:  # recorded in failures; the rest commits; the run says partial
                logger.error("batch %s failed: %s", bid, Store.redact(f"{type(exc).__name__}: {exc}"))
                out.failed_batches.append((bid, items, Store.redact(f"{type(exc).__name__}: {exc}")))
                bar.update(len(items))
                continue
            out.done_batches.append(bid)
            out.deferred += res.get("deferred", [])
            out.parsed += res["parsed"]
            out.failed += res["failed"]
            for rule, n in res["findings"].items():
                out.findings[rule] = out.findings.get(rule, 0) + n
            for k in ("read_s", "parse_s", "stage_s"):
                task_totals[k] += res[k]
            spans.append((res["worker"], res["started_at"], res["ended_at"]))
            bar.update(len(items))
            bar.set_postfix(parsed=out.parsed, failed=out.failed, refresh=False)
        bar.close()
    out.timings["batches_s"] = time.perf_counter() - t1
    out.timings.update(_worker_idle(spans, phase_start, time.time()))
    out.timings.update({f"task_{k}": v for k, v in task_totals.items()})
    return out


# ---------------------------------------------------------------------------------------------------------------
# The batch task: read concurrently, parse, stage. Keys in, a small summary out. Its retries are set by the flow
# from the settings (batch_retries), nowhere else.

@task(name="parse-batch", cache_policy=NO_CACHE, task_run_name="parse-batch-{batch_id}")
def parse_batch(source: str, dest: str, run_id: str, batch_id: str, items_json: str,
                settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The batch's items come as one JSON string: Prefect walks every parameter collection looking for futures, on
    both sides of the process pool, and a thousand dicts cost ~100 ms a task that way (measured here)."""
    return process_batch(source, dest, run_id, batch_id, json.loads(items_json), PipelineSettings(**(settings or {})))


@task(name="ocr-batch", cache_policy=NO_CACHE, task_run_name="ocr-batch-{batch_id}")
def ocr_batch(source: str, dest: str, run_id: str, batch_id: str, items_json: str,
              settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A batch of scans (items marked `ocr`, with their real `pages`): read by OCR, each under a time budget of its
    pages; otherwise a batch like any other (isolation, retries, staging)."""
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
        # a scan: read by OCR in an OCR batch; in a parse batch, handed back (or left unread, OCR switched off)
        ocr = "read" if it.get("ocr") else "defer" if settings.ocr else "off"
        docs.append(Document(source=it["key"], data=data, meta=meta, meta_problem=problem, ocr=ocr,
                             pages=int(it.get("pages") or 0)))
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
    deferred = [{**it, "pages": rec["deferred_pages"]} for i, it in enumerate(doc_items)
                if (rec := records.get(i)) is not None and rec.get("deferred_pages")]  # no state row: not read yet
    state_rows = [{
        "key": it["key"], "size": it.get("size"), "etag": it.get("etag"), "content_hash": None, "report_id": rec["report_id"],
        "year": rec["year"] if isinstance(rec["year"], int) else UNKNOWN_YEAR, "admin_level": rec["admin_level"] or "unknown",
        "parser_version": PARSER_VERSION + (OCR_OFF_SUFFIX if rec.get("scan_pages") and docs[i].ocr == "off" else ""),
        "processed_at": now, "status": "parsed", "sidecar_etag": it.get("sidecar_etag"),
    } for i, it in enumerate(doc_items) if (rec := records.get(i)) is not None and not rec.get("deferred_pages")]
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
    frames["_keys"] = pl.DataFrame(state_rows, schema=lake.STATE_SCHEMA)
    frames["_failures"] = pl.DataFrame(failures, schema=lake.FAILURES.polars_schema)
    lake.stage_frames(dst, run_id, batch_id, frames)
    t3 = time.perf_counter()
    return {
        "batch_id": batch_id, "files": len(items), "parsed": len(state_rows) - len(failures),
        "failed": len(failures), "bytes": sum(len(d.data) for d in docs),
        "findings": dict(Counter(parsed.frames["findings"].get_column("rule").to_list())),
        "read_s": t1 - t0, "parse_s": t2 - t1, "stage_s": t3 - t2, "deferred": deferred,
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
# Task runners

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


# Dask's own background work in the LocalCluster a run starts (the defaults in brackets). On this machine's two
# cores, with both workers reading scans, the workers and the flow's scheduler took ~9.6 s of CPU a minute beside
# the parser processes (2.4 s each in the workers' event loops, 2.7 s in the scheduler's), ~3.5 s with these
# (`/proc` per thread, 60 s of a 2-worker OCR step): the 2-worker OCR step of 12 scans went from 104.6-106.1 s to
# 97.0 s. Nothing here changes what is computed; an existing cluster (`dask_address`) keeps its own configuration.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,  # [True] samples every thread's stack every 10 ms; a batch's work
                                                  # runs in its parser process, out of the profiler's sight
    "distributed.admin.tick.interval": "200ms",  # [20ms] the check that an event loop is not blocked
    "distributed.worker.memory.monitor-interval": "500ms",  # [100ms] (a batch's memory is its parser's budget)
    "distributed.admin.system-monitor.interval": "2s",  # [500ms] the dashboard's CPU and memory history
}


@contextlib.contextmanager
def _quiet_local_cluster(runner: str, dask_address: str | None):
    """`LOCAL_CLUSTER_CONFIG` while the run's own LocalCluster starts and runs (its nannies hand the configuration
    to the worker processes they spawn)."""
    if runner != "dask" or dask_address:
        yield
        return
    import dask
    import prefect_dask  # noqa: F401  (loads distributed and its defaults first: these are set over them)

    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        yield


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


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    # counted in files, advanced as each batch lands (on stderr; the CLI turns it on for a terminal or --progress)
    return tqdm(total=total, desc="reports", unit="file", unit_scale=True, disable=not enabled, leave=True,
                mininterval=0.5)
