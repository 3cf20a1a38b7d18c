"""Do scans hold up the text reports? A nightly run over generated text reports, with and without 3 % scans added,
interleaved, each run a process of its own: `timings.text_done_s` (flow time when the last parse batch ended: the
text reports are staged), the run's wall time and the CPU time of its process tree.

    python -m tests.bench.bench_ocr_lane --reports 1500 --scan-share 0.03 --rounds 3

The scans are the shared samples' printed forms drawn as one-page image-only PDFs (tests/scans.py, JPEG grain
seeded per copy, so each is its own report): one page keeps the OCR step of a round to minutes; the parse batches
see a scan's bytes and find it has no text layer whatever its pages. `--ocr-off`: the runs with scans have OCR switched
off, so a round takes seconds (the parse batches' work is the same up to handing a scan back, text_done_s is
measured before any OCR starts), for more rounds on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = r"""
import json, sys
from flows import pipeline
from flows.settings import RunSettings
out = pipeline.nightly(RunSettings(source=sys.argv[1], dest=sys.argv[2], runner="local", workers=int(sys.argv[3]),
                                   ocr=sys.argv[4] == "on"))
print("RESULT " + json.dumps({"parsed": out["parsed"], "scans": out["scans"], "ocr_pages": out["ocr_pages"],
                               "batches": out["batches"], "timings": out["timings"]}))
"""


def make_sources(root: Path, reports: int, share: float) -> tuple[Path, Path, int]:
    from tasks.storage import Store
    from tasks.synth.corpus import generate_corpus
    from tests import scans

    text = root / "text"
    generate_corpus(Store(str(text)), reports, seed=17)
    mixed = root / "mixed"
    shutil.copytree(text, mixed)
    n = max(1, round(reports * share))
    seeds = scans.seed_names()
    variant = scans.VARIANTS[4]  # JPEG grain: a copy's seed makes its bytes its own
    pages = {name: scans.draw_record(scans.record_of(scans.expected(name)), variant.dpi)[0][:1] for name in seeds}
    (mixed / "scans").mkdir()
    for i in range(n):
        name = seeds[i % len(seeds)]
        (mixed / "scans" / f"{i:03d}_{name}.pdf").write_bytes(
            scans.to_pdf(scans.scan(pages[name], variant, seed=100 + i), variant.dpi))
    return text, mixed, n


def one_run(source: Path, dest: Path, workers: int, home: Path, ocr: bool = True) -> dict:
    shutil.rmtree(dest, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(source), str(dest), str(workers), "on" if ocr else "off"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    line = next((ln for ln in stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"run failed ({proc.returncode}): {stdout[-2000:]}")
    out = json.loads(line[len("RESULT "):])
    out["cpu_s"] = usage.ru_utime + usage.ru_stime
    out["process_wall_s"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=1500)
    ap.add_argument("--scan-share", type=float, default=0.03)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ocr-off", action="store_true", help="the runs with scans leave them unread (GOVREPORTS_OCR=off): "
                    "their parse batches do what an OCR run's do (find the scans), and no OCR step follows")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_ocr_lane_"))
    try:
        text, mixed, n = make_sources(root, args.reports, args.scan_share)
        print(f"{args.reports} text reports; {n} one-page scans added", flush=True)
        rows: dict[str, list[dict]] = {"without": [], "with": []}
        for r in range(args.rounds):
            for label, src in (("without", text), ("with", mixed)) if r % 2 == 0 else (("with", mixed), ("without", text)):
                out = one_run(src, root / f"lake-{label}", args.workers, root / "prefect", ocr=not args.ocr_off)
                rows[label].append(out)
                t = out["timings"]
                print(f"round {r} {label:7s} text_done_s={t['text_done_s']:.1f} ocr_s={t.get('ocr_s', 0):.1f} "
                      f"flow_wall_s={t['wall_s']:.1f} cpu_s={out['cpu_s']:.1f} parsed={out['parsed']} "
                      f"scans={out['scans']} ocr_pages={out['ocr_pages']} batches={out['batches']}", flush=True)
        med = {label: {k: statistics.median(o["timings"][k] if k in o["timings"] else o[k] for o in outs)
                       for k in ("text_done_s", "wall_s", "cpu_s")} for label, outs in rows.items()}
        print(json.dumps(med, indent=1))
        ratios = [w["timings"]["text_done_s"] / o["timings"]["text_done_s"]
                  for w, o in zip(rows["with"], rows["without"], strict=True)]
        print(f"text_done_s with/without scans: median {med['with']['text_done_s'] / med['without']['text_done_s']:.3f} "
              f"(pairs: {', '.join(f'{x:.3f}' for x in ratios)})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
