"""Planning a run (pure functions over small frames): the listing split into reports and sidecars, what changed
since the state, the work in batches tapered over the workers, and the scans those batches leave to OCR in batches
of their own, by real pages (`ocr_batches`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from flows.settings import PipelineSettings
from tasks.parse.documents import PARSER_VERSION
from tasks.parse.pdf import SCAN_MAX_PAGES
from tasks.storage import Store

SIDECAR_SUFFIX = ".meta.json"
# the state's parser_version of a scan read with OCR switched off (unsupported, "OCR switched off"): unchanged for the
# next run with OCR off, read again by the first run with OCR on
OCR_OFF_SUFFIX = "+ocr-off"


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
    versions = [PARSER_VERSION] + ([] if settings.ocr else [PARSER_VERSION + OCR_OFF_SUFFIX])
    unchanged = (
        (pl.col("s_etag") == pl.col("etag")) & (pl.col("s_size") == pl.col("size"))
        & pl.col("s_version").is_in(versions) & pl.col("s_status").is_in(["parsed", "rejected"])
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
    # every report, PDFs too, goes in these batches: a scan among them is not read there but handed back with its
    # real page count, and read by the OCR batches that follow (ocr_batches), so it never holds up a text batch
    batches = make_batches(work.to_dicts(), settings.batch_files, settings.batch_bytes,
                           workers=settings.workers or os.cpu_count() or 2)
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


OCR_BATCHES_PER_WORKER = 4


def ocr_batches(scans: Sequence[dict[str, Any]], max_pages: int, *, workers: int = 1) -> list[list[dict[str, Any]]]:
    """The scans the parse batches handed back (items with their real `pages`), in batches of at most `max_pages`
    pages (a longer scan is a batch of its own), smaller when that gives each worker `OCR_BATCHES_PER_WORKER`
    batches: a run with a few scans reads each on its own worker, and no worker is left reading a large last batch
    alone while the others wait (a page takes 1-8 s, a batch task's bookkeeping ~0.15 s on Dask). Pages count as OCR
    reads them (at most SCAN_MAX_PAGES a scan). Largest first, so the longest scan does not start last.

    Measured (`python -m tests.bench.bench_ocr --scaling 12`, 12 scans of 3-6 pages, 2 workers): batches of up to
    half the pages (the rule before) made 3 batches of 22, 22 and 6 pages, one worker reading the last alone; now 11
    batches of 3-7 pages, and the two workers sat idle 1.1-3.4 s in all of a ~90 s OCR step."""
    def pages(it: dict[str, Any]) -> int:
        return max(1, min(SCAN_MAX_PAGES, int(it.get("pages") or 1)))

    items = sorted(scans, key=lambda it: (-pages(it), str(it["key"])))
    total = sum(pages(it) for it in items)
    limit = max(1, min(max_pages, -(-total // (max(workers, 1) * OCR_BATCHES_PER_WORKER))))
    batches: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    held = 0
    for it in items:
        n = pages(it)
        if cur and held + n > limit:
            batches.append(cur)
            cur, held = [], 0
        cur.append({k: it.get(k) for k in ("key", "size", "etag", "sidecar_key", "sidecar_etag", "pages")} | {"ocr": True})
        held += n
    if cur:
        batches.append(cur)
    return batches
