"""Reports as binary attachments, the way sites publish them: for the generated corpus (demo, benchmarks) only —
synthetic data, never imported by the parse path.

- `pdf_attachment`: a text-layer PDF as WPS and Word make one: a CJK TrueType font embedded as a subset (Debian's
  WenQuanYi Micro Hei, installed by `make fonts`), several pages, a page number at each page top (`- 3 -`), tables
  crossing page breaks with table 3's header repeated on the page it continues on.
- `scan_attachment`: an image-only PDF (a scan): the record printed as the form and scanned in one of the variants
  of tasks/synth/scans.py (150/200 dpi, ±1.5° skew, JPEG noise, a red seal), page images, no text layer.
- `docx_attachment`: a Word document: the report's paragraphs, its tables as Word tables.

The text drawn is the renderer's `pdf_text` (or `pipe`) layout of the record, so the truth is the record itself.
Every file is a function of the record and the seed, byte for byte: reportlab writes with `invariant=1` (no dates,
a fixed document ID), the Word zip's members and core properties carry the publication date, the scan PDF no date.
Measured here: a 5–7-page PDF in ~25 ms (the font is parsed once per process and subset per file), a DOCX in
~15 ms, a scan of 3–4 pages in ~0.2 s (150 dpi) to ~0.8 s (skewed or JPEG noise at 200 dpi), ~0.5 s on average
(CPU time, 12 random records, `scan_attachment`).
"""

from __future__ import annotations

import datetime as dt
import io
import random
import re
from functools import lru_cache
from typing import Any

from tasks.synth.render import render

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_NAME = "WenQuanYiMicroHei"
LINES_PER_PAGE = (24, 30)  # a report's ~150 lines on 5–7 pages
_PAGE_MARK_RE = re.compile(r"- \d+ -")
_ROW_START_RE = re.compile(r"\s*(?:\d[.、]|[（(][一二三四五六七八九十][）)]|[一二三四五六七八九十]、)")
_T3_REPEATED_HEAD = ("申请人情况", "自然人", "法人或其他组织", "商业企业 科研机构 社会公益组织 法律服务机构 其他 总计")


@lru_cache(maxsize=1)
def _font() -> str:
    """Register the CJK TrueType font with reportlab once per process (parsing the 5 MB collection is ~0.3 s)."""
    import os

    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if not os.path.exists(CJK_FONT):
        raise FileNotFoundError(f"{CJK_FONT}: the CJK font PDF attachments are drawn with is not installed; `make fonts` "
                                "installs it (Debian's fonts-wqy-microhei), or generate with --text-only")
    pdfmetrics.registerFont(TTFont(FONT_NAME, CJK_FONT, subfontIndex=0))
    return FONT_NAME


def _pages(text: str, per_page: int) -> list[list[str]]:
    """The pdf_text rendering's lines (its own page markers dropped: each page gets its number when drawn) cut into
    pages of `per_page` lines: 5–7 pages a report, as the real ones run."""
    lines = [ln for ln in text.split("\n") if ln.strip() and not _PAGE_MARK_RE.fullmatch(ln.strip())]
    return [lines[i:i + per_page] for i in range(0, len(lines), per_page)]


def pdf_attachment(record: dict[str, Any], *, rng: random.Random | int | None = None) -> bytes:
    """The record as a text-layer PDF with an embedded CJK subset font."""
    from reportlab.pdfgen import canvas

    r = rng if isinstance(rng, random.Random) else random.Random(rng)
    font = _font()
    text = render(record, "pdf_text", rng=r.getrandbits(32), noise=True)
    pages = _pages(text, r.randint(*LINES_PER_PAGE))
    repeat_head = r.random() < 0.5
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pageCompression=1, invariant=1)
    c.setAuthor("WPS Office")
    c.setCreator("WPS 文字")
    size = r.choice((12, 13, 14))
    in_t3 = False
    for n, lines in enumerate(pages, 1):
        c.setFont(font, 9)
        c.drawCentredString(297, 812, f"- {n} -")  # page number at the top, as the huaian PDF prints it
        y = 780
        # the page broke between two rows (not inside a wrapped label): the header is repeated there
        ended_row = n > 1 and pages[n - 2][-1].rstrip()[-1:].isdigit() and _ROW_START_RE.match(lines[0]) is not None
        if repeat_head and in_t3 and ended_row:  # a table continued: its header printed again on the new page
            for head in _T3_REPEATED_HEAD:
                c.setFont(font, size)
                c.drawString(60, y, head)
                y -= size * 1.6
        for line in lines:
            if "三、" in line and "申请" in line:
                in_t3 = True
            elif line.lstrip().startswith("四、"):
                in_t3 = False
            c.setFont(font, size)
            c.drawString(60, y, line)
            y -= size * 1.6
        c.showPage()
    c.save()
    return buf.getvalue()


def scan_variant(rng: random.Random | int | None) -> Any:
    """The scan variant (tasks/synth/scans.py: 200 or 150 dpi, ±1.5° skew, JPEG noise, a red seal) a seed draws."""
    from tasks.synth.scans import VARIANTS

    r = rng if isinstance(rng, random.Random) else random.Random(rng)
    return r.choice(VARIANTS)


def scan_attachment(record: dict[str, Any], *, rng: random.Random | int | None = None) -> bytes:
    """An image-only PDF: the record printed as the form, stamped and scanned (page images, no text layer), in the
    variant `scan_variant` draws from the same seed."""
    from tasks.synth.scans import scanned

    r = rng if isinstance(rng, random.Random) else random.Random(rng)
    variant = scan_variant(r)
    return scanned(record, variant, seed=r.getrandbits(32))


def docx_attachment(record: dict[str, Any], *, rng: random.Random | int | None = None) -> bytes:
    """The record as a Word document: the pipe rendering's prose as paragraphs, its pipe rows as Word tables."""
    import docx

    r = rng if isinstance(rng, random.Random) else random.Random(rng)
    text = render(record, "pipe", rng=r.getrandbits(32), noise=False)
    document = docx.Document()
    block: list[list[str]] = []

    def flush() -> None:
        if not block:
            return
        cols = max(len(row) for row in block)
        table = document.add_table(rows=len(block), cols=cols)
        for i, row in enumerate(block):
            cells = table.rows[i].cells
            for j, value in enumerate(row):
                cells[j].text = value
        block.clear()

    for line in text.split("\n"):
        if "|" in line:
            cells = [c.strip() for c in line.strip().split("|")]
            if cells and cells[-1] == "":
                cells.pop()
            if cells and cells[0] == "":
                cells.pop(0)
            block.append(cells)
        else:
            flush()
            if line.strip():
                document.add_paragraph(line.strip())
    flush()
    when = _written_at(record)
    document.core_properties.created = document.core_properties.modified = when
    document.core_properties.author = document.core_properties.last_modified_by = "Administrator"
    buf = io.BytesIO()
    document.save(buf)
    return _zip_dated(buf.getvalue(), when)


def _written_at(record: dict[str, Any]) -> dt.datetime:
    """When the report's file was written: its publication date (or 15 January after its year), 09:00."""
    try:
        day = dt.date.fromisoformat(record.get("published_date") or "")
    except (TypeError, ValueError):
        day = dt.date(int(record.get("year") or 2020) + 1, 1, 15)
    return dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.UTC)


def _zip_dated(data: bytes, when: dt.datetime) -> bytes:
    """The zip (a Word file) with every member dated `when`, not the time it was written (python-docx's zipfile
    stamps the clock), so the same record and seed give the same bytes."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = info.external_attr
            dst.writestr(member, src.read(info.filename))
    return out.getvalue()
