"""Reports published as PDF or Word attachments: their text is read as a text report would be.

The PDFs are drawn with reportlab's built-in Chinese CID font (nothing downloaded, nothing embedded: the font is
named, as iText-made government PDFs name STSong-Light), the Word files built with
python-docx; both carry the real huaian report (`shared/samples/real/huaian_2024_pdftext.txt`) and must give its
hand-read values.
"""

from __future__ import annotations

import io
import json

import pytest

from tasks.parse.decode import decode_bytes
from tasks.parse.documents import Document, parse_documents
from tests.conftest import SAMPLES

HUAIAN = (SAMPLES / "real" / "huaian_2024_pdftext.txt").read_text(encoding="utf-8")
LABEL = json.loads((SAMPLES / "expected" / "huaian_2024_pdftext.json").read_text(encoding="utf-8"))
PAGE_MARKER = "- {} -"


def _pdf(lines_per_page: list[list[str]], *, encrypt=None) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=encrypt)
    for lines in lines_per_page:
        c.setFont("STSong-Light", 11)
        for i, line in enumerate(lines):
            c.drawString(40, 800 - 15 * i, line)
        c.showPage()
    c.save()
    return buf.getvalue()


def _huaian_pages() -> list[list[str]]:
    """The report's lines, a page ending at each page marker (`- 4 -`), the marker at the foot of its page."""
    pages: list[list[str]] = [[]]
    for line in HUAIAN.split("\n"):
        pages[-1].append(line)
        if line.strip() in {PAGE_MARKER.format(n) for n in range(1, 20)} and len(pages[-1]) > 1:
            pages.append([])
    return [p for p in pages if p]


def _parse(data: bytes) -> dict:
    return parse_documents([Document("report", data)]).records[0]


def _values(rec: dict) -> dict:
    return {k: rec[k] for k in ("year", "format_version", "organ", "admin_level", "province", "active_disclosure",
                                "applications", "review_litigation")}


def test_pdf_report_reads_as_its_text():
    pdf = _pdf(_huaian_pages())
    assert pdf.startswith(b"%PDF")
    decoded = decode_bytes(pdf)
    assert decoded.encoding == "pdf" and decoded.problem is None and "行政事业性收费 96171.6" in decoded.text
    rec = _parse(pdf)
    assert _values(rec) == {k: LABEL[k] for k in _values(rec)}
    assert rec["layout"] == "pdf_text" and rec["findings"] == []


def test_pdf_locked_against_copying_only_is_read():
    """Many published PDFs forbid copying and printing with an owner password but open without one."""
    from reportlab.lib.pdfencrypt import StandardEncryption

    for strength in (40, 128):
        locked = StandardEncryption("", ownerPassword="owner", canPrint=0, canCopy=0, canModify=0, strength=strength)
        rec = _parse(_pdf(_huaian_pages(), encrypt=locked))
        assert _values(rec) == {k: LABEL[k] for k in _values(rec)} and rec["findings"] == [], strength


def test_pdf_table_drawn_cell_by_cell():
    """Table 3 drawn as a PDF table is: each cell its own text, a wrapped label's lines one under the other, the
    numbers at the top, middle or bottom of the row, merged group labels a character a line beside the rows."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    from schemas.form import APPLICATION_ROWS

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    start, end = HUAIAN.index("三、收到和处理政府信息公开申请情况"), HUAIAN.index("四、政府信息公开行政复议、行政诉讼情况")
    for width, align in [(8, "top"), (12, "middle"), (10, "bottom")]:
        buf = io.BytesIO()
        c = canvas.Canvas(buf)

        def lines_page(lines: list[str], c=c) -> None:
            c.setFont("STSong-Light", 9)
            for i, line in enumerate(lines):
                c.drawString(40, 800 - 13 * i, line)
            c.showPage()

        before, after = HUAIAN[:start].split("\n"), HUAIAN[end:].split("\n")
        for k in range(0, len(before), 55):
            lines_page(before[k:k + 55])
        c.setFont("STSong-Light", 9)
        c.drawString(40, 800, "三、收到和处理政府信息公开申请情况")
        for j, head in enumerate(["自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计"]):
            c.drawString(300 + 40 * j, 780, head[:3])
            c.drawString(300 + 40 * j, 770, head[3:])
        y = 750
        for row in APPLICATION_ROWS["2021"]:
            label = row.label.replace("(", "（").replace(")", "）")
            parts = [label[i:i + width] for i in range(0, len(label), width)]
            x = 150 if row.number else 40
            for i, part in enumerate(parts):
                c.drawString(x, y - 11 * i, part)
            at = {"top": 0, "middle": (len(parts) - 1) / 2, "bottom": len(parts) - 1}[align]
            for j, v in enumerate(LABEL["applications"][row.key]):
                c.drawString(300 + 40 * j, y - 11 * at, str(v))
            if row.number == "1":  # the group's merged label, a character a line, in the column beside
                group = {"denied_state_secret": "（三）不予公开", "unavailable_not_held": "（四）无法提供",
                         "not_processed_petition": "（五）不予处理", "other_no_correction": "（六）其他处理"}[row.key]
                for i, ch in enumerate(group):
                    c.drawString(95, y - 11 * i, ch)
            y -= 11 * len(parts) + 6
            if y < 80:
                c.showPage()
                c.setFont("STSong-Light", 9)
                y = 800
        c.showPage()
        for k in range(0, len(after), 55):
            lines_page(after[k:k + 55])
        c.save()
        rec = _parse(buf.getvalue())
        assert rec["applications"] == LABEL["applications"], (width, align)
        assert rec["review_litigation"] == LABEL["review_litigation"] and rec["findings"] == [], (width, align)


def test_scanned_encrypted_and_broken_pdfs_are_unsupported_with_their_reason():
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    from PIL import Image
    from reportlab.lib.utils import ImageReader

    c.drawImage(ImageReader(Image.new("L", (120, 170), 200)), 0, 0, 595, 842)  # a page image, no text: a scan
    c.showPage()
    c.save()
    cases = [
        ("no text layer", buf.getvalue()),
        ("cannot be opened without a password", _pdf([["2024年政府信息公开工作年度报告"]], encrypt="secret")),
        ("cannot be opened", b"%PDF-1.7\n" + bytes(range(256)) * 4),
    ]
    for reason, data in cases:
        rec = _parse(data)
        assert [f["rule"] for f in rec["findings"]] == ["unsupported_format"], reason
        assert reason in rec["findings"][0]["message"] and "pdf" in rec["findings"][0]["message"].lower()
        assert rec["applications"] is None
    assert "its 1 pages: scanned images" in _parse(cases[0][1])["findings"][0]["message"]


def _docx_huaian(*, wrapped: bool = False) -> bytes:
    """The huaian report as a Word file: its prose as paragraphs, its four tables as Word tables with the merged
    cells of the printed form (rowspan and colspan). `wrapped`: all of it inside the one cell of a layout table (a
    web page pasted into Word)."""
    import docx

    apps = LABEL["applications"]
    document = docx.Document()
    if wrapped:
        document = document.add_table(rows=1, cols=1).cell(0, 0)
    text = HUAIAN
    t2, t3, t4, t5 = (text.index(h) for h in ("二、主动公开政府信息情况", "三、收到和处理", "四、政府信息公开行政复议", "五、存在的主要问题"))
    for line in text[:t2].split("\n"):
        document.add_paragraph(line)

    def table(rows: int, cols: int):
        return document.add_table(rows=rows, cols=cols)

    def put(t, r, c, value, r2=None, c2=None):
        cell = t.cell(r, c)
        if r2 is not None or c2 is not None:
            cell = cell.merge(t.cell(r if r2 is None else r2, c if c2 is None else c2))
        cell.text = str(value)

    document.add_paragraph("二、主动公开政府信息情况")
    ad = LABEL["active_disclosure"]
    t = table(14, 4)
    put(t, 0, 0, "第二十条第（一）项", c2=3)
    for c, head in enumerate(["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"]):
        put(t, 1, c, head)
    for r, (key, label) in enumerate([("regulations", "规章"), ("normative_documents", "行政规范性文件")], start=2):
        put(t, r, 0, label)
        for c, m in enumerate(("issued", "repealed", "in_force"), start=1):
            put(t, r, c, ad[key][m])
    r = 4
    for article, head, items in [("（五）", "本年处理决定数量", [("licensing", "行政许可")]),
                                 ("（六）", "本年处理决定数量", [("penalty", "行政处罚"), ("enforcement", "行政强制")]),
                                 ("（八）", "本年收费金额（单位：万元）", [("administrative_fees", "行政事业性收费")])]:
        put(t, r, 0, f"第二十条第{article}项", c2=3)
        put(t, r + 1, 0, "信息内容")
        put(t, r + 1, 1, head, c2=3)
        r += 2
        for key, label in items:
            put(t, r, 0, label)
            put(t, r, 1, next(iter(ad[key].values())), c2=3)
            r += 1

    document.add_paragraph("三、收到和处理政府信息公开申请情况")
    keys = list(apps)
    t = table(3 + len(keys), 10)
    put(t, 0, 0, "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", r2=2, c2=2)
    put(t, 0, 3, "申请人情况", c2=9)
    put(t, 1, 3, "自然人", r2=2)
    put(t, 1, 4, "法人或其他组织", c2=8)
    put(t, 1, 9, "总计", r2=2)
    for c, head in enumerate(["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"], start=4):
        put(t, 2, c, head)
    from schemas.form import APPLICATION_ROWS

    rows = {row.key: row for row in APPLICATION_ROWS["2021"]}
    groups = {"denied_state_secret": ("（三）不予公开", 8), "unavailable_not_held": ("（四）无法提供", 3),
              "not_processed_petition": ("（五）不予处理", 5), "other_no_correction": ("（六）其他处理", 3)}
    first = 3
    put(t, first + 2, 0, "三、本年度办理结果", r2=first + keys.index("total"))
    in_group = 0
    for i, key in enumerate(keys):
        r, label = first + i, rows[key].label.replace("(", "（").replace(")", "）")
        if key in ("new_received", "carried_over", "carried_forward"):
            put(t, r, 0, label, c2=2)
        elif key in groups:
            put(t, r, 1, groups[key][0], r2=r + groups[key][1] - 1)
            put(t, r, 2, label)
            in_group = groups[key][1] - 1
        elif in_group:
            put(t, r, 2, label)
            in_group -= 1
        else:
            put(t, r, 1, label, c2=2)
        for c, v in enumerate(apps[key], start=3):
            put(t, r, c, v)

    document.add_paragraph("四、政府信息公开行政复议、行政诉讼情况")
    t = table(4, 15)
    put(t, 0, 0, "行政复议", r2=1, c2=4)
    put(t, 0, 5, "行政诉讼", c2=14)
    put(t, 1, 5, "未经复议直接起诉", c2=9)
    put(t, 1, 10, "复议后起诉", c2=14)
    for c in range(15):
        put(t, 2, c, ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"][c % 5])
        put(t, 3, c, LABEL["review_litigation"][c])
    for line in text[t5:].split("\n"):
        document.add_paragraph(line)
    while not hasattr(document, "save"):  # the layout table's cell → the document
        document = document._parent
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("wrapped", [False, True], ids=["body", "inside_a_layout_table"])
def test_word_report_reads_its_tables(wrapped):
    data = _docx_huaian(wrapped=wrapped)
    assert data.startswith(b"PK\x03\x04")
    decoded = decode_bytes(data)
    assert decoded.encoding == "docx" and decoded.problem is None
    rec = _parse(data)
    assert _values(rec) == {k: LABEL[k] for k in _values(rec)}
    assert rec["layout"] == "pipe" and rec["findings"] == []


@pytest.mark.parametrize(("what", "files"), [
    ("a workbook", {"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}),
    ("a Word body that is no document", {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
])
def test_other_zips_are_unsupported_with_their_reason(what, files):
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, body)
    rec = _parse(buf.getvalue())
    assert [f["rule"] for f in rec["findings"]] == ["unsupported_format"], what
    assert "zip" in rec["findings"][0]["message"]


# -- which reader reads a PDF ------------------------------------------------------------------------------------

REAL_PDF = (SAMPLES / "real" / "huaian_2024.pdf").read_bytes()
REAL_PDF_LABEL = json.loads((SAMPLES / "expected" / "huaian_2024_pdf.json").read_text(encoding="utf-8"))
WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # installed by `make fonts`


def _embedded_font_pdf(lines_per_page: list[list[str]]) -> bytes:
    """The report drawn as WPS and Word draw it: a TrueType CJK font embedded as a subset."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("WQY", WQY, subfontIndex=0))
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for lines in lines_per_page:
        c.setFont("WQY", 11)
        for i, line in enumerate(lines):
            c.drawString(40, 800 - 15 * i, line)
        c.showPage()
    c.save()
    return buf.getvalue()


def test_pdf_with_embedded_fonts_is_read_by_pdfium_and_the_real_pdf_gives_its_hand_read_values():
    from tasks.parse.pdf import unembedded_cid_fonts

    drawn = _embedded_font_pdf(_huaian_pages())
    for data, label in [(REAL_PDF, REAL_PDF_LABEL), (drawn, LABEL)]:
        assert unembedded_cid_fonts(data) == []
        decoded = decode_bytes(data)
        assert decoded.reader.startswith("pdfium ") and decoded.problem is None
        rec = _parse(data)
        assert _values(rec) == {k: label[k] for k in _values(rec)} and rec["findings"] == []
        assert rec["reader"] == decoded.reader


def test_pdf_naming_a_cjk_font_it_does_not_embed_is_read_by_pypdf():
    """STSong-Light named, not embedded (as iText writes it): pdfium without Chinese fonts drops characters."""
    from tasks.parse.pdf import unembedded_cid_fonts

    data = _pdf(_huaian_pages())
    assert unembedded_cid_fonts(data) == ["STSong-Light"]
    rec = _parse(data)
    assert rec["reader"].startswith("pypdf ") and _values(rec) == {k: LABEL[k] for k in _values(rec)}


def test_pdf_fonts_hidden_from_the_byte_scan_are_asked_of_pdfium(monkeypatch):
    """Where the font dictionaries cannot be seen in the bytes (object streams that do not inflate), pdfium's own
    font objects tell which fonts are embedded."""
    import tasks.parse.pdf as pdf

    monkeypatch.setattr(pdf, "unembedded_cid_fonts", lambda data: None)
    assert pdf.read_pdf(_pdf(_huaian_pages())).reader.startswith("pypdf ")
    assert pdf.read_pdf(REAL_PDF).reader.startswith("pdfium ")


def test_pdf_reader_can_be_forced(monkeypatch):
    monkeypatch.setenv("GOVREPORTS_PDF_READER", "pypdf")
    rec = _parse(REAL_PDF)
    assert rec["reader"].startswith("pypdf ") and _values(rec) == {k: REAL_PDF_LABEL[k] for k in _values(rec)}
    monkeypatch.setenv("GOVREPORTS_PDF_READER", "pdfium")
    assert _parse(_pdf(_huaian_pages()))["reader"].startswith("pdfium ")
    monkeypatch.setenv("GOVREPORTS_PDF_READER", "mupdf")
    assert [f["rule"] for f in _parse(REAL_PDF)["findings"]] == ["parse_error"]


def _shared_stream_pdf(pages: int, stream: bytes) -> bytes:
    """`pages` pages all drawing the one content stream `stream` (deflated): a few KB that pdfium inflates per page."""
    import zlib

    content = zlib.compress(stream, 9)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (4 + i) for i in range(pages)), pages),
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream"]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for n, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def test_pdf_of_blank_pages_is_told_from_a_scan_and_not_read_to_its_end(monkeypatch):
    """500 pages sharing one 8 MB blank content stream (the hostile case is 70 MB: ~0.11 s a page in pdfium): the
    first pages without text end the reading, and the reason says blank pages, not scanned images."""
    from tasks.parse.pdf import PDF_EMPTY_PAGES

    data = _shared_stream_pdf(500, b" " * (8 << 20))
    for reader in ("auto", "pypdf"):
        monkeypatch.setenv("GOVREPORTS_PDF_READER", reader)
        [f] = _parse(data)["findings"]
        assert f["rule"] == "unsupported_format" and "no text layer" in f["message"], reader
        assert f"first {PDF_EMPTY_PAGES} of 500 pages: blank pages" in f["message"] and "scanned" not in f["message"]
    drawn = _shared_stream_pdf(3, b"0 0 m 500 500 l S " * 100)
    [f] = _parse(drawn)["findings"]
    assert "its 3 pages: drawings only" in f["message"]


def test_pdf_longer_than_the_page_budget_is_read_in_part_with_a_finding(monkeypatch):
    import tasks.parse.pdf as pdf

    monkeypatch.setattr(pdf, "PDF_MAX_PAGES", 4)
    rec = _parse(REAL_PDF)
    unread = [f for f in rec["findings"] if f["rule"] == "pdf_pages_unread"]
    assert len(unread) == 1 and "first 4 of 6 pages" in unread[0]["message"] and unread[0]["severity"] == "warning"
    assert rec["active_disclosure"] == REAL_PDF_LABEL["active_disclosure"]  # what the 4 pages hold is still read
    monkeypatch.setattr(pdf, "PDF_MAX_PAGES", 100)
    monkeypatch.setattr(pdf, "PDF_TIME_BUDGET", 0.0)
    rec = _parse(REAL_PDF)
    assert [f["message"] for f in rec["findings"] if f["rule"] == "pdf_pages_unread"] == [
        "PDF read in part: only its first 1 of 6 pages were read: reading stopped at the PDF time budget (0 s)"]


# -- the generated corpus's attachments read back to their records -------------------------------------------------

def test_generated_attachments_read_back_to_their_records():
    """The corpus's PDFs (embedded CJK subset font, page numbers, table 3's header repeated across pages) and Word
    files give exactly the record they were drawn from; its scans are page images without a text layer (what OCR
    reads from them: tests/test_corpus.py)."""
    import random

    import pypdfium2 as pdfium

    from tasks.parse.pdf import unembedded_cid_fonts
    from tasks.synth.attachments import docx_attachment, pdf_attachment, scan_attachment
    from tasks.synth.render import random_record

    rng = random.Random(15)
    keys = ("year", "format_version", "active_disclosure", "applications", "review_litigation")
    for i in range(12):
        rec = random_record(rng, format_version=("2019", "2021")[i % 2])
        pdf = pdf_attachment(rec, rng=i)
        assert unembedded_cid_fonts(pdf) == [] and b"/FontFile2" in pdf
        for data, reader in ((pdf, "pdfium "), (docx_attachment(rec, rng=i), "python-docx ")):
            got = _parse(data)
            assert {k: got[k] for k in keys} == {k: rec[k] for k in keys}, (i, reader)
            assert got["reader"].startswith(reader)
    for i in range(2):
        doc = pdfium.PdfDocument(scan_attachment(random_record(rng), rng=i))
        try:
            assert len(doc) >= 3 and all(doc[p].get_textpage().get_text_range().strip() == "" for p in range(len(doc)))
        finally:
            doc.close()


@pytest.mark.parametrize(("descriptor", "missing"), [
    (b"<< /Type /FontDescriptor /FontName /SimSun /FontFile2 9 0 R >>", []),
    (b"<< /Type /FontDescriptor /FontName /SimSun >>", ["SimSun"]),
])
def test_fonts_inside_object_streams_are_seen(descriptor, missing):
    """Word and newer writers keep font dictionaries in compressed object streams: they are inflated and looked in."""
    import zlib

    from tasks.parse.pdf import unembedded_cid_fonts

    objects = [b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /FontDescriptor 6 0 R >>", descriptor]
    offsets, body = [], b""
    for obj in objects:
        offsets.append(len(body))
        body += obj + b"\n"
    head = b"5 %d 6 %d " % tuple(offsets)
    stream = zlib.compress(head + body)
    pdf = (b"%PDF-1.7\n4 0 obj\n<< /Type /ObjStm /N 2 /First " + str(len(head)).encode() + b" /Length "
           + str(len(stream)).encode() + b" /Filter /FlateDecode >>\nstream\n" + stream + b"\nendstream\nendobj\n%%EOF\n")
    assert unembedded_cid_fonts(pdf) == missing
    assert unembedded_cid_fonts(pdf.replace(b"/Filter /FlateDecode >>\nstream\n" + stream,
                                            b"/Filter /FlateDecode >>\nstream\n" + bytes(len(stream)))) is None
