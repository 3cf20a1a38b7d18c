"""`make bench-hostile`: every hostile input of tests/hostile.py parsed alone the way a run parses it (in the
parser process, under the pipeline's default per-file budget), with its wall time, the parser process's peak
memory, and what became of it. The target: each ≤ 30 s and ≤ 1 GiB, or refused with its reason.

    .venv/bin/python -m tests.bench.bench_hostile [NAME ...]
"""

from __future__ import annotations

import sys
import time

from flows.pipeline import PipelineSettings
from tasks.parse.documents import Document
from tasks.parse.isolate import Supervisor
from tests.hostile import cases


def main(names: list[str]) -> int:
    settings = PipelineSettings()
    print(f"budget per file: {settings.file_time_budget_s:g} s, {settings.file_memory_budget_mb} MiB "
          f"(GOVREPORTS_FILE_TIME_BUDGET_S, GOVREPORTS_FILE_MEMORY_BUDGET_MB)")
    print(f"{'input':<24} {'size':>9} {'seconds':>8} {'peak MiB':>9}  outcome")
    over = 0
    for case in cases():
        if names and case.name not in names:
            continue
        data = case.build()
        sup = Supervisor(settings.file_time_budget_s, settings.file_memory_budget_mb)
        try:
            sup.parse([Document(source="warm-up.txt", data=b"warm-up")], 1)  # the parser process started
            sup.peak_rss = 0
            t0 = time.perf_counter()
            out = sup.parse([Document(source=case.filename, data=data)], 1)
            took = time.perf_counter() - t0
        finally:
            sup.close()
        if out.refused:
            outcome = f"failure: {out.refused[0]}"
        else:
            findings = out.frames["findings"]
            rules = sorted(set(findings.get_column("rule").to_list()))
            status = out.frames["reports"].get_column("parse_status").to_list()
            problem = next((m for r, m in findings.select("rule", "message").iter_rows() if r == "unsupported_format"), "")
            outcome = f"report ({', '.join(status)}), findings: {', '.join(rules) or '-'}" + (
                f" — {problem[:110]}" if problem else "")
        peak = sup.peak_rss / 2**20
        flag = "" if took <= 30 and peak <= 1024 or out.refused else "  OVER"
        over += bool(flag)
        print(f"{case.name:<24} {len(data) / 1024:>7.0f}KB {took:>8.1f} {peak:>9.0f}  {outcome}{flag}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
