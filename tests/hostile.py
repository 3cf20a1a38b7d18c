"""Hostile inputs, generated (no committed blobs): small files that cost a parser minutes or gigabytes unless it
bounds its work. Used by tests/test_hostile.py and by `make bench-hostile` (tests/bench/bench_hostile.py).

Each case: a name, how to build its bytes, the file name it is stored under, and what a run must record for it:
`finding` (the file lands as a report carrying that finding rule) or `failure` (a failures row whose error holds
that text), with more than one acceptable where the budget or a limit may come first.
"""

from __future__ import annotations

import gzip
import io
import random
import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    build: Callable[[], bytes]
    # acceptable outcomes: ("finding", rule) or ("failure", text in the error)
    expect: tuple[tuple[str, str], ...]
    note: str = ""


# ---------------------------------------------------------------------------------------------------------------
# PDF

def pdf_shared_stream(stream_mb: int = 70, pages: int = 500) -> bytes:
    """One blank content stream of `stream_mb` MB (spaces, deflated to ~70 KB a 70 MB) shared by every page."""
    content = zlib.compress(b" " * (stream_mb * 1024 * 1024), 9)
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" /Filter /FlateDecode >>\nstream\n" + content + b"\nendstream",
    ]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
             b"/Contents 4 0 R >>"] * pages
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{o:010d} 00000 n \n" for o in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


# ---------------------------------------------------------------------------------------------------------------
# Word

def docx(document_xml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal .docx around a document.xml (and any other parts)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="bin" ContentType="application/octet-stream"/>'
            '<Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            '</Types>'))
        zf.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" '
            'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>'))
        zf.writestr("word/document.xml", document_xml, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        for name, data in (extra or {}).items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


def _document(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>{body}'
            '</w:body></w:document>').encode()


def _p(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def docx_paragraphs(mb: int) -> bytes:
    """`mb` MB of identical paragraphs in document.xml (deflates ~350:1)."""
    para = _p("本机关政府信息公开工作年度报告正文段落")
    return docx(_document(para * (mb * 1024 * 1024 // len(para.encode()))))


def docx_table(rows: list[list[tuple[str, str | None, int]]]) -> bytes:
    """A Word table: each cell (text, vMerge None/'restart'/'continue', gridSpan)."""
    def tc(text: str, vmerge: str | None, span: int) -> str:
        props = (f'<w:gridSpan w:val="{span}"/>' if span > 1 else "") + (
            f'<w:vMerge w:val="{vmerge}"/>' if vmerge == "restart" else "<w:vMerge/>" if vmerge else "")
        return f"<w:tc><w:tcPr>{props}</w:tcPr>{_p(text)}</w:tc>"

    width = max(sum(span for _, _, span in row) for row in rows)
    grid = "".join("<w:gridCol/>" for _ in range(width))
    trs = "".join("<w:tr>" + "".join(tc(*cell) for cell in row) + "</w:tr>" for row in rows)
    return docx(_document(f"{_p('表格')}<w:tbl><w:tblGrid>{grid}</w:tblGrid>{trs}</w:tbl>{_p('完')}"))


def docx_merge_chain(rows: int, cols: int = 4) -> bytes:
    """Every column merged down every row (python-docx walks each continuation up to the top: ~rows² × cols)."""
    first = [(f"列{c}", "restart", 1) for c in range(cols)]
    return docx_table([first] + [[("", "continue", 1)] * cols for _ in range(rows - 1)])


def docx_member_bomb(mb: int = 600) -> bytes:
    """A Word file with a `mb` MB zero-filled part (deflates ~1000:1) beside a one-line document."""
    return docx(_document(_p("2023年政府信息公开工作年度报告")), {"word/media/image1.bin": bytes(mb * 1024 * 1024)})


def docx_nested_tables(depth: int) -> bytes:
    """Tables in a cell of tables, `depth` deep (layout tables pasted from web pages, taken to the extreme)."""
    inner = _p("最深处")
    for _ in range(depth):
        inner = f"<w:tbl><w:tblGrid><w:gridCol/></w:tblGrid><w:tr><w:tc>{inner}{_p('')}</w:tc></w:tr></w:tbl>"
    return docx(_document(_p("2023年政府信息公开工作年度报告") + inner + _p("")))


# ---------------------------------------------------------------------------------------------------------------
# HTML

def html_span_bomb(kb: int) -> bytes:
    """A table whose every cell spans 100 rows and 100 columns, `kb` KB of it."""
    cell = '<td rowspan="100" colspan="100">1</td>'
    row = "<tr>" + cell * 10 + "</tr>\n"
    rows = row * max(1, kb * 1024 // len(row))
    return (f"<html><head><meta charset='utf-8'><title>2023年政府信息公开工作年度报告</title></head><body>"
            f"<p>2023年政府信息公开工作年度报告</p><table>{rows}</table></body></html>").encode()


def html_wide_colspan(cells: int = 30_000) -> bytes:
    """One row of `cells` cells each spanning 100 columns: 3 million columns from 1 MB."""
    return (f"<html><body><p>2023年政府信息公开工作年度报告</p><table><tr>{'<td colspan=100>0</td>' * cells}</tr>"
            "<tr><td>1</td></tr></table></body></html>").encode()


def html_nested_tables(depth: int) -> bytes:
    """Tables in a cell of tables, `depth` deep."""
    inner = "<p>最深处</p>"
    for _ in range(depth):
        inner = f"<table><tr><td>{inner}</td></tr></table>"
    return f"<html><body><p>2023年政府信息公开工作年度报告</p>{inner}</body></html>".encode()


# ---------------------------------------------------------------------------------------------------------------
# Flattened text

def flattened_fused_digits(rows: int = 25, digits: int = 90, seed: int = 1) -> bytes:
    """A flattened report (labels and digits glued, no separators) whose digit runs are `digits` long."""
    from tasks.synth.corpus import random_record
    from tasks.synth.render import render_bytes

    rng = random.Random(seed)
    text = render_bytes(random_record(rng, format_version="2021"), "flattened", rng=rng.getrandbits(32)).decode("utf-8")
    count = [0]

    def longer(m: re.Match[str]) -> str:
        if count[0] >= rows:
            return m.group(0)
        count[0] += 1
        return "".join(rng.choice("123456789") for _ in range(digits))

    # the tables' digit runs (five digits or more: not years, item numbers or dates)
    return re.sub(r"(?<![\d年月日])\d{5,}(?![\d年月日])", longer, text).encode("utf-8")


def gzip_of(data: bytes) -> bytes:
    return gzip.compress(data, 9)


# ---------------------------------------------------------------------------------------------------------------
# The catalogue: the table, then cases nobody listed

def cases(scale: float = 1.0) -> list[Hostile]:
    """Every hostile case. `scale` < 1 shrinks the slow-to-build ones for tests (same kind of trouble, less of it)."""
    big = scale >= 1.0
    return [
        Hostile("pdf_shared_stream", "hostile/shared-stream.pdf",
                lambda: pdf_shared_stream(70 if big else 20, 500 if big else 200),
                (("failure", "exceeded the time budget"), ("finding", "unsupported_format")),
                "one 70 MB blank content stream shared by 500 pages"),
        Hostile("docx_paragraphs_40mb", "hostile/paragraphs-40mb.docx", lambda: docx_paragraphs(40),
                (("finding", "unsupported_format"),), "40 MB of paragraphs in document.xml"),
        Hostile("docx_paragraphs_400mb", "hostile/paragraphs-400mb.docx",
                lambda: docx_paragraphs(400 if big else 100),
                (("finding", "unsupported_format"),), "400 MB of paragraphs"),
        Hostile("docx_merge_chain_8kb", "hostile/merge-chain.docx", lambda: docx_merge_chain(3000 if big else 600),
                (("finding", "report_year_missing"), ("finding", "unsupported_format")),
                "a table merged down 3,000 rows"),
        Hostile("html_span_bomb_31kb", "hostile/span-31kb.html", lambda: html_span_bomb(31),
                (("finding", "unsupported_format"),), "rowspan=100 colspan=100 cells, 31 KB"),
        Hostile("html_span_bomb_341kb", "hostile/span-341kb.html", lambda: html_span_bomb(341),
                (("finding", "unsupported_format"),), "rowspan=100 colspan=100 cells, 341 KB"),
        Hostile("flattened_fused_90", "hostile/fused-90.txt", lambda: flattened_fused_digits(25, 90),
                (("finding", "ambiguous_value"), ("finding", "applications_incomplete")),
                "25 table rows as 90-digit runs"),
        # nobody listed these
        Hostile("docx_member_bomb", "hostile/member-bomb.docx", lambda: docx_member_bomb(600 if big else 200),
                (("finding", "unsupported_format"),), "a 600 MB zero-filled part in a Word file"),
        Hostile("gzip_span_bomb", "hostile/gzip-span.html", lambda: gzip_of(html_span_bomb(341)),
                (("finding", "unsupported_format"),), "the span bomb gzip-compressed"),
        Hostile("html_wide_colspan", "hostile/wide.html", lambda: html_wide_colspan(30_000),
                (("finding", "unsupported_format"),), "one row of 30,000 cells at colspan=100"),
        Hostile("html_nested_tables", "hostile/nested-tables.html", lambda: html_nested_tables(3000),
                (("finding", "report_year_missing"), ("finding", "unsupported_format")),
                "tables nested 3,000 deep"),
        Hostile("docx_nested_tables", "hostile/nested-tables.docx", lambda: docx_nested_tables(400),
                (("finding", "unsupported_format"), ("finding", "report_year_missing")),
                "Word tables nested 400 deep"),
        Hostile("docx_in_gzip", "hostile/paragraphs.docx.gz", lambda: gzip_of(docx_paragraphs(40)),
                (("finding", "unsupported_format"),), "a Word bomb inside gzip"),
    ]
