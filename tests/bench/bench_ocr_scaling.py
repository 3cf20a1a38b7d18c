"""Scans on Dask: a folder of scans read by the nightly flow on a 2-worker Dask LocalCluster against one worker, and
what the allocator settings of Dask's workers cost a process that reads scans.

    python -m tests.bench.bench_ocr --scaling 12 [--rounds 3]    # the flow on Dask, 1 against 2 workers
    python -m tests.bench.bench_ocr --malloc 3 [--rounds 2]      # one process reading 3 scans, three allocators

`--scaling`: each run is `flows.pipeline.nightly` with `runner="dask"` in a process of its own, into a fresh lake, as
a nightly run or a backfill runs it: prefect-dask starts the LocalCluster (one thread a worker, worker processes),
the parse step hands the scans back, the OCR step reads them in `ocr-batch` tasks planned by `flows.plan.ocr_batches`
for the cluster's workers (each batch in the worker's parser process, under its budgets), one commit. Runs are
interleaved (1, 2, 2, 1 …) so that load from elsewhere falls on both alike; the figure is the OCR step's flow time
(`timings.ocr_s`: from its first batch submitted to its last landed, the workers' start-up and the commit apart),
medians compared. Every run must land every scan (parsed and scans = the folder). Peak memory per worker: the most
a Dask worker process and its parser process held, the sum of their peaks (VmHWM, read from /proc).

`--malloc`: fresh processes, interleaved, each reading the same scans in one thread: `dask` = the environment Dask's
nanny gives its workers (`MALLOC_TRIM_THRESHOLD_=65536`) with `tasks.parse.ocr.keep_large_buffers` switched off;
`glibc` = no setting at all; `tuned` = Dask's environment, and the OCR engine's own thresholds as it sets them.

Measured here (session 12, quiet machine, 2 cores, 12 scans of 50 pages, a run of 6 rounds and one of 3, with an
OCR batch's scans polled every 0.1 s, `tasks/parse/isolate.py` OCR_POLL_S):
- OCR step, 1 worker 156.8-170.9 s (median 165.7), 2 workers 84.2-99.7 s (median 90.0): 1.84x; per round 1.85, 1.98,
  1.75, 1.66, 1.98, 1.87 (the 6-round run: 1.86x) and 1.71, 1.92, 1.89 (the 3-round run: 1.80x), median 1.87x; six
  of nine rounds at 1.8x or more. The workers idle 1.3-5.0 s in all (summed) of a 2-worker step; peak per worker at
  most 1,394 MiB. The rounds spread 1.66-1.98x: the 1-worker runs stay within 9% of each other, the 2-worker runs
  swing 18% (both cores busy, the host's other load falls on the run). The slower poll gives the parser processes
  ~1% more of the cores (/proc, a 60 s window of the step: 114.0 against 115.0 s of CPU of 120), so most of the
  difference from session 11's figure below is the machine's, not the code's.
Session 11 (the poll at 0.02 s; two runs of 3 rounds):
- OCR step, 1 worker 157.2-170.3 s (median 161.0), 2 workers 88.9-94.2 s (median 91.9): per round 1.67, 1.90, 1.78,
  1.72, 1.78, 1.82x (median 1.78x); the workers idle 1.1-3.4 s in all (summed) of a 2-worker step; peak per worker
  at most 1,408 MiB. Two plain processes reading 3 scans side by side take 45.6-50.2 s each against 43.1-48.4 s
  alone (~1.9x): the rest is the flow, Dask's scheduler, the workers' loops and Prefect's server sharing the two
  cores with both parser processes, where with one worker they have the other core.
- With the allocator fix and the finer OCR batches but Dask's default configuration (before
  `flows/batches.py` LOCAL_CLUSTER_CONFIG): 1.70x (166.4-169.8 s against 93.5-101.7 s, 3 rounds). Session 10's bench
  (`client.map`, the parser in the worker itself, Dask's allocator setting): 1.42-1.61x.
- `--malloc 3`: see `tasks/parse/ocr.py` `keep_large_buffers`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests import scans

ROOT = Path(__file__).resolve().parents[2]

RUN = r"""
import json, sys
from flows import pipeline
from flows.settings import RunSettings
out = pipeline.nightly(RunSettings(source=sys.argv[1], dest=sys.argv[2], runner="dask", workers=int(sys.argv[3])))
print("RESULT " + json.dumps({k: out[k] for k in ("parsed", "failed", "scans", "ocr_pages", "batches", "timings")}))
"""

READ = r"""
import json, os, resource, sys, time
from pathlib import Path
from tasks.parse import ocr
if sys.argv[1] != "tuned":
    ocr.keep_large_buffers = lambda: False
from tasks.parse.documents import Document, parse_documents
ocr.engine()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for path in sys.argv[2:]:
    rec = parse_documents([Document(path, Path(path).read_bytes())]).records[0]
    assert rec.get("applications"), path
r1 = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime,
                              "sys_s": r1.ru_stime - r0.ru_stime, "faults": r1.ru_minflt - r0.ru_minflt,
                              "peak_mib": r1.ru_maxrss / 1024}))
"""


def make_folder(n: int, folder: Path) -> list[Path]:
    """n scans: the real huaian PDF and the seeds drawn as forms, in turn, in the scan variants in turn."""
    names = ["huaian_2024_pdf", *scans.seed_names()]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        v = scans.VARIANTS[i % len(scans.VARIANTS)]
        path = folder / f"scan-{i:03d}.pdf"
        path.write_bytes(scans.scanned_pdf(names[i % len(names)], v))
        paths.append(path)
    return paths


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MALLOC_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
               PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", POLARS_MAX_THREADS="1")
    return env


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _peak_rss_mib(pid: int) -> float:
    """The most the process has held resident so far (the kernel's high-water mark, VmHWM), MiB; 0 once gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class WorkerPeaks(threading.Thread):
    """Each Dask worker's peak memory: its process's resident high-water mark plus its parser process's (an upper
    bound: the two need not peak at once), MiB. The LocalCluster's nannies live in the run's process, so its workers
    are the run's children that multiprocessing spawned; /proc is walked for them every 5 s (a walk every 0.2 s
    took ~1% of a core from the workers) and their marks read every 0.25 s (a mark only grows: no peak is missed)."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid, self.peaks, self.done = root_pid, {}, threading.Event()

    def run(self) -> None:
        trees: dict[int, list[int]] = {}
        walked = 0.0
        while not self.done.wait(0.25):
            if time.monotonic() - walked > 5:
                walked = time.monotonic()
                trees = {}
                for pid in _children(self.root_pid):
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            if b"spawn_main" not in f.read():
                                continue
                    except OSError:
                        continue
                    trees[pid] = [pid, *_children(pid)]
            for worker, pids in trees.items():
                self.peaks[worker] = max(self.peaks.get(worker, 0.0), sum(_peak_rss_mib(p) for p in pids))


def _run(code: str, args: list[str], env: dict[str, str], peaks: bool = False) -> tuple[dict, list[float]]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    watch = WorkerPeaks(proc.pid) if peaks else None
    if watch:
        watch.start()
    stdout = proc.communicate()[0]
    if watch:
        watch.done.set()
        watch.join()
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"run failed ({proc.returncode}): {stdout[-2000:]}")
    return json.loads(line[len("RESULT "):]), sorted(watch.peaks.values(), reverse=True) if watch else []


def scaling(n: int, rounds: int = 3) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench_ocr_scaling_"))
    try:
        paths = make_folder(n, root / "scans")
        env = _env(root / "prefect")
        pages = sum(scans_pages(p) for p in paths)
        print(f"{n} scans, {pages} pages; the nightly flow on a Dask LocalCluster, {rounds} interleaved rounds",
              flush=True)
        times: dict[int, list[float]] = {1: [], 2: []}
        worker_peaks: list[float] = []
        for r in range(rounds):
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                lake = root / f"lake-{workers}"
                shutil.rmtree(lake, ignore_errors=True)
                out, peaks = _run(RUN, [str(root / "scans"), str(lake), str(workers)], env, peaks=True)
                if out["parsed"] != n or out["scans"] != n:
                    raise RuntimeError(f"a run did not land every scan: {out}")
                t = out["timings"]
                times[workers].append(t["ocr_s"])
                worker_peaks += peaks
                print(f"  round {r + 1}, {workers} worker(s): OCR step {t['ocr_s']:.1f} s ({pages / t['ocr_s']:.2f} "
                      f"pages/s), flow {t['wall_s']:.1f} s, {out['batches']} batches; the workers idle before their first "
                      f"OCR batch {t.get('ocr_worker_startup_s', 0):.1f} s, between {t.get('ocr_worker_between_s', 0):.1f}"
                      f" s, after their last {t.get('ocr_worker_tail_s', 0):.1f} s (summed); peak per worker (MiB): "
                      f"{', '.join(f'{p:.0f}' for p in peaks)}", flush=True)
        one, two = statistics.median(times[1]), statistics.median(times[2])
        pairs = [a / b for a, b in zip(times[1], times[2], strict=True)]
        print(f"median OCR step: 1 worker {one:.1f} s, 2 workers {two:.1f} s: {one / two:.2f}x "
              f"(rounds: {', '.join(f'{x:.2f}x' for x in pairs)}; {pages / one:.2f} → {pages / two:.2f} pages/s); "
              f"peak per worker {max(worker_peaks):.0f} MiB at most; load average {os.getloadavg()[0]:.1f} at the "
              f"end on {os.cpu_count()} cores", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def malloc(n: int, rounds: int = 2) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench_ocr_malloc_"))
    try:
        paths = [str(p) for p in make_folder(n, root)]
        base = _env(root / "prefect")
        envs = {"dask": {**base, "MALLOC_TRIM_THRESHOLD_": "65536"}, "glibc": base,
                "tuned": {**base, "MALLOC_TRIM_THRESHOLD_": "65536"}}
        print(f"{n} scans read in one process, one thread; {rounds} interleaved rounds", flush=True)
        rows: dict[str, list[dict]] = {k: [] for k in envs}
        for r in range(rounds):
            for mode in list(envs) if r % 2 == 0 else list(envs)[::-1]:
                out, _ = _run(READ, [mode, *paths], envs[mode])
                rows[mode].append(out)
                print(f"  round {r + 1} {mode:5}: {out['wall_s']:.1f} s, CPU {out['cpu_s']:.1f} s of which kernel "
                      f"{out['sys_s']:.1f} s, {out['faults'] / 1e6:.1f} M page faults, peak {out['peak_mib']:.0f} MiB",
                      flush=True)
        for mode, outs in rows.items():
            med = {k: statistics.median(o[k] for o in outs) for k in ("wall_s", "sys_s", "faults", "peak_mib")}
            print(f"median {mode:5}: {med['wall_s']:.1f} s, kernel {med['sys_s']:.1f} s, {med['faults'] / 1e6:.1f} M "
                  f"page faults, peak {med['peak_mib']:.0f} MiB")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def scans_pages(path: Path) -> int:
    from tasks.parse.ocr import page_count

    return page_count(path.read_bytes())
