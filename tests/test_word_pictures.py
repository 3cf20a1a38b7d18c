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
from polars.testing import assert_frame_equal

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


def word_file(name: str, *, dpi: int = DPI, pictures: bool = True, only: tuple[str, ...] | None = None,
              drop_tables: bool = False, logo: bytes | None = None, extra: bytes | None = None) -> bytes:
    """The sample as a Word file: prose as paragraphs, each table (of `only`, all by default) as its picture(s) where
    the table stood, the others as Word tables (`pictures=False`: all) or left out (`drop_tables`); a logo on top and
    another picture after the first paragraph when given."""
    import docx
    from docx.oxml import OxmlElement
    from docx.shared import Inches
    from docx.text.paragraph import Paragraph

    from tasks.synth.attachments import docx_attachment

    record = scans.record_of(scans.expected(name))
    document = docx.Document(io.BytesIO(docx_attachment(record, rng=1)))

    def picture_before(element, png: bytes, width_in: float) -> None:
        p = OxmlElement("w:p")
        element.addprevious(p)
        Paragraph(p, document._body).add_run().add_picture(io.BytesIO(png), width=Inches(width_in))

    if pictures:
        drawn = table_pictures(record, dpi)
        for table in list(document.tables):
            key = _key_of_word_table(" ".join(c.text for row in table.rows[:3] for c in row.cells))
            if only is not None and key not in only:
                if drop_tables:
                    table._tbl.getparent().remove(table._tbl)
                continue
            for crop in drawn.get(key, []):
                picture_before(table._tbl, _png(crop), crop.size[0] / dpi)
            table._tbl.getparent().remove(table._tbl)
    if extra is not None:
        picture_before(document.paragraphs[1]._p, extra, 6.0)
    if logo is not None:
        picture_before(document.paragraphs[0]._p, logo, 0.8)
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


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (its pixel data a few bytes: a decompression bomb's shape)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _logo() -> bytes:
    """An emblem as sites put on top of a report: a red ring with a star, 160 px."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (160, 160), "white")
    d = ImageDraw.Draw(img)
    d.ellipse((8, 8, 152, 152), outline=(220, 30, 30), width=8)
    d.polygon([(80, 30), (95, 70), (135, 70), (102, 95), (115, 135), (80, 110), (45, 135), (58, 95), (25, 70), (65, 70)],
              fill=(220, 30, 30))
    return _png(img)


SEED = "000_2c468072c6150875"


@functools.cache
def _parsed(kind: str, name: str = SEED) -> dict:
    """A sample's Word file parsed once per session: `text` (Word tables), `pictures` (every table a picture),
    `t4` (only table 4 a picture), `pages` (the printed pages as pictures, no text)."""
    if kind == "pages":
        data = page_word_file(name)
    else:
        data = word_file(name, pictures=kind != "text", only=("review_litigation",) if kind == "t4" else None)
    parsed = parse_documents([Document(f"{name}-{kind}.docx", data)])
    return {"record": parsed.records[0], "report": parsed.frames["reports"].row(0, named=True),
            "text": decode_bytes(data).text}


METADATA = ("year", "organ", "admin_level", "province", "format_version", "published_date", "index_number")


def _assert_no_wrong_value(rec: dict, name: str) -> dict:
    """Tables 3 and 4 as printed or null with an ocr_unconfirmed finding naming the cell; never a wrong value."""
    exp = scans.expected(name)
    s = scans.score(rec, exp)
    assert s["wrong"] == 0, s
    unconfirmed = {f["field"] for f in rec["findings"] if f["rule"] == "ocr_unconfirmed"}
    for key, row in (exp["applications"] or {}).items():
        for j, want in enumerate(row or []):
            if want is not None and ((rec["applications"] or {}).get(key) or [None] * 7)[j] is None:
                assert f"applications.{key}[{j}]" in unconfirmed, (key, j)
    for j, want in enumerate(exp["review_litigation"] or []):
        if want is not None and (rec["review_litigation"] or [None] * 15)[j] is None:
            assert f"review_litigation[{j}]" in unconfirmed, j
    return s


# -- read by OCR ---------------------------------------------------------------------------------------------------

@needs_ocr
def test_word_tables_as_pictures_are_read_where_they_stand_with_no_wrong_value():
    got, text_tables = _parsed("pictures"), _parsed("text")
    rec, report = got["record"], got["report"]
    s = _assert_no_wrong_value(rec, SEED)
    assert s["read"] >= 0.97 * s["printed"], s
    for key in METADATA:  # the prose is Word's own text: metadata as with real Word tables, and as expected
        assert rec[key] == text_tables["record"][key], key
        assert key not in scans.expected(SEED) or rec[key] == scans.expected(SEED)[key], key
    assert report["reader"] == f"python-docx {__import__('docx').__version__} + {ocr.reader_name()}"
    assert 0 < report["ocr_confidence_min"] <= 1
    # the tables read from the pictures stand where the pictures stood: table 3's rows between headings 三 and 四
    text = got["text"]
    three, four = text.index("三、收到和处理政府信息公开申请情况"), text.index("四、政府信息公开行政复议")
    assert three < text.index("本年新收政府信息公开申请数量") < four
    # table 2 has no sum rule: nothing of it is kept from a picture, and each value says so
    assert all(v is None for m in rec["active_disclosure"].values() for v in m.values())
    assert any(f["rule"] == "ocr_unconfirmed" and f["table"] == "active_disclosure" for f in rec["findings"])


@needs_ocr
def test_tables_the_word_text_holds_stay_as_read_beside_a_pictured_one():
    """Only table 4 is a picture: tables 2 and 3 are Word tables, read as without pictures (table 2 kept, not nulled
    as an OCR table 2 is); table 4 from the picture, confirmed by its rules."""
    got, text_tables = _parsed("t4"), _parsed("text")
    rec = got["record"]
    assert rec["active_disclosure"] == text_tables["record"]["active_disclosure"] is not None
    assert rec["applications"] == text_tables["record"]["applications"] == scans.expected(SEED)["applications"]
    s = _assert_no_wrong_value(rec, SEED)
    assert rec["review_litigation"] == scans.expected(SEED)["review_litigation"], s
    assert {f["table"] for f in rec["findings"] if f["rule"] == "ocr_unconfirmed"} <= {"review_litigation"}
    assert got["report"]["reader"].endswith(ocr.reader_name())


@needs_ocr
@pytest.mark.slow
@pytest.mark.parametrize("name", scans.seed_names()[1:])
def test_every_seed_as_word_with_pictured_tables(name):
    rec = _parsed("pictures", name)["record"]
    s = _assert_no_wrong_value(rec, name)
    assert s["read"] >= 0.97 * s["printed"], s
    exp = scans.expected(name)
    for key in ("year", "organ", "admin_level", "province", "format_version"):
        assert key not in exp or rec[key] == exp[key], key


@needs_ocr
@pytest.mark.slow
def test_printed_pages_pasted_into_word_are_read_as_a_scan():
    """No text at all, every page a picture: read whole (prose included), as a scanned PDF would be."""
    got = _parsed("pages")
    rec = got["record"]
    s = _assert_no_wrong_value(rec, SEED)
    assert s["read"] >= 0.97 * s["printed"], s
    assert rec["year"] == scans.expected(SEED)["year"] and rec["format_version"] == scans.expected(SEED)["format_version"]
    assert got["report"]["reader"].endswith(ocr.reader_name())


# -- what is not read, and why -------------------------------------------------------------------------------------

def _no_ocr(monkeypatch):
    def refuse(*_a, **_k):
        raise AssertionError("OCR entered")
    monkeypatch.setattr(ocr, "read_page", refuse)


def test_a_logo_alone_reads_exactly_as_before(monkeypatch):
    """A Word file with its tables as Word tables and an emblem on top: OCR is never entered, and every table and
    finding is the one the file gives without the emblem."""
    _no_ocr(monkeypatch)
    plain = word_file(SEED, pictures=False)
    with_logo = word_file(SEED, pictures=False, logo=_logo())
    assert word_pictures.has_pictures(__import__("docx").Document(io.BytesIO(with_logo)).element.body)
    a, b = (parse_documents([Document("report.docx", d)]) for d in (plain, with_logo))
    drop = ("source", "report_id")
    assert [{k: v for k, v in r.items() if k not in drop} for r in a.records] == \
        [{k: v for k, v in r.items() if k not in drop} for r in b.records]
    for name in ("applications", "review_litigation", "active_disclosure", "findings"):
        assert_frame_equal(a.frames[name].drop("report_id"), b.frames[name].drop("report_id"), check_row_order=False)
    assert b.frames["reports"]["reader"].to_list() == a.frames["reports"]["reader"].to_list()


def test_a_seal_beside_pictured_tables_adds_nothing(monkeypatch):
    """Tables missing and two pictures: a small seal (never read) and a picture with no ruled row (read, its lines
    dropped). The record is the one of the file without them."""
    from PIL import Image, ImageDraw

    big = Image.new("RGB", (900, 300), "white")
    ImageDraw.Draw(big).text((40, 120), "XX", fill="black")
    calls = []

    def no_table(img, page_no, timing):
        calls.append(img.shape)
        return [ocr.OcrLine("某某市人民政府")], [0.99], b""
    monkeypatch.setattr(ocr, "available", lambda: True)
    monkeypatch.setattr(ocr, "read_page", no_table)
    monkeypatch.setattr(ocr, "reader_name", lambda: "engine 1")
    base = word_file(SEED, pictures=True, only=(), drop_tables=True)
    seal = word_file(SEED, pictures=True, only=(), drop_tables=True, logo=_logo(), extra=_png(big))
    a, b = (parse_documents([Document("report.docx", d)]).records[0] for d in (base, seal))
    assert calls == [(300, 900, 3)]  # the seal is too small to hold a table: only the other picture was read
    drop = ("source", "report_id")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}


def test_without_the_ocr_extra_the_prose_is_read_and_the_tables_say_why(monkeypatch):
    """Neither the engine nor Pillow (which the extra brings) installed: the prose is read, the tables are missing
    and the findings say why."""
    import sys

    data, pages = word_file(SEED), page_word_file(SEED, dpi=72)
    monkeypatch.setattr(ocr, "available", lambda: False)
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL fails
    _no_ocr(monkeypatch)
    parsed = parse_documents([Document("report.docx", data)])
    rec, report = parsed.records[0], parsed.frames["reports"].row(0, named=True)
    exp = scans.expected(SEED)
    assert rec["applications"] is None and rec["review_litigation"] is None
    for key in ("year", "published_date"):  # the prose is read
        assert rec[key] == exp[key], key
    unread = [f for f in rec["findings"] if f["rule"] == "word_pictures_unread"]
    assert len(unread) == 1 and "OCR not installed" in unread[0]["message"] and "5 picture(s)" in unread[0]["message"]
    # seed 000 has no title: without its tables it is no report, and that finding says why the tables are missing
    assert [f["message"] for f in rec["findings"] if f["rule"] == "unsupported_format"] == [
        "not a parseable annual report: no report tables found; not an annual report (the Word file's pictures were "
        "not read: 5 picture(s) that may hold the report's tables were not read: OCR not installed)"]
    assert report["reader"] == f"python-docx {__import__('docx').__version__}" and report["ocr_confidence_min"] is None
    # pages only, no text: the file is unsupported with the reason, as a scan is
    rec = parse_documents([Document("pages.docx", pages)]).records[0]
    assert [f["rule"] for f in rec["findings"]] == ["unsupported_format"]
    assert "OCR not installed" in rec["findings"][0]["message"]


def test_pictures_past_the_limits_are_refused_with_their_reason(monkeypatch):
    """A picture whose header claims 8000x8000 pixels (under Pillow's bomb limit, over ours) is refused before it is
    decoded; one stored larger than the byte limit too; past the count limit the rest is named. The prose stays."""
    seen = []
    monkeypatch.setattr(ocr, "available", lambda: True)
    monkeypatch.setattr(ocr, "read_page", lambda img, i, t: (seen.append(img.shape), ([], [], b""))[1])
    data = word_file(SEED, pictures=True, only=(), drop_tables=True, extra=_png_header_only(8000, 8000))
    rec = parse_documents([Document("bomb.docx", data)]).records[0]
    unread = [f["message"] for f in rec["findings"] if f["rule"] == "word_pictures_unread"]
    assert len(unread) == 1 and "8000x8000 pixels, more than 36 M" in unread[0], unread
    assert seen == [] and rec["year"] == scans.expected(SEED)["year"]

    monkeypatch.setattr(word_pictures, "PICTURE_MAX_BYTES", 1024)
    monkeypatch.setattr(word_pictures, "MAX_PICTURES", 2)
    rec = parse_documents([Document("big.docx", word_file(SEED))]).records[0]
    unread = [f["message"] for f in rec["findings"] if f["rule"] == "word_pictures_unread"]
    assert len(unread) == 5 and all("KiB stored, more than 1 KiB" in m for m in unread), unread
    monkeypatch.setattr(word_pictures, "PICTURE_MAX_BYTES", 20 << 20)
    rec = parse_documents([Document("many.docx", word_file(SEED))]).records[0]
    unread = [f["message"] for f in rec["findings"] if f["rule"] == "word_pictures_unread"]
    assert unread == ["a picture in the Word file was not read: 5 pictures could hold tables: only the first 2 were "
                      "read by OCR"] and len(seen) == 2


def test_a_word_file_gets_the_time_budget_once_per_picture_it_could_read():
    from tasks.parse.isolate import ocr_pages

    assert ocr_pages(word_file(SEED)) == 5  # table 2, table 3 over two pages each, table 4
    assert ocr_pages(word_file(SEED, pictures=False, logo=_logo())) == 1
    assert ocr_pages(b"text") == 1


def test_a_table4_header_wrapped_with_total_ending_its_line_keeps_the_forms_order():
    """Seed 004's table 4 as a picture, read by OCR: its two-level header comes back as `结果 结果 其他 尚未 总计` over
    `维持 纠正 …`. That 总计 ends the line above 维持: not a header printing 总计 first (it was: the row 2 0 0 0 2 read as
    0 0 0 2 2, two wrong values its group's sum rule cannot catch)."""
    from tasks.parse.extract import extract

    region = ("四、政府信息公开行政复议、行政诉讼情况\n行政复议 行政诉讼\n未经复议直接起诉 复议后起诉\n"
              "结果 结果 其他 尚未 总计\n维持 纠正 结果 审结 结果 结果 其他 尚未 总计 结果 结果 其他 尚未 总计\n"
              "维持 纠正 结果 审结 维持 纠正 结果 审结\n2 0 0 0 2 0 0 0 0 0 0 0 0 0 0\n五、存在的主要问题及改进情况\n")
    text = _parsed_text_without_table4()
    rec = extract(text + "\n" + region).record
    assert rec["review_litigation"] == [2, 0, 0, 0, 2] + [0] * 10


@functools.cache
def _parsed_text_without_table4() -> str:
    """Seed 004's report as text up to its table 4 (Word tables as pipe rows)."""
    text = decode_bytes(word_file("004_d01d2cbab1ffe994", pictures=False)).text
    return text[:text.index("四、")]


# -- measurement: `python -m tests.test_word_pictures [dpi]` ------------------------------------------------------

def measure(dpi: int = DPI) -> None:
    """Every seed as a Word file with its tables as pictures: CPU seconds per file (parse only, one process) and
    values of tables 3 and 4 read of those printed, wrong ones counted."""
    import time

    total = {"printed": 0, "read": 0, "wrong": 0}
    for name in scans.seed_names():
        data = word_file(name, dpi=dpi)
        cpu, wall = time.process_time(), time.perf_counter()
        rec = parse_documents([Document(f"{name}.docx", data)]).records[0]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        s = scans.score(rec, scans.expected(name))
        total = {k: total[k] + s[k] for k in total}
        print(f"{name} {dpi} dpi: {cpu:.1f} s CPU ({wall:.1f} s wall), {s['read']}/{s['printed']} read, "
              f"{s['wrong']} wrong, {word_pictures.estimated_picture_pages(data)} pictures")
    print(f"all: {total['read']}/{total['printed']} read, {total['wrong']} wrong")


if __name__ == "__main__":
    import sys

    measure(int(sys.argv[1]) if len(sys.argv) > 1 else DPI)
