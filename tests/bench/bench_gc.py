"""The parser process's garbage-collector setting (tasks/parse/isolate.py CHILD_GC_THRESHOLD) against Python's
default: N reports of a generated corpus parsed in chunks of 1,000 in one fresh process per setting, settings
interleaved, CPU of the parsing and of the collector (gc.callbacks) printed per round.

    govreports generate --reports 20000 --dest /tmp/gc-src --seed 7 --text-only
    python -m tests.bench.bench_gc /tmp/gc-src 15000 [--rounds 2]

Measured on a loaded machine (load ~20), 15,000 reports, 2 rounds: default 11.5/12.2 s of parsing CPU, collector
1.7/2.0 s; frozen imports and a first generation of 10,000: 10.2/10.7 s, collector 0.4/0.5 s.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import gc, json, sys, time
from pathlib import Path
from tasks.parse.documents import Document, parse_documents
from tasks.parse.isolate import CHILD_GC_THRESHOLD
paths = json.loads(sys.stdin.read())
if sys.argv[1] == "child":
    gc.collect(); gc.freeze(); gc.set_threshold(*CHILD_GC_THRESHOLD)
spent = {"gc": 0.0}; start = {}
def cb(phase, info):
    if phase == "start":
        start["t"] = time.process_time()
    else:
        spent["gc"] += time.process_time() - start["t"]
gc.callbacks.append(cb)
total = 0.0
for i in range(0, len(paths), 1000):
    docs = [Document(source=p, data=Path(p).read_bytes()) for p in paths[i:i + 1000]]
    t = time.process_time(); parse_documents(docs); total += time.process_time() - t
print(json.dumps({"parse_s": total, "gc_s": spent["gc"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("n", type=int, nargs="?", default=15_000)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    files = sorted(str(p) for p in Path(a.source).rglob("*")
                   if p.is_file() and not p.name.endswith(".json") and not p.name.startswith(("_", ".")))
    random.Random(1).shuffle(files)
    paths = json.dumps(files[:a.n])
    print(f"{min(a.n, len(files))} reports, {a.rounds} interleaved rounds")
    for r in range(a.rounds):
        for setting in ("default", "child") if r % 2 == 0 else ("child", "default"):
            out = subprocess.run([sys.executable, "-c", _CHILD, setting], input=paths, capture_output=True, text=True,
                                 check=True, cwd=Path(__file__).resolve().parents[2])
            f = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"  round {r + 1}, {setting:7}: parsing {f['parse_s']:.1f} s CPU, of it the collector {f['gc_s']:.1f} s")


if __name__ == "__main__":
    main()
