"""A folder of scans read on a Dask LocalCluster with one worker and with two (one thread each, processes), runs
interleaved (1, 2, 1, 2 …) so that load from elsewhere on the machine falls on both alike; the medians are compared.
Each worker is warmed first (imports, the engine's models), as a nightly run's workers are after their first batch.
Peak memory per worker: the worker process's maximum resident set (getrusage) after the runs.

    python -m tests.bench.bench_ocr --scaling 12 [--rounds 3]
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from tests import scans


def _make_folder(n: int, folder: Path) -> list[str]:
    """n scans: the real huaian PDF and the seeds drawn as forms, in turn, in the scan variants in turn."""
    names = ["huaian_2024_pdf", *scans.seed_names()]
    paths = []
    for i in range(n):
        v = scans.VARIANTS[i % len(scans.VARIANTS)]
        path = folder / f"scan-{i:03d}.pdf"
        path.write_bytes(scans.scanned_pdf(names[i % len(names)], v))
        paths.append(str(path))
    return paths


def _read_batch(paths: list[str]) -> int:
    """A batch as the nightly task reads it: the files parsed together (decode → OCR → tables → rules)."""
    from tasks.parse.documents import Document, parse_documents

    docs = [Document(p, Path(p).read_bytes()) for p in paths]
    parse_documents(docs)
    return len(docs)


def _warm() -> None:
    from tasks.parse import ocr
    ocr.engine()


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scaling(n: int, rounds: int = 2) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from dask.distributed import Client, LocalCluster

    from flows.pipeline import page_batches

    with tempfile.TemporaryDirectory() as tmp:
        paths = _make_folder(n, Path(tmp))
        items = [{"key": p, "size": os.path.getsize(p)} for p in paths]
        batches = [[it["key"] for it in b] for b in page_batches(items, 1, 1)]  # a scan a batch: the two workers share them evenly
        pages = sum(scans_pages(p) for p in paths)
        print(f"{n} scans, {pages} pages, {len(batches)} batches (a scan each); "
              f"{rounds} interleaved rounds", flush=True)
        clusters = {}
        for workers in (1, 2):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   env={"OMP_NUM_THREADS": "1", "POLARS_MAX_THREADS": "1"})
            client = Client(cluster)
            client.run(_warm)
            clusters[workers] = (cluster, client)
        times: dict[int, list[float]] = {1: [], 2: []}
        try:
            for r in range(rounds):
                for workers in (1, 2) if r % 2 == 0 else (2, 1):
                    _, client = clusters[workers]
                    t = time.perf_counter()
                    done = sum(client.gather(client.map(_read_batch, batches, pure=False)))
                    assert done == n
                    times[workers].append(time.perf_counter() - t)
                    print(f"  round {r + 1}, {workers} worker(s): {times[workers][-1]:.1f} s "
                          f"({pages / times[workers][-1]:.2f} pages/s)", flush=True)
            peaks = {w: list(c.run(_peak_mib).values()) for w, (_, c) in clusters.items()}
        finally:
            for cluster, client in clusters.values():
                client.close()
                cluster.close()
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"median: 1 worker {one:.1f} s, 2 workers {two:.1f} s: {one / two:.2f}x "
          f"({pages / one:.2f} → {pages / two:.2f} pages/s); the machine's other load: load average "
          f"{os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores")
    print("peak memory per worker (MiB): " + ", ".join(f"{w} worker(s): {', '.join(f'{p:.0f}' for p in ps)}"
                                                       for w, ps in peaks.items()))


def scans_pages(path: str) -> int:
    from tasks.parse.ocr import page_count

    return page_count(Path(path).read_bytes())
