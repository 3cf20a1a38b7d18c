"""Word files whose tables are pictures (tasks/parse/word_pictures.py): made here from the shared samples, never
downloaded — each sample's record as a Word file (tasks/synth/attachments.docx_attachment: prose as paragraphs, tables
as Word tables) with each Word table replaced by the picture(s) of that table cropped from the record drawn as the
printed form (tests/scans.draw_record: ruled tables with the form's merged cells; a table cut by a page break is two
pictures), or the whole printed pages pasted in as pictures. Read by OCR, every number is the printed one or null
with a finding, never wrong; a logo alone changes nothing; a picture past a limit is refused with its reason."""

from __future__ import annotations

import functools
import io
import struct
import zlib

import pytest

from tasks.parse import ocr, word_pictures
from tasks.parse.decode import decode_bytes
from tasks.parse.documents import Document, parse_documents
from tests import scans

needs_ocr = pytest.mark.skipif(not ocr.available(), reason="the ocr extra is not installed")
DPI = 200
TABLE_KEYS = ("active_disclosure", "applications", "review_litigation")


# -- the Word files ----------------------------------------------------------------------------------------------

def _bands(page, dpi: int) -> list[tuple[int, int]]:
    """(top, bottom) of each ruled table drawn on a page: runs of pixel rows where the table's left border (at the
    page margin) is inked, holding at least two horizontal rules."""
    import numpy as np

    ink = np.asarray(page.convert("L")) < 128
    margin = int(scans.MARGIN * dpi)
    border = ink[:, margin - 2:margin + 3].any(axis=1)
    rules = ink[:, margin:ink.shape[1] - margin].mean(axis=1) > 0.5
    bands, y = [], 0
    while y < len(border):
        if not border[y]:
            y += 1
            continue
        end = y
        while end + 1 < len(border) and border[end + 1]:
            end += 1
        if rules[y:end + 1].sum() >= 2:
            bands.append((y, end + 1))
        y = end + 1
    return bands


def _table_key(crop) -> str:
    """Which table a cropped band is, by its vertical rules (pixel columns inked down half its height or more):
    table 2 has 4 columns or fewer, table 3 10, table 4 15."""
    import numpy as np

    ink = np.asarray(crop.convert("L")) < 128
    crossing = ink.mean(axis=0) >= 0.5
    rules = int(np.count_nonzero(crossing[1:] & ~crossing[:-1])) + int(crossing[0])
    return "active_disclosure" if rules <= 6 else "review_litigation" if rules >= 14 else "applications"


def table_pictures(record: dict, dpi: int = DPI) -> dict[str, list]:
    """Each table of the record drawn as the printed form, cropped from its pages (PIL images; a table crossing a
    page break gives a picture per page)."""
    pages, _ = scans.draw_record(record, dpi)
    out: dict[str, list] = {}
    last = None  # (page, bottom) of the previous band
    for i, page in enumerate(pages):
        import numpy as np

        ink = np.asarray(page.convert("L")) < 128
        for top, bottom in _bands(page, dpi):
            crop = page.crop((0, max(0, top - 6), page.size[0], min(page.size[1], bottom + 6)))
            continued = last is not None and last[0] == i - 1 and not ink[:top - 2].any() and \
                not np.asarray(pages[i - 1].convert("L"))[last[1] + 2:] .min() < 128
            key = _table_key(crop) if not continued else last[2]
            out.setdefault(key, []).append(crop)
            last = (i, bottom, key)
    return out


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _key_of_word_table(text: str) -> str:
    if "行政复议" in text and "维持" in text:
        return "review_litigation"
    if "申请人" in text or "本列数据" in text or "新收政府信息公开申请" in text:
        return "applications"
    return "active_disclosure"


def word_file(name: str, *, dpi: int = DPI, logo: bytes | None = None, pictures: bool = True) -> bytes:
    """The sample as a Word file: prose as paragraphs, each table as its picture(s) where the table stood (or as
    Word tables, `pictures=False`); a logo picture at the top when given."""
    import docx
    from docx.oxml import OxmlElement
    from docx.shared import Inches
    from docx.text.paragraph import Paragraph

    from tasks.synth.attachments import docx_attachment

    record = scans.record_of(scans.expected(name))
    document = docx.Document(io.BytesIO(docx_attachment(record, rng=1)))
    if pictures:
        drawn = table_pictures(record, dpi)
        for table in list(document.tables):
            key = _key_of_word_table(" ".join(c.text for row in table.rows[:3] for c in row.cells))
            for crop in drawn.get(key, []):
                p = OxmlElement("w:p")
                table._tbl.addprevious(p)
                Paragraph(p, table._parent).add_run().add_picture(io.BytesIO(_png(crop)), width=Inches(crop.size[0] / dpi))
            table._tbl.getparent().remove(table._tbl)
    if logo is not None:
        first = document.paragraphs[0]
        p = OxmlElement("w:p")
        first._p.addprevious(p)
        Paragraph(p, first._parent).add_run().add_picture(io.BytesIO(logo), width=Inches(0.8))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def page_word_file(name: str, dpi: int = DPI) -> bytes:
    """The sample's printed pages pasted into a Word file as pictures, one a page, and no text."""
    import docx
    from docx.shared import Inches

    pages, _ = scans.draw_record(scans.record_of(scans.expected(name)), dpi)
    document = docx.Document()
    for page in pages:
        document.add_paragraph().add_run().add_picture(io.BytesIO(_png(page)), width=Inches(page.size[0] / dpi))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
