"""Scanned reports made in the tests (never downloaded, never committed): a shared sample's record drawn as the
printed form, or the real huaian PDF rasterised by pdfium, then turned into an image-only PDF the way a scanner does
— at 150 or 200 dpi, turned by a degree or two, JPEG noise, a red seal stamped over part of table 3.

The drawing and the scanner (`Variant`, `VARIANTS`, `draw_record`, `scan`, `to_pdf`, `MARGIN`) live in tasks/synth/scans.py,
which the generated corpus's scans use too; here are the test-only parts: the shared samples' expected values, the
real PDF's pages, the scoring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.synth import scans as synth_scans

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():
    SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
EXPECTED = SHARED / "samples" / "expected"
HUAIAN_PDF = SHARED / "samples" / "real" / "huaian_2024.pdf"

VARIANTS = synth_scans.VARIANTS
Variant = synth_scans.Variant
draw_record = synth_scans.draw_record
scan = synth_scans.scan
to_pdf = synth_scans.to_pdf
MARGIN = synth_scans.MARGIN  # inches: the printed page's margin (tests that crop a table out of a drawn page)


def expected(name: str) -> dict[str, Any]:
    return json.loads((EXPECTED / f"{name}.json").read_text(encoding="utf-8"))


def seed_names() -> list[str]:
    return sorted(p.stem for p in EXPECTED.glob("0*.json"))


def record_of(exp: dict[str, Any]) -> dict[str, Any]:
    """A renderer record from a sample's expected values."""
    keys = ("year", "format_version", "organ", "admin_level", "province", "published_date", "index_number",
            "active_disclosure", "applications", "review_litigation")
    return {k: exp.get(k) for k in keys}


def huaian_pages(dpi: int):
    """The real huaian PDF rasterised by pdfium (its table 3 is on pages 4 and 5: the seal goes on page 4)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(HUAIAN_PDF))
    try:
        pages = [pdf[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(len(pdf))]
    finally:
        pdf.close()
    s = dpi / 200  # table 3's value columns on page 4, measured at 200 dpi
    return pages, (3, int(700 * s), int(1280 * s), int(1430 * s), int(2160 * s))


def scanned_pdf(name: str, variant: Variant) -> bytes:
    """A sample as an image-only PDF in `variant`: `huaian_2024_pdf` is the real PDF rasterised, a seed is its
    expected record drawn as the printed form."""
    if name == "huaian_2024_pdf":
        pages, area = huaian_pages(variant.dpi)
    else:
        pages, area = draw_record(record_of(expected(name)), variant.dpi)
    return to_pdf(scan(pages, variant, area), variant.dpi)


# --------------------------------------------------------------------------------------------------------------
# Scoring


def score(rec: dict[str, Any], exp: dict[str, Any]) -> dict[str, int]:
    """Table-3 and table-4 values against the expected ones: printed (expected not null), read (kept, not null),
    wrong (kept and different)."""
    printed = read = wrong = 0
    pairs: list[tuple[Any, Any]] = []
    for key, row in (exp.get("applications") or {}).items():
        got = ((rec.get("applications") or {}).get(key)) or [None] * len(row or [])
        pairs += list(zip(got, row or [], strict=False))
    exp_rl = exp.get("review_litigation") or []
    pairs += list(zip(rec.get("review_litigation") or [None] * len(exp_rl), exp_rl, strict=False))
    for got, want in pairs:
        if want is not None:
            printed += 1
        if got is not None:
            read += 1
            wrong += got != want
    return {"printed": printed, "read": read, "wrong": wrong}
