"""The pipeline end to end on the local store: flow time, orchestration share, peak memory, an idle rerun, and the
naive one-task-per-file design measured on a sample and extrapolated. BENCH_REPORTS sets the corpus size."""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def main() -> None:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from flows.pipeline import PipelineSettings, nightly, process_batch
    from tasks.corpus import generate_corpus
    from tasks.storage import Store

    n = int(os.environ.get("BENCH_REPORTS", "100000"))
    work = Path(tempfile.mkdtemp(prefix="govreports-bench-"))
    src, dest = work / "source", work / "lake"
    t = time.perf_counter()
    generate_corpus(Store(str(src)), n, seed=11)
    print(f"corpus: {n} reports generated in {time.perf_counter() - t:.1f} s")

    @flow(name="warm-up")
    def warm() -> None:
        return None

    t = time.perf_counter()
    warm()
    startup = time.perf_counter() - t
    print(f"Prefect temporary server start-up (excluded below): {startup:.1f} s")
    s = nightly(source=str(src), dest=str(dest), runner="local")
    wall = s["wall_s"]
    row = s
    print(f"nightly, {s['parsed']} parsed in {wall:.1f} s of flow time ({s['parsed'] / wall:.0f} reports/s); "
          f"batches {s['batches']}")
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: flow process {peak_self:.0f} MiB, largest worker process {peak_kids:.0f} MiB")
    t = time.perf_counter()
    again = nightly(source=str(src), dest=str(dest), runner="local")
    print(f"nightly rerun with nothing new: {time.perf_counter() - t:.1f} s wall ({again['wall_s']:.2f} s flow body)")

    # the naive design: one Prefect task per file, measured on a sample and extrapolated
    sample = min(200, n)
    keys = Store(str(src)).list_objects().filter(~__import__("polars").col("key").str.contains(r"(?:^|/)[_.]")).head(sample)

    @task(cache_policy=NO_CACHE)
    def one(item: dict) -> dict:
        return process_batch(str(src), str(work / "naive"), "naive", item["key"].replace("/", "_"), [item], PipelineSettings())

    @flow(name="naive")
    def naive(items: list[dict]) -> None:
        futures = [one.submit(i) for i in items]
        for f in futures:
            f.result()

    items = [{"key": k, "size": s_, "etag": e, "sidecar_key": None, "sidecar_etag": None} for k, s_, e in keys.iter_rows()]
    t = time.perf_counter()
    naive(items)
    per_file = (time.perf_counter() - t) / len(items)
    print(f"naive one-task-per-file: {per_file * 1000:.0f} ms/file on {len(items)} files → {per_file * n:.0f} s for {n} "
          f"(ratio {per_file * n / wall:.1f}× ours)")
    print("run row:", {k: row[k] for k in ("files_seen", "parsed", "failed", "batches", "wall_s")})
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
