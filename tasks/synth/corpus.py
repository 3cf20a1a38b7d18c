"""A realistic generated corpus (renderer + real division names) with a truth file: the demo and benchmark input."""

from __future__ import annotations

import datetime as dt
import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib.util import find_spec
from typing import Any

from tasks.parse.divisions import DEPARTMENTS, governments, region_of, sample_divisions
from tasks.synth.render import LAYOUTS, random_record, render_bytes

TRUTH_KEY = "_truth.jsonl"  # control files start with `_`: the pipeline lists them as ignored, never as reports
# Layout shares, roughly as crawls find them; GBK and UTF-8 dominate.
LAYOUT_WEIGHTS = {"html": 30, "pipe": 20, "cell_per_line": 15, "whitespace_cell_per_line": 10, "pdf_text": 15, "flattened": 10}
ENCODING_WEIGHTS = {"utf-8": 55, "gb18030": 20, "gbk": 15, "utf-8-sig": 7, "utf-16": 3}
EXTENSIONS = {"html": ".html", "pdf_text": ".txt"}
# Binary attachments, as sites publish reports (`attachments=True`: the demo and the benchmarks): a text-layer PDF
# drawn with an embedded CJK subset font, a Word file, an image-only PDF (a scan: the record printed as the form and
# scanned, tasks/synth/scans.py, read by OCR); the rest of the reports in the text layouts above.
ATTACHMENT_SHARES = {"pdf": 0.30, "docx": 0.05, "scan": 0.03}
ATTACHMENT_EXTENSIONS = {"pdf": ".pdf", "docx": ".docx", "scan": ".pdf"}
ATTACHMENT_LAYOUTS = {"pdf": "pdf_text", "docx": "pipe", "scan": None}  # how the parser reads each


class MissingSynthExtra(ModuleNotFoundError):
    """The binary attachments need the synth extra (reportlab, pillow), which the runtime does not install."""


def require_synth_extra() -> None:
    """Raise MissingSynthExtra, saying what to install, unless reportlab and pillow are importable."""
    missing = [dist for module, dist in (("reportlab", "reportlab"), ("PIL", "pillow")) if find_spec(module) is None]
    if missing:
        raise MissingSynthExtra(
            f"the corpus's PDF and scanned attachments need {' and '.join(missing)} (the synth extra): "
            "pip install 'govreports[synth]' (from a checkout: uv sync --extra synth, or make setup); "
            "`govreports generate --text-only` needs neither"
        )


def _attachment(job: tuple[str, dict[str, Any], int]) -> bytes:
    from tasks.synth.attachments import docx_attachment, pdf_attachment, scan_attachment

    kind, rec, seed = job
    return {"pdf": pdf_attachment, "docx": docx_attachment, "scan": scan_attachment}[kind](rec, rng=seed)


@dataclass(frozen=True)
class CorpusStats:
    reports: int
    duplicates: int
    broken: int
    sidecars: int
    bytes: int


def _broken(rng: random.Random, i: int) -> tuple[bytes, str]:
    kind = rng.choice(["empty", "binary", "pdf", "notice", "old"])
    if kind == "empty":
        return b"", "empty file"
    if kind == "binary":
        return bytes(rng.getrandbits(8) for _ in range(2048)), "binary content"
    if kind == "pdf":
        return b"%PDF-1.7\n" + bytes(rng.getrandbits(8) for _ in range(1024)), "binary content (pdf)"
    if kind == "notice":
        return ("关于报送2023年政府信息公开工作年度报告的通知\n各县区人民政府,市各部门:\n请于2024年1月31日前报送年度报告。\n"
                .encode()), "not an annual report"
    return ("某县人民政府2017年政府信息公开工作年度报告\n一、概述\n2017年,我县政府信息公开工作稳步推进。\n".encode("gb18030"),
            "pre-2019 report")


def generate_corpus(store, n_reports: int, *, seed: int = 0, years: tuple[int, int] = (2019, 2025),
                    duplicate_share: float = 0.01, broken_share: float = 0.005, sidecar_share: float = 0.2,
                    spam_share: float = 0.01, prefix: str = "reports", workers: int = 16,
                    attachments: bool = False, panel: PublisherPanel | None = None) -> CorpusStats:
    """Write n_reports report files (plus some duplicates and broken files) under `prefix/` and a truth file.
    `attachments`: ATTACHMENT_SHARES of the reports as PDF, Word and scanned-PDF files, drawn in worker processes
    (a PDF ~20 ms, a scan ~0.5 s); a scan's truth entry is kind "scan" with the record it prints and its `variant`
    (tasks/synth/scans.py). The same arguments give byte-identical files.
    `panel`: also a province's governments, every year, with exact shares of missing and late reports
    (generate_publisher_panel; under `prefix/panel/`)."""
    if attachments:
        require_synth_extra()
    rng = random.Random(seed)
    organs = sample_divisions(rng, max(200, n_reports // 3))
    layouts = list(LAYOUT_WEIGHTS)
    encodings = list(ENCODING_WEIGHTS)
    truth: list[dict[str, Any]] = []
    jobs: list[tuple[str, bytes]] = []
    total_bytes = 0
    n_dup = n_broken = n_side = 0
    kinds = list(ATTACHMENT_SHARES)
    binary: list[tuple[int, tuple[str, dict[str, Any], int]]] = []  # (job index, attachment to draw)
    for i in range(n_reports):
        organ, level, div = organs[rng.randrange(len(organs))]
        year = rng.randint(*years)
        rec = random_record(rng, year=year, organ=organ, admin_level=level, province=div.province)
        layout = rng.choices(layouts, [LAYOUT_WEIGHTS[x] for x in layouts])[0]
        enc = rng.choices(encodings, [ENCODING_WEIGHTS[x] for x in encodings])[0]
        data = render_bytes(rec, layout, rng=rng.getrandbits(32), encoding=enc, spam=rng.random() < spam_share)
        ext = EXTENSIONS.get(layout, ".txt")
        kind = None
        if attachments:
            draw = rng.random()
            for k in kinds:
                draw -= ATTACHMENT_SHARES[k]
                if draw < 0:
                    kind = k
                    break
        if kind is not None:
            binary.append((len(jobs), (kind, rec, rng.getrandbits(32))))
            data, layout, enc, ext = b"", ATTACHMENT_LAYOUTS[kind], kind, ATTACHMENT_EXTENSIONS[kind]
        key = f"{prefix}/{year + 1}/{level}/{i:07d}{ext}"
        jobs.append((key, data))
        total_bytes += len(data)
        entry = {"key": key, "kind": "scan" if kind == "scan" else "report", "layout": layout, "encoding": enc,
                 "record": rec, "division": {"province": div.province, "prefecture": div.prefecture,
                                             "county": div.county, "division_code": div.division_code}}
        if kind == "scan":
            from tasks.synth.attachments import scan_variant

            entry["variant"] = scan_variant(binary[-1][1][2]).name  # the variant scan_attachment draws from that seed
        if rng.random() < sidecar_share:
            side = {"organ": organ, "level": level, "region": region_of(div), "url": f"https://www.example.gov.cn/xxgk/{i}.html"}
            jobs.append((key + ".meta.json", json.dumps(side, ensure_ascii=False).encode()))
            entry["sidecar"] = side
            n_side += 1
        truth.append(entry)
        if rng.random() < duplicate_share:
            dup = f"{prefix}/mirror/{i:07d}{ext}"
            if kind is not None:
                binary.append((len(jobs), binary[-1][1]))  # drawn again from the same seed: the same bytes
            jobs.append((dup, data))
            truth.append({"key": dup, "kind": "duplicate", "duplicate_of": key})
            n_dup += 1
        if rng.random() < broken_share:
            bad, why = _broken(rng, i)
            bkey = f"{prefix}/broken/{i:07d}.txt"
            jobs.append((bkey, bad))
            truth.append({"key": bkey, "kind": "broken", "why": why})
            n_broken += 1
    if binary:
        import os
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            drawn = pool.map(_attachment, [job for _, job in binary], chunksize=32)
            for (at, _), data in zip(binary, drawn, strict=True):
                jobs[at] = (jobs[at][0], data)
                total_bytes += len(data)
    if panel is not None:
        panel_jobs, panel_truth = generate_publisher_panel(panel, seed=seed, prefix=f"{prefix}/panel")
        jobs += panel_jobs
        truth += panel_truth
        total_bytes += sum(len(data) for _, data in panel_jobs)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda kv: store.put_bytes(*kv), jobs))
    store.put_bytes(TRUTH_KEY, "\n".join(json.dumps(t, ensure_ascii=False) for t in truth).encode() + b"\n")
    return CorpusStats(n_reports, n_dup, n_broken, n_side, total_bytes)


@dataclass(frozen=True)
class PublisherPanel:
    """The governments of one province (the division table's: province, prefectures, counties), each expected to
    publish for every year, for the transparency indicators' tests: exact shares (rounded to whole reports) of the
    (government, year) cells left without a report, and of the published reports that are late, undated, missing
    table 4 (incomplete) or breaking their sum rules. Plus department reports of the same places, which coverage
    must not count. Governments are due by 31 March, departments by 31 January (shared/spec/format.md)."""

    province: str = "64"  # 2-digit province code (宁夏: 1 + 5 + 22 governments)
    years: tuple[int, int] = (2021, 2023)
    missing_share: float = 0.15
    late_share: float = 0.25
    undated_share: float = 0.1
    incomplete_share: float = 0.05
    inconsistent_share: float = 0.05
    departments: int = 12


PANEL_LAYOUTS = ("pipe", "cell_per_line", "whitespace_cell_per_line", "pdf_text", "html")  # values read exactly


def _pick(rng: random.Random, items: list[Any], share: float) -> set[Any]:
    return set(rng.sample(items, round(share * len(items))))


def _date_between(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


def _drop_last_pipe_table(text: str) -> str:
    """The text without its last run of pipe rows (table 4 in the pipe layout): a report missing a table."""
    lines = text.split("\n")
    runs, start = [], None
    for i, line in enumerate([*lines, ""]):
        if "|" in line and start is None:
            start = i
        elif "|" not in line and start is not None:
            runs.append((start, i))
            start = None
    first, end = runs[-1]
    return "\n".join(lines[:first] + lines[end:])


def generate_publisher_panel(panel: PublisherPanel, *, seed: int = 0, prefix: str = "panel"
                             ) -> tuple[list[tuple[str, bytes]], list[dict[str, Any]]]:
    """(key, bytes) of the panel's reports and their truth entries. Each report's entry says `timeliness` (on_time,
    late, undated), `days_late`, `deadline`, `complete` and `publisher` (division_code, level); each cell without a
    report is an entry of kind `missing_report` (division_code, level, government, year)."""
    rng = random.Random(f"panel-{seed}-{panel.province}")
    govs = [g for g in governments() if (g[0].division_code or "").startswith(panel.province)]
    if not govs:
        raise ValueError(f"no governments under province code {panel.province!r}")
    cells = [(i, year) for i in range(len(govs)) for year in range(panel.years[0], panel.years[1] + 1)]
    missing = _pick(rng, cells, panel.missing_share)
    published = [c for c in cells if c not in missing]
    late = _pick(rng, published, panel.late_share)
    undated = _pick(rng, [c for c in published if c not in late], panel.undated_share)
    incomplete = _pick(rng, published, panel.incomplete_share)
    inconsistent = _pick(rng, [c for c in published if c not in incomplete], panel.inconsistent_share)
    jobs: list[tuple[str, bytes]] = []
    truth: list[dict[str, Any]] = []

    def report(key: str, organ: str, div: Any, year: int, deadline: dt.date, when: str, broken: bool, cut: bool,
               publisher: dict[str, str] | None) -> None:
        rec = random_record(rng, year=year, organ=organ, admin_level=div.admin_level, province=div.province,
                            consistent=not broken)
        date = None
        if when == "on_time":
            date = _date_between(rng, dt.date(year + 1, 1, 1), deadline)
        elif when == "late":
            date = _date_between(rng, deadline + dt.timedelta(days=1), dt.date(year + 1, 12, 31))
        rec["published_date"] = date.isoformat() if date else None
        layout = "pipe" if cut else rng.choice(PANEL_LAYOUTS)
        data = render_bytes(rec, layout, rng=rng.getrandbits(32), encoding="utf-8")
        if cut:
            data = _drop_last_pipe_table(data.decode("utf-8")).encode("utf-8")
        key += EXTENSIONS.get(layout, ".txt")
        jobs.append((key, data))
        truth.append({"key": key, "kind": "report", "layout": layout, "encoding": "utf-8", "record": rec, "division": {
            "province": div.province, "prefecture": div.prefecture, "county": div.county,
            "division_code": div.division_code}, "publisher": publisher, "timeliness": when,
            "deadline": deadline.isoformat(), "days_late": (date - deadline).days if when == "late" else (
                0 if date else None), "complete": not cut})

    for i, year in cells:
        div, _, organ = govs[i]
        publisher = {"division_code": div.division_code, "level": div.admin_level}
        if (i, year) in missing:
            truth.append({"key": None, "kind": "missing_report", "government": organ, "year": year, **publisher})
            continue
        when = "late" if (i, year) in late else "undated" if (i, year) in undated else "on_time"
        report(f"{prefix}/{year + 1}/{div.division_code}-{year}", organ, div, year, dt.date(year + 1, 3, 31), when,
               (i, year) in inconsistent, (i, year) in incomplete, publisher)
    for j in range(panel.departments):  # same places, not governments: due by 31 January, never counted as coverage
        div, _, organ = govs[rng.randrange(len(govs))]
        stem = organ.removesuffix("人民政府").removesuffix("行政公署")
        year = rng.randint(*panel.years)
        department = stem + rng.choice([d for d in DEPARTMENTS if d not in ("人民政府办公室",)])
        report(f"{prefix}/departments/{j:03d}-{year}", department, replace(div, organ_kind="department"), year,
               dt.date(year + 1, 1, 31), rng.choice(("on_time", "late", "undated")), False, False, None)
    return jobs, truth


def read_truth(store) -> list[dict[str, Any]]:
    return [json.loads(line) for line in store.get_bytes(TRUTH_KEY).decode().splitlines() if line.strip()]


__all__ = ["LAYOUTS", "TRUTH_KEY", "CorpusStats", "MissingSynthExtra", "PublisherPanel", "generate_corpus",
           "generate_publisher_panel", "read_truth", "require_synth_extra"]
