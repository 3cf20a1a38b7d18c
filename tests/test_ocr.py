"""Scanned reports: image-only PDFs made here (tests/scans.py: the real huaian PDF rasterised, the seeds drawn as the
printed form; 150/200 dpi, ±1.5° skew, JPEG noise, a red seal over table 3) read by OCR, and only the numbers the
form's sum rules confirm kept.

OCR costs seconds a page, so each scan is read once per session (`read`), and the matrix of every sample in every
variant is the benchmark's (`python -m tests.bench.bench_ocr`); here the real PDF goes through every variant and
each seed through one."""

from __future__ import annotations

import copy
import functools
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tasks.parse import ocr
from tasks.parse.documents import Document, parse_documents
from tasks.parse.extract import Extracted
from tasks.parse.ocr_confirm import confirm, record_values, rules, suspects
from tasks.rules.within_report import validate
from tests import scans

needs_ocr = pytest.mark.skipif(not ocr.available(), reason="the ocr extra is not installed")


@functools.cache
def read(name: str, variant: str) -> tuple[dict, pl.DataFrame]:
    """(record, reports frame) of a sample scanned in a variant: read once per session."""
    v = next(x for x in scans.VARIANTS if x.name == variant)
    parsed = parse_documents([Document(f"scans/{name}-{variant}.pdf", scans.scanned_pdf(name, v))])
    return parsed.records[0], parsed.frames["reports"]


def _assert_read(name: str, variant: str) -> dict:
    rec, reports = read(name, variant)
    exp = scans.expected(name)
    s = scans.score(rec, exp)
    assert s["wrong"] == 0, (name, variant, s)
    for key in ("year", "organ", "admin_level", "province", "format_version"):
        if key in exp:  # (a seed's label leaves out what its text does not tell)
            assert rec[key] == exp[key], (name, variant, key)
    row = reports.row(0, named=True)
    assert row["reader"] == ocr.reader_name() and row["reader"].startswith("rapidocr-onnxruntime ")
    assert 0 < row["ocr_confidence_min"] <= 1
    # every value left null is named by a finding; table 2 has no rule, so none of its numbers is kept
    unconfirmed = {f["field"] for f in rec["findings"] if f["rule"] == "ocr_unconfirmed"}
    for key, row_values in (exp["applications"] or {}).items():
        for j, want in enumerate(row_values or []):
            if want is not None and (rec["applications"] or {}).get(key, [None] * 7)[j] is None:
                assert f"applications.{key}[{j}]" in unconfirmed, (name, variant, key, j)
    assert all(v is None for m in (rec["active_disclosure"] or {}).values() for v in m.values())
    return s


# -- the rules, cell by cell -----------------------------------------------------------------------------------

def _frames(rec: dict, version: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    from schemas import form

    apps = pl.DataFrame(
        [("r", version, row.key, row.group, *rec["applications"][row.key]) for row in form.APPLICATION_ROWS[version]],
        orient="row", schema={"report_id": pl.String, "format_version": pl.String, "row_key": pl.String,
                              "row_group": pl.String, **{c: pl.Int64 for c in form.APPLICANTS}})
    rl = pl.DataFrame([("r", g, *rec["review_litigation"][i * 5:(i + 1) * 5]) for i, g in enumerate(form.REVIEW_GROUPS)],
                      orient="row", schema={"report_id": pl.String, "group": pl.String,
                                            **{c: pl.Int64 for c in form.REVIEW_OUTCOMES}})
    return apps, rl


def test_cell_rules_fail_exactly_where_the_batch_rules_do():
    """The confirmation's rules are the validator's: on records with random digits changed, a record breaks some
    cell rule exactly when validate() reports a finding for it."""
    rng = random.Random(5)
    for name in ("huaian_2024_pdf", *scans.seed_names()):
        exp = scans.expected(name)
        if not exp["applications"] or not exp["review_litigation"]:
            continue
        for _ in range(30):
            rec = copy.deepcopy(exp)
            for _ in range(rng.choice((0, 1, 2))):
                key = rng.choice(list(rec["applications"]))
                j = rng.randrange(7)
                rec["applications"][key][j] += rng.choice((1, 9, 10))
            if rng.random() < 0.3:
                rec["review_litigation"][rng.randrange(15)] += 1
            version = exp["format_version"]
            broken = any(sum(record_values(rec)[c] for c in r.lhs) != sum(record_values(rec)[c] for c in r.rhs)
                         for r in rules(version))
            assert broken == (validate(*_frames(rec, version)).height > 0), name


def test_a_swapped_digit_is_caught_and_left_null():
    """One digit changed in a reading (3001 → 3007, 1362 → 1862 …): the cell is suspect, null, named; nothing else
    that is right is lost to it beyond the cells its rules cannot clear."""
    exp = scans.expected("huaian_2024_pdf")
    values = record_values(exp)
    rule_list = rules("2021")
    assert suspects(values, rule_list) == set()
    rng = random.Random(1)
    cells = [c for c, v in values.items() if v is not None]
    for cell in rng.sample(cells, 40):
        wrong = dict(values)
        text = str(wrong[cell])
        k = rng.randrange(len(text))
        digit = rng.choice([d for d in "0123456789" if d != text[k] and (k or d != "0" or len(text) == 1)])
        wrong[cell] = int(text[:k] + digit + text[k + 1:])
        assert cell in suspects(wrong, rule_list), cell


class _Doc:
    lines: list = []
    page_png: list = []

    def read_again(self, cell):  # pragma: no cover - no OCR cells here
        return ()


def test_confirm_nulls_what_the_rules_do_not_confirm_and_names_it():
    exp = scans.expected("huaian_2024_pdf")
    rec = copy.deepcopy({k: exp[k] for k in ("applications", "review_litigation", "active_disclosure")})
    rec["applications"]["granted"][0] = 1888  # was 1288
    rec["review_litigation"][2] = 17  # was 178
    out = Extracted(record=rec)
    confirm(out, _Doc())
    assert rec["applications"]["granted"][0] is None and rec["review_litigation"][2] is None
    fields = {f["field"] for f in out.findings if f["rule"] == "ocr_unconfirmed"}
    assert {"applications.granted[0]", "review_litigation[2]"} <= fields
    kept = record_values(rec)
    assert all(v is None or v == record_values(exp)[c] for c, v in kept.items())  # nothing wrong kept
    assert sum(v is not None for v in kept.values()) >= 190 - 15  # a row, a column and a group at most
    assert all(v is None for m in rec["active_disclosure"].values() for v in m.values())


def test_a_scan_without_the_ocr_extra_stays_unsupported(monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)
    data = scans.to_pdf([scans.huaian_pages(72)[0][0]], 72)
    rec = parse_documents([Document("scan.pdf", data)]).records[0]
    assert [f["rule"] for f in rec["findings"]] == ["unsupported_format"]
    assert "OCR not installed" in rec["findings"][0]["message"]


# -- scans read end to end (the engine) ---------------------------------------------------------------------------

@needs_ocr
def test_real_pdf_rasterised_is_read_with_no_wrong_value():
    s = _assert_read("huaian_2024_pdf", "200dpi")
    assert s["read"] >= 0.99 * s["printed"], s


@needs_ocr
def test_an_ocr_result_with_one_digit_swapped_is_caught(monkeypatch):
    """The engine's own result tampered with: the first 3001 of table 3 becomes 3091 before layout. The rules catch
    it: the cell is null with ocr_unconfirmed, and no wrong value is kept."""
    from tasks.parse import ocr as ocr_mod
    real = ocr_mod.engine

    class Tampered:
        def __init__(self, eng):
            self.eng = eng
            self.done = False

        def __call__(self, img, **kw):
            res, el = self.eng(img, **kw)
            if not kw and res and not self.done:
                for item in res:
                    if item[1] == "3001":
                        item[1] = "3091"
                        self.done = True
            return res, el

    tampered = Tampered(real())
    monkeypatch.setattr(ocr_mod, "engine", lambda: tampered)
    data = scans.scanned_pdf("huaian_2024_pdf", scans.VARIANTS[0])
    rec = parse_documents([Document("tampered.pdf", data)]).records[0]
    assert tampered.done
    assert rec["applications"]["new_received"][0] in (None, 3001)  # read again alone it may come back right
    s = scans.score(rec, scans.expected("huaian_2024_pdf"))
    assert s["wrong"] == 0, s
    if rec["applications"]["new_received"][0] is None:
        assert any(f["rule"] == "ocr_unconfirmed" and f["field"] == "applications.new_received[0]" for f in rec["findings"])


@needs_ocr
@pytest.mark.slow
@pytest.mark.parametrize("variant", [v.name for v in scans.VARIANTS[1:]])
def test_real_pdf_in_every_scan_variant(variant):
    s = _assert_read("huaian_2024_pdf", variant)
    assert s["read"] >= 0.99 * s["printed"], s  # issue 17's target, the seal's variant too (190 of 190 now)


@needs_ocr
@pytest.mark.slow
@pytest.mark.parametrize("name,variant", [(n, scans.VARIANTS[i % len(scans.VARIANTS)].name)
                                          for i, n in enumerate(scans.seed_names())])
def test_seeds_drawn_as_forms_and_scanned(name, variant):
    s = _assert_read(name, variant)
    assert s["read"] >= 0.99 * s["printed"], s


@needs_ocr
def test_a_scan_longer_than_the_page_limit_says_what_was_not_read(monkeypatch):
    monkeypatch.setattr(ocr, "MAX_PAGES", 1)
    pages = scans.huaian_pages(72)[0][:3]
    rec = parse_documents([Document("long.pdf", scans.to_pdf(pages, 72))]).records[0]
    skipped = [f for f in rec["findings"] if f["rule"] == "ocr_pages_skipped"]
    assert len(skipped) == 1 and "3 pages" in skipped[0]["message"] and "first 1" in skipped[0]["message"]


def test_table_4_kept_only_where_a_ruled_line_of_the_scan_reads_as_it():
    """Table 4's groups hold under a shift inside a group (seed 004 at ±1.5° skew: 2 0 0 0 2 parsed as 0 0 0 2 2,
    every rule holding): its numbers are kept only when a ruled line of the scan reads exactly as them."""
    exp = scans.expected("004_d01d2cbab1ffe994")
    printed = list(exp["review_litigation"])
    line = ocr.OcrLine(" ".join(map(str, printed)), [ocr.OcrCell(str(v), 1.0, 0, (0, 0, 1, 1)) for v in printed])

    class Doc(_Doc):
        lines = [line]

    for shown, kept in ((printed, True), ([0, 0, 0, 2, 2, *printed[5:]], False)):
        rec = copy.deepcopy({k: exp[k] for k in ("applications", "review_litigation", "active_disclosure")})
        rec["review_litigation"] = list(shown)
        out = Extracted(record=rec)
        confirm(out, Doc())
        assert (rec["review_litigation"] == printed) if kept else all(v is None for v in rec["review_litigation"])
        named = {f["field"] for f in out.findings if f["rule"] == "ocr_unconfirmed"}
        assert kept or {f"review_litigation[{j}]" for j in range(15)} <= named


# -- the allocator of a process that reads scans ----------------------------------------------------------------

_ALLOCATE = r"""
import ctypes, resource, sys
from tasks.parse import ocr
if sys.argv[1] == "tuned":
    assert ocr.keep_large_buffers()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a tensor of the engine's, made, written and freed as page after page is read
    p = libc.malloc(20 << 20)
    ctypes.memset(p, 1, 20 << 20)
    libc.free(p)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_process_reading_scans_reuses_its_large_buffers_under_dasks_allocator_setting():
    """Dask's nanny starts its workers with MALLOC_TRIM_THRESHOLD_=65536, which stops glibc from raising its mmap
    threshold: every large array is mapped and faulted in afresh (OCR ran 2.7x slower, most of it in the kernel).
    The OCR engine's process sets its own thresholds; page faults are counted, not timed."""
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    faults = {mode: int(subprocess.run([sys.executable, "-c", _ALLOCATE, mode], env=env, capture_output=True,
                                       text=True, check=True).stdout) for mode in ("dask", "tuned")}
    pages = (20 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert faults["dask"] >= 15 * pages, faults  # each of the 20 arrays faulted in again
    assert faults["tuned"] <= 3 * pages, faults  # the first, then the heap's pages reused
