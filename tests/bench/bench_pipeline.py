"""The pipeline end to end, as `make bench` runs it. Prints, for the issues' targets:

- local store, BENCH_REPORTS reports (default 20,000 of the realistic mix: text layouts, ~30% text-layer PDFs, ~5%
  Word files, ~3% scans; with BENCH_TEXT_ONLY=1, `make bench-text`, 100,000 text reports): flow time (Prefect's
  server start-up excluded and reported), orchestration share (flow time not spent reading, parsing, staging or
  committing), peak memory of the whole job (the flow process and its task workers, sampled; Prefect's temporary
  server reported apart), the reports by the reader that read them, the same run with PDFs read by pypdf as a
  ratio (issue 15), a nightly rerun with nothing new. Issue 15's mix predates OCR: its scans stay unsupported_format
  "no text layer", so this run switches OCR off (GOVREPORTS_OCR=off: a scan stays unsupported_format, "OCR switched
  off"); reading them costs seconds a page, which the scans part below measures;
- the naive design (one Prefect task per file) measured on a sample, extrapolated, as a ratio against ours;
- scans (issue 17; BENCH_SCANS_REPORTS, default 2,000 of the realistic mix, ~60 scans, ~10 min on 2 cores; 0
  skips): the same corpus run with OCR off and on, alternating (BENCH_SCANS_ROUNDS pairs, default 1): the scans
  landed with all their values, with nulls and findings, or failed; tables 3 and 4's values right, null or wrong against
  the corpus truth (and year and organ); the text reports' throughput of each run, from the flow time at which every
  non-scan batch had finished (`timings["text_done_s"]`) where the pipeline reports it, else the whole flow time
  (said so in the printout);
- SeaweedFS (BENCH_S3_REPORTS, default 10,000; 0 skips): a bare s3fs bulk read of the same keys, then the pipeline
  reading them, objects/s each and the ratio.

Figures are medians where a step is repeated; the machine is shared, so compare ratios measured in one run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parents[2]


def _is_prefect_server(p) -> bool:
    """Prefect's temporary API server (a uvicorn child of the flow process): infrastructure, not the job."""
    try:
        return "prefect.server.api.server:create_app" in " ".join(p.cmdline())
    except Exception:  # noqa: BLE001 — a process that ended while being looked at
        return False


class PeakMemory:
    """Peak resident memory of this process plus all its descendants, sampled every 100 ms: the job (flow process
    and task workers) and, apart, Prefect's temporary server, which a deployment runs elsewhere."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0  # the job
        self.peak_server = 0
        self.peak_all = 0
        self.peak_flow = 0  # this process alone (the flow: listing, planning, commit)
        self.peak_workers = 0  # the task workers together
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server_pids: dict[int, bool] = {}

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            job = server = 0
            try:
                own = self.proc.memory_info().rss
            except psutil.Error:
                own = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                if p.pid not in self._server_pids:
                    self._server_pids[p.pid] = _is_prefect_server(p)
                if self._server_pids[p.pid]:
                    server += rss
                else:
                    job += rss
            self.peak = max(self.peak, job)
            self.peak_flow = max(self.peak_flow, own)
            self.peak_workers = max(self.peak_workers, job - own)
            self.peak_server = max(self.peak_server, server)
            self.peak_all = max(self.peak_all, job + server)
            self._stop.wait(0.1)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def generate(dest: str, n: int, seed: int, env: dict[str, str] | None = None, *, attachments: bool | None = None) -> float:
    """The corpus, written by the CLI in its own process (its memory is not the pipeline's); text layouts only with
    BENCH_TEXT_ONLY=1 unless `attachments` says."""
    t = time.perf_counter()
    if attachments is None:
        attachments = os.environ.get("BENCH_TEXT_ONLY") != "1"
    text_only = [] if attachments else ["--text-only"]
    subprocess.run([sys.executable, "-m", "flows.cli", "generate", "--reports", str(n), "--dest", dest, "--seed", str(seed),
                    *text_only], check=True, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _mix(lake: Path) -> dict[str, int]:
    """Reports of the lake by the reader that read them (pdfium …, pypdf …, python-docx …, lxml, text)."""
    import duckdb

    rows = duckdb.sql(f"SELECT coalesce(regexp_replace(reader, ' .*', ''), 'none (' || parse_status || ')') AS r, "
                      f"count(*) FROM read_parquet('{lake}/reports/**/*.parquet', union_by_name = true) "
                      "GROUP BY ALL ORDER BY 2 DESC").fetchall()
    return dict(rows)


def orchestration(summary: dict, workers: int, wall: float) -> tuple[float, float]:
    """(seconds, share of flow time) not spent in work: batch work (read + parse + stage, summed over batches) runs
    on `workers` processes at once, so its share of the wall is work / workers; listing, commit and the post-run
    steps are work too. `wall`: the whole flow call, post-run steps included."""
    t = summary["timings"]
    work = (t.get("task_read_s", 0) + t.get("task_parse_s", 0) + t.get("task_stage_s", 0)) / workers
    work += t.get("list_plan_s", 0) + t.get("commit_s", 0) + t.get("post_run_s", 0)
    return max(wall - work, 0.0), max(wall - work, 0.0) / wall if wall else 0.0


def local_part(n: int, work: Path) -> None:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.pipeline import PipelineSettings, RunSettings, nightly, process_batch
    from tasks.storage import Store

    src, dest = work / "source", work / "lake"
    print(f"corpus: {n} reports generated in {generate(str(src), n, 11):.0f} s (not timed below)")

    @flow(name="warm-up")
    def warm() -> None:
        return None

    t = time.perf_counter()
    warm()
    print(f"Prefect temporary server start-up (excluded below): {time.perf_counter() - t:.1f} s")
    workers = PipelineSettings().workers or os.cpu_count() or 2  # as make_task_runner picks them
    if os.environ.get("BENCH_TEXT_ONLY") != "1":
        os.environ["GOVREPORTS_OCR"] = "off"  # issue 15's mix: scans stay unsupported_format (see the docstring)
        print("OCR switched off (GOVREPORTS_OCR=off) for this part: scans stay unsupported_format, as in issue 15's mix")
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        s = nightly(RunSettings(source=str(src), dest=str(dest), runner="local"))
        wall = time.perf_counter() - t0  # the whole flow run: its start, batches, commit and post-run steps
    print("run:", {k: s[k] for k in ("files_seen", "parsed", "failed", "batches", "wall_s")},
          {k: round(v, 2) for k, v in s["timings"].items()})
    orch_s, orch_share = orchestration(s, workers, wall)
    t = s["timings"]
    print(f"nightly: {s['parsed']} reports parsed in {wall:.1f} s of flow time = {s['parsed'] / wall:.0f} reports/s "
          f"(targets: 100,000 text reports in 120 s; the realistic mix >= 250 reports/s); {s['batches']} batches on "
          f"{workers} worker processes")
    print(f"  work: read {t.get('task_read_s', 0):.1f} s, parse {t.get('task_parse_s', 0):.1f} s, stage "
          f"{t.get('task_stage_s', 0):.1f} s (summed over batches), list+plan {t.get('list_plan_s', 0):.1f} s, commit "
          f"{t.get('commit_s', 0):.1f} s, cross-year + quality report {t.get('post_run_s', 0):.1f} s")
    print(f"  orchestration: {orch_s:.1f} s = {orch_share:.1%} of flow time (target <= 10%); of it, task workers "
          f"idle (summed over {t.get('workers_seen', 0):.0f}): before their first batch {t.get('worker_startup_s', 0):.1f} s, "
          f"between batches {t.get('worker_between_s', 0):.1f} s, after their last {t.get('worker_tail_s', 0):.1f} s")
    print(f"  peak memory of the job, flow process + task workers: {mem.peak / 2**20:.0f} MiB (target <= 2048 MiB); "
          f"Prefect's temporary server apart: {mem.peak_server / 2**20:.0f} MiB; all together {mem.peak_all / 2**20:.0f} MiB")
    print(f"    (peaks apart: flow process {mem.peak_flow / 2**20:.0f} MiB, task workers together "
          f"{mem.peak_workers / 2**20:.0f} MiB)")
    mix = _mix(dest)
    print(f"  mix read: {mix}")
    if any(k.startswith("rapidocr") for k in mix) and os.environ.get("GOVREPORTS_OCR") == "off":
        print("  NOTE: scans were read by OCR although GOVREPORTS_OCR=off: this build has no OCR switch, so the flow "
              "time above includes OCR")
    if os.environ.get("BENCH_PYPDF", "1") == "1" and os.environ.get("BENCH_TEXT_ONLY") != "1" \
            and any(k.startswith("pdfium") for k in mix):
        # the same run with every PDF read by pypdf (the reader before pdfium), into a lake of its own
        os.environ["GOVREPORTS_PDF_READER"] = "pypdf"
        try:
            t0 = time.perf_counter()
            p = nightly(RunSettings(source=str(src), dest=str(work / "lake-pypdf"), runner="local"))
            wall_p = time.perf_counter() - t0
        finally:
            del os.environ["GOVREPORTS_PDF_READER"]
        print(f"same corpus, PDFs read by pypdf: {p['parsed']} reports in {wall_p:.1f} s of flow time = "
              f"{p['parsed'] / wall_p:.0f} reports/s; pdfium's run is {wall_p / wall:.2f}x as fast "
              f"(mix read: {_mix(work / 'lake-pypdf')})")
    reruns = []
    for _ in range(3):
        t0 = time.perf_counter()
        again = nightly(RunSettings(source=str(src), dest=str(dest), runner="local"))
        reruns.append((time.perf_counter() - t0, again["wall_s"]))
    reruns.sort()
    print(f"nightly rerun with nothing new (median of 3): {reruns[1][0]:.1f} s wall, {reruns[1][1]:.2f} s flow body "
          f"(target <= 10 s); parsed {again['parsed']}")

    # the naive design: one Prefect task per file, measured on a sample and extrapolated
    import polars as pl

    sample = min(300, n)
    keys = Store(str(src)).list_objects().filter(~pl.col("key").str.contains(r"(?:^|/)[_.]")).head(sample)

    @task(cache_policy=NO_CACHE)
    def one(item: dict) -> dict:
        return process_batch(str(src), str(work / "naive"), "naive", item["key"].replace("/", "_"), [item], PipelineSettings())

    @flow(name="naive")
    def naive(items: list[dict]) -> None:
        for f in [one.submit(i) for i in items]:
            f.result()

    items = [{"key": k, "size": s_, "etag": e, "sidecar_key": None, "sidecar_etag": None}
             for k, s_, e in keys.select("key", "size", "etag").iter_rows()]
    t0 = time.perf_counter()
    naive(items)
    per_file = (time.perf_counter() - t0) / len(items)
    print(f"naive one-task-per-file: {per_file * 1000:.0f} ms/file on {len(items)} files -> {per_file * n:.0f} s for {n} "
          f"(ratio {per_file * n / wall:.1f}x our flow time)")
    os.environ.pop("GOVREPORTS_OCR", None)


APP_COLUMNS = ("natural_person", "commercial", "research", "nonprofit", "legal_service", "other", "total")


def scan_outcomes(lake: Path, truth: list[dict]) -> dict:
    """The corpus's scans in the lake against their truth: landed with every table-3 and table-4 value (`values`), with nulls
    and findings (`findings`), or not read (`failed`: no OCR-read reports row); tables 3 and 4's values right, null
    or wrong;
    year and organ right, null (either) or wrong (either); a scan with nulls but no finding."""
    import polars as pl

    from tasks import lake as lake_mod
    from tasks.storage import Store

    store = Store(str(lake))
    rep = lake_mod.read_table(store, "reports")
    apps = lake_mod.read_table(store, "applications")
    finds = lake_mod.read_table(store, "findings")
    rls = lake_mod.read_table(store, "review_litigation")
    out = dict.fromkeys(("scans", "values", "findings", "failed", "right", "null", "wrong", "meta_right", "meta_null", "meta_wrong",
                         "null_unexplained"), 0)
    out["meta_wrong_seen"] = []  # (key, variant, (year, organ) read, (year, organ) printed)
    by_source = {r["source"]: r for r in rep.iter_rows(named=True)}
    for t in truth:
        out["scans"] += 1
        row = by_source.get(t["key"])
        if row is None or not (row.get("reader") or "").startswith("rapidocr"):
            out["failed"] += 1
            continue
        rec = t["record"]
        meta_ok = (row["year"], row["organ"]) == (rec["year"], rec["organ"])
        meta_null = not meta_ok and all(g is None or g == w for g, w in ((row["year"], rec["year"]),
                                                                        (row["organ"], rec["organ"])))
        out["meta_right" if meta_ok else "meta_null" if meta_null else "meta_wrong"] += 1
        if not meta_ok and not meta_null:
            out["meta_wrong_seen"].append((t["key"], t["variant"], (row["year"], row["organ"]), (rec["year"], rec["organ"])))
        got = {r["row_key"]: r for r in apps.filter(pl.col("report_id") == row["report_id"]).iter_rows(named=True)}
        nulls = 0
        for key, want_row in (rec.get("applications") or {}).items():
            for j, want in enumerate(want_row or []):
                if want is None:
                    continue
                have = (got.get(key) or {}).get(APP_COLUMNS[j])
                if have is None:
                    nulls += 1
                else:
                    out["right" if have == want else "wrong"] += 1
        from schemas.form import REVIEW_GROUPS, REVIEW_OUTCOMES

        rl = {r["group"]: r for r in rls.filter(pl.col("report_id") == row["report_id"]).iter_rows(named=True)}
        for k, want in enumerate(rec.get("review_litigation") or []):  # table 4: three groups of five, flat
            if want is None:
                continue
            have = (rl.get(REVIEW_GROUPS[k // 5]) or {}).get(REVIEW_OUTCOMES[k % 5])
            if have is None:
                nulls += 1
            else:
                out["right" if have == want else "wrong"] += 1
        out["null"] += nulls
        has_findings = finds.filter(pl.col("report_id") == row["report_id"]).height > 0
        if nulls == 0:
            out["values"] += 1
        else:
            out["findings"] += 1
            out["null_unexplained"] += not has_findings
    return out


def scans_part(n: int, work: Path) -> None:
    """Issue 17's nightly run: the same corpus with OCR off and on, alternating; see the module docstring."""
    from flows.pipeline import RunSettings, nightly
    from tasks.storage import Store
    from tasks.synth.corpus import read_truth

    src = work / "scans-source"
    print(f"scans part: {n} reports of the realistic mix generated in {generate(str(src), n, 17, attachments=True):.0f} s "
          "(not timed below)")
    truth = read_truth(Store(str(src)))
    scans = [t for t in truth if t["kind"] == "scan"]
    texts = sum(1 for t in truth if t["kind"] == "report")
    print(f"  {len(scans)} scans ({', '.join(sorted({t['variant'] for t in scans}))}), {texts} other reports")
    rounds = int(os.environ.get("BENCH_SCANS_ROUNDS", "1"))
    rates: dict[str, list[float]] = {"off": [], "on": []}
    fallback = False
    for i in range(rounds):
        for mode in ("off", "on"):
            os.environ["GOVREPORTS_OCR"] = mode
            dest = work / f"scans-lake-{mode}-{i}"
            try:
                t0 = time.perf_counter()
                s = nightly(RunSettings(source=str(src), dest=str(dest), runner="local"))
                wall = time.perf_counter() - t0
            finally:
                os.environ.pop("GOVREPORTS_OCR", None)
            text_done = s["timings"].get("text_done_s")
            fallback |= text_done is None
            text_s = text_done if text_done is not None else wall
            rates[mode].append(texts / text_s)
            mix = _mix(dest)
            print(f"  OCR {mode:3s} (round {i + 1}): {s['parsed']} parsed, {s['failed']} failed in {wall:.1f} s of flow "
                  f"time; text reports done at {text_s:.1f} s"
                  f"{'' if text_done is not None else ' (no text_done_s in the run summary: whole flow time)'} = "
                  f"{texts / text_s:.0f} text reports/s; mix read: {mix}")
            if mode == "on":
                o = scan_outcomes(dest, scans)
                print(f"    scans: {o['scans']} in the corpus: {o['values']} landed with all their table-3 and table-4 values, "
                      f"{o['findings']} with nulls and findings ({o['null_unexplained']} of them without a finding), "
                      f"{o['failed']} not read by OCR")
                print(f"    table-3 and table-4 values of the scans read: {o['right']} right, {o['null']} null, {o['wrong']} wrong "
                      f"(target 0 wrong); year and organ: {o['meta_right']} right, "
                      f"{o['meta_null']} null, {o['meta_wrong']} wrong")
                for key, variant, read, printed in o["meta_wrong_seen"][:5]:
                    print(f"      {key} ({variant}): read {read}, printed {printed}")
            elif any(k.startswith("rapidocr") for k in mix):
                print("    NOTE: scans were read by OCR although GOVREPORTS_OCR=off: this build has no OCR switch")
            shutil.rmtree(dest, ignore_errors=True)
    import statistics

    off, on = statistics.median(rates["off"]), statistics.median(rates["on"])
    print(f"text reports' throughput (median of {rounds}): OCR off {off:.0f}/s, OCR on {on:.0f}/s = {on / off:.0%} of "
          f"the run without scans read (target >= 90%)"
          f"{'; from the whole flow time (the pipeline reported no text_done_s)' if fallback else ''}")


def s3_part(n: int, work: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import s3fs
    from servers import s3_settings, seaweedfs_s3, server_env, store_for

    from flows.pipeline import RunSettings, nightly

    with seaweedfs_s3() as info:
        env = server_env(info)
        os.environ.update(env)
        print(f"SeaweedFS ready in {info['startup_s']:.1f} s at {info['endpoint_url']}")
        url = f"s3://{info['bucket']}/corpus"
        print(f"corpus: {n} reports generated into SeaweedFS in {generate(url, n, 12, env):.0f} s")
        store = store_for(info, "corpus")
        listing = store.list_objects()
        keys = [k for k in listing.get_column("key").to_list() if not any(p.startswith(("_", ".")) for p in k.split("/"))]
        settings = s3_settings(info)
        fs = s3fs.S3FileSystem(key=info["key"], secret=info["secret"], client_kwargs={"endpoint_url": info["endpoint_url"]},
                               skip_instance_cache=True)
        paths = [f"{info['bucket']}/corpus/{k}" for k in keys]
        bare = []
        for _ in range(3):
            t0 = time.perf_counter()
            got = fs.cat(paths)
            bare.append(time.perf_counter() - t0)
            assert len(got) == len(paths)
        bare.sort()
        ceiling = len(paths) / bare[1]
        print(f"bare s3fs cat of the same {len(paths)} objects (median of 3): {bare[1]:.1f} s = {ceiling:.0f} objects/s")
        del got, settings
        runs = []
        for i in range(3):
            dest = work / f"s3lake{i}"
            t0 = time.perf_counter()
            s = nightly(RunSettings(source=url, dest=str(dest), runner="local"))
            runs.append((s["wall_s"], time.perf_counter() - t0, s))
            shutil.rmtree(dest, ignore_errors=True)
        runs.sort(key=lambda r: r[0])
        wall, _, s = runs[1]
        rate = len(paths) / wall
        print(f"pipeline from SeaweedFS (median of 3): {s['parsed']} parsed, {len(paths)} objects in {wall:.1f} s of flow time "
              f"= {rate:.0f} objects/s = {rate / ceiling:.0%} of the bare-read ceiling (target >= 80%)")


def main() -> None:
    text_only = os.environ.get("BENCH_TEXT_ONLY") == "1"
    n = int(os.environ.get("BENCH_REPORTS", "100000" if text_only else "20000"))
    n_scans = int(os.environ.get("BENCH_SCANS_REPORTS", "0" if text_only else "2000"))
    n_s3 = int(os.environ.get("BENCH_S3_REPORTS", "10000"))
    work = Path(tempfile.mkdtemp(prefix="govreports-bench-"))
    try:
        if n:
            local_part(n, work)
        if n_scans:
            scans_part(n_scans, work)
        if n_s3:
            s3_part(n_s3, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
