"""Prefect flows: `nightly` (incremental, idempotent) and `backfill` (given years), object storage → Parquet lake.

Each flow body is its steps, each a Prefect task (the UI shows each with its duration): recover what a dead run
left → list → plan → parse batches (one task per batch, flows/batches.py) → OCR batches (the scans the parse batches
handed back, by pages) → commit (tasks/lake/commit.py) → record the run → cross-year → quality report
(flows/postrun.py). The flow holds the writer lease from the recovery to the run record; SIGTERM/SIGINT stop it at
once. The flows take one settings object (`RunSettings`, flows/settings.py).
The step tasks cost little: 5,000 generated text reports, old flow (steps inline) against this one, interleaved, 3
each, medians: a full run 53.1 s against 52.5 s of flow time (noise ±20 s on a loaded machine), an idle rerun 1.24 s
against 1.28 s; the lakes' tables byte-identical.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

# (noqa F401: names tests and benches import from here since before this module was split)
from flows.batches import (  # noqa: F401
    Parsed,
    _parse_in_chunks,
    _worker_idle,
    _workers_share_api,
    batch_runner,
    make_task_runner,
    parse_batch,
    parse_batches,
    process_batch,
    read_scans,
)
from flows.plan import (  # noqa: F401
    SIDECAR_SUFFIX,
    Plan,
    make_batches,
    ocr_batches,
    plan_work,
    refuse_overlap,
    split_listing,
    with_problems,
)
from flows.postrun import cross_year, quality_report, report_due
from flows.settings import (
    PipelineSettings,  # noqa: F401
    RunSettings,
)
from tasks import lake
from tasks.faults import fault_point
from tasks.lake.commit import commit_staged, recover_commits
from tasks.parse.documents import PARSER_VERSION
from tasks.parse.pdf import SCAN_PAGE_BYTES  # noqa: F401
from tasks.storage import Store


@flow(name="nightly", log_prints=True)
def nightly(settings: RunSettings, full: bool = False) -> dict[str, Any]:
    """Process what is new or changed since the last run (everything with `full`); remove what the source deleted."""
    run = start_run("nightly", settings)
    with writer_lease(settings, run.run_id) as lease:
        recover(settings.dest, run.run_id, quote(lease))
        with run.timed("list_plan_s"):
            listing = list_sources(settings.source)
            plan, state = plan_run(settings, listing, full=full)
        with batch_runner(settings, needed=bool(plan.batches)) as runner:
            parsed = parse_batches(settings, run.run_id, plan.batches, runner)
            run.mark("text_done_s")  # the text reports are staged: what a run with a few scans must not delay
            with run.timed("ocr_s"):
                parsed.add_scans(read_scans(settings, run.run_id, parsed.deferred, runner, first_id=len(plan.batches)))
        run.add(plan, parsed)
        run.add_commit(commit(settings.dest, run.run_id, run.row(), state, quote(plan), quote(parsed), quote(lease)))
        record_run(settings.dest, run.finish())
    out = run.result()
    if due := report_due(settings.dest, run.run_id, changed=run.changed):  # else an idle run: the last report stands
        with post_run_guard(out):  # the lake is committed: a failure from here on is logged and returned, not raised
            out["post_run"] = quality_report(settings.dest, due, run.row(), cross_year(settings.dest, due))
    run.raise_if_partial()
    return out


@flow(name="backfill", log_prints=True)
def backfill(years: list[int], settings: RunSettings) -> dict[str, Any]:
    """Reprocess the given report years fully (years in parallel, within the runner's worker limit)."""
    run = start_run("backfill", settings)
    with writer_lease(settings, run.run_id) as lease:
        recover(settings.dest, run.run_id, quote(lease))
        with run.timed("list_plan_s"):
            listing = list_sources(settings.source)
            plan, state = plan_run(settings, listing, years=sorted(set(years)))
        with batch_runner(settings, needed=bool(plan.batches)) as runner:
            parsed = parse_batches(settings, run.run_id, plan.batches, runner)
            run.mark("text_done_s")  # the text reports are staged: what a run with a few scans must not delay
            with run.timed("ocr_s"):
                parsed.add_scans(read_scans(settings, run.run_id, parsed.deferred, runner, first_id=len(plan.batches)))
        run.add(plan, parsed)
        run.add_commit(commit(settings.dest, run.run_id, run.row(), state, quote(plan), quote(parsed), quote(lease)))
        record_run(settings.dest, run.finish())
    out = run.result()
    if due := report_due(settings.dest, run.run_id, changed=run.changed):  # else an idle run: the last report stands
        with post_run_guard(out):  # the lake is committed: a failure from here on is logged and returned, not raised
            out["post_run"] = quality_report(settings.dest, due, run.row(), cross_year(settings.dest, due))
    run.raise_if_partial()
    return out


# ---------------------------------------------------------------------------------------------------------------
# The steps. Large inputs (the plan's items, the lease) come `quote`d: Prefect would otherwise walk every item of
# a task's parameters looking for futures (~100 ms per thousand dicts, measured here). DataFrames are not walked.

@task(name="recover", cache_policy=NO_CACHE, task_run_name="recover")
def recover(dest: str, run_id: str, lease: lake.Lease) -> list[str]:
    """What a dead run left: a commit it had started is finished from its manifest; batches it staged without
    committing are dropped, to be redone from their sources (state was not advanced); its temporary files go."""
    dst = Store(dest)
    recovered = recover_commits(dest, lease, run_id)
    for old in recovered:
        get_run_logger().warning("%s: run %s had died during its commit: finished it from its staged batches",
                                 run_id, old)
    lake.clear_staging(dst)
    dst.clean_tmp()
    return recovered


@task(name="list", cache_policy=NO_CACHE, task_run_name="list")
def list_sources(source: str) -> pl.DataFrame:
    """Every object under the source (key, size, etag), and what could not be listed as one, with the reason."""
    src = Store(source)
    listing = with_problems(src.list_objects(), src.listing_problems)
    fault_point("listing")
    return listing


@task(name="plan", cache_policy=NO_CACHE, task_run_name="plan")
def plan_run(settings: RunSettings, listing: pl.DataFrame, *, full: bool = False,
             years: Sequence[int] | None = None) -> tuple[Plan, pl.DataFrame]:
    """The lake's state against the listing: what to parse, in batches, and what the source deleted. Returns the
    plan and the state it was made from (the commit starts from that state)."""
    state = lake.read_state(Store(settings.dest))
    plan = plan_work(listing, state, settings, full=full, years=years)
    get_run_logger().info(
        "%d objects, %d to process in %d batches, %d unchanged, %d deleted (%d sidecars, %d control or hidden names "
        "ignored)", plan.seen, plan.seen - plan.skipped, len(plan.batches), plan.skipped, len(plan.deleted),
        plan.sidecars, plan.ignored)
    return plan, state


@task(name="commit", cache_policy=NO_CACHE, task_run_name="commit")
def commit(dest: str, run_id: str, summary_row: dict[str, Any], state: pl.DataFrame, plan: Plan, parsed: Parsed,
           lease: lake.Lease) -> dict[str, Any] | None:
    """Fold the staged batches into the lake (tasks/lake/commit.py), the failed batches into failures, then the
    state; nothing to do when nothing was parsed, failed or deleted."""
    fault_point("after_stage")
    if not (plan.batches or plan.deleted):
        return None
    return commit_staged(dest, run_id, state, plan.deleted, parsed.failed_batches, batches=parsed.done_batches,
                         summary_row=summary_row, lease=lease)


@task(name="record-run", cache_policy=NO_CACHE, task_run_name="record-run")
def record_run(dest: str, run: RunSummary) -> None:
    """The run's row in _runs, and its summary as the artifact `govreports-run-summary`."""
    lake.append_run(Store(dest), run.row())
    _artifact(run)
    get_run_logger().info("%s %s: %d parsed, %d failed, %d skipped in %.1f s", run.run_id, run.status, run.parsed,
                          run.failed, run.skipped, run.timings["wall_s"])


@contextlib.contextmanager
def post_run_guard(out: dict[str, Any]) -> Iterator[None]:
    """The post-run steps, timed (post_run_s); a failure is logged and kept in `post_run_error`, never raised."""
    t0 = time.perf_counter()
    try:
        yield
    except Exception as exc:
        get_run_logger().error("post-run steps failed (the lake is committed): %s",
                               Store.redact(f"{type(exc).__name__}: {exc}"))
        out["post_run_error"] = Store.redact(f"{type(exc).__name__}: {exc}")
    out["timings"]["post_run_s"] = time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------------------
# The run: its checks and id, its summary, the writer lease held while it writes.

def start_run(flow_name: str, settings: RunSettings) -> RunSummary:
    """Refuse what cannot be right before anything is written, then the run's id and summary."""
    for name, url in (("source", settings.source), ("dest", settings.dest)):
        if not str(url or "").strip():
            raise ValueError(f"{name} is empty: give a folder or s3://bucket/prefix (an empty URL would mean the "
                             "worker's current directory)")
    refuse_overlap(settings.source, settings.dest)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    return RunSummary(run_id, flow_name, settings.source, settings.dest, datetime.now(UTC))


@contextlib.contextmanager
def writer_lease(settings: RunSettings, run_id: str) -> Iterator[lake.Lease]:
    """The lake's writer lease for the run, renewed in the background while it lives and released at the end;
    meanwhile SIGTERM/SIGINT end the run at once (`_stop_on_signals`)."""
    lease = lake.acquire_lease(Store(settings.dest), owner=run_id, ttl_s=settings.lease_ttl_seconds,
                               wait_s=settings.lease_wait_seconds)
    lease.keep_alive(settings.lease_ttl_seconds)
    try:
        with _stop_on_signals(lease):
            yield lease
    finally:
        lease.release()


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
    scans: int = 0  # scans read in OCR batches, and their pages
    ocr_pages: int = 0
    findings: dict[str, int] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    status: str = "running"
    t_start: float = field(default_factory=time.perf_counter, repr=False)  # wall_s counts from here

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0

    def mark(self, name: str) -> None:
        """The flow's time now, as timing `name` (text_done_s: the parse batches are done, the OCR batches next)."""
        self.timings[name] = time.perf_counter() - self.t_start

    def add(self, plan: Plan, parsed: Parsed) -> None:
        """What the plan and the batch tasks found: the counts of the run's row (a failed batch's files: failed)."""
        self.files_seen, self.skipped, self.deleted = plan.seen, plan.skipped, len(plan.deleted)
        self.batches, self.failed_batches = len(plan.batches) + parsed.ocr_batches, len(parsed.failed_batches)
        self.scans, self.ocr_pages = parsed.scans, parsed.ocr_pages
        self.parsed, self.failed, self.findings = parsed.parsed, parsed.failed + parsed.failed_files, parsed.findings
        self.timings.update(parsed.timings)
        self.status = "partial" if parsed.failed_batches else "completed"

    def add_commit(self, commit: dict[str, Any] | None) -> None:
        if commit is not None:
            self.rows_written = commit["rows_written"]
            self.timings["commit_s"] = commit["commit_s"]

    def finish(self) -> RunSummary:
        self.timings["wall_s"] = time.perf_counter() - self.t_start
        return self

    @property
    def changed(self) -> bool:
        """Whether the run changed the lake (parsed, deleted or failed something): its post-run steps are due."""
        return bool(self.parsed or self.deleted or self.failed)

    def result(self) -> dict[str, Any]:
        """What the flow returns: the run's row and its timings (the post-run steps add theirs)."""
        return {**self.row(), "timings": dict(self.timings)}

    def raise_if_partial(self) -> None:
        if self.status == "partial":
            raise RuntimeError(f"run {self.run_id} partial: {self.failed_batches} of {self.batches} batches failed "
                               f"(recorded in failures; the rest committed; the next run retries them)")

    def row(self) -> dict[str, Any]:
        wall = self.timings.get("wall_s", 0.0)
        return {
            "run_id": self.run_id, "flow": self.flow, "source": Store.redact(self.source), "dest": Store.redact(self.dest),
            "started_at": self.started_at, "finished_at": datetime.now(UTC), "status": self.status,
            "files_seen": self.files_seen, "skipped": self.skipped, "parsed": self.parsed, "failed": self.failed,
            "deleted": self.deleted, "batches": self.batches, "failed_batches": self.failed_batches,
            "findings": sum(self.findings.values()), "wall_s": wall,
            "files_per_s": (self.parsed / wall) if wall else None, "scans": self.scans, "ocr_pages": self.ocr_pages,
            "text_done_s": self.timings.get("text_done_s"), "ocr_s": self.timings.get("ocr_s"),
            "parser_version": PARSER_VERSION,
        }


def _artifact(summary: RunSummary) -> None:
    fields = summary.row()
    rows = "\n".join(f"| {k} | {v} |" for k, v in fields.items() if k not in ("source", "dest"))
    findings = "\n".join(f"| {k} | {v} |" for k, v in sorted(summary.findings.items(), key=lambda kv: -kv[1])) or "| — | 0 |"
    written = "\n".join(f"| {k} | {v} |" for k, v in summary.rows_written.items()) or "| — | 0 |"
    md = (f"# govreports run {summary.run_id}\n\n| field | value |\n|---|---|\n{rows}\n\n"
          f"## Findings by rule\n\n| rule | count |\n|---|---|\n{findings}\n\n"
          f"## Rows in rewritten partitions\n\n| table | rows |\n|---|---|\n{written}\n")
    try:
        create_markdown_artifact(md, key="govreports-run-summary", description=f"{summary.flow} {summary.status}")
    except Exception as exc:  # an artifact must never fail the run
        get_run_logger().warning("could not create the run artifact: %s", exc)


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
