"""Raw bytes to text: encoding detection (charset-normalizer as the fallback), binary sniffing, HTML tables to pipe rows."""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

# Magic numbers of files that are not text reports (seen under .txt/.html names in crawls).
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "pdf"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"PK\x03\x04", "zip/docx/xlsx"),
    (b"\xd0\xcf\x11\xe0", "ole2 (doc/xls)"),
    (b"\x1f\x8b", "gzip"),
    (b"Rar!", "rar"),
    (b"7z\xbc\xaf", "7z"),
    (b"BM", "bmp"),
    (b"\x7fELF", "elf"),
)

# (mark, codec for the bytes after it, label, code unit size). UTF-32 LE before UTF-16 LE: its mark starts the same.
BOMS: tuple[tuple[bytes, str, str, int], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32", 4),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig", 1),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16", 2),
)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f]")
_CONTROL_BYTES = bytes([*range(0x01, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])  # ESC kept: ISO-2022 uses it
_PAGE_BREAK_RE = re.compile(r"[\f\v]")  # form feeds between PDF pages, vertical tabs from Word exports: line breaks
_HTML_RE = re.compile(r"<\s*(?:html|body|table|div|p|!doctype|head|meta|td|tr)\b", re.IGNORECASE)
_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_LATIN1_LETTER_RE = re.compile(r"[\u00c0-\u00ff]")
# Reasons Python gives when the bytes stop inside a character (a file cut short): the rest still decodes.
_TRUNCATED_REASONS = frozenset({"unexpected end of data", "incomplete multibyte sequence", "truncated data"})
NUL_TAIL_MIN = 4  # a run of NULs at the end at least this long is padding (UTF-32 ends in up to 3 NULs of its own)


@dataclass(frozen=True)
class Decoded:
    text: str | None
    encoding: str | None
    is_html: bool = False
    problem: str | None = None  # why no text could be had (binary, empty, undecodable)
    mixed_encoding: bool = False
    reader: str | None = None  # what read the text: "pdfium 159.0.8149.0", "pypdf 7.1.1", "python-docx 1.2.0", "text",
    # or the OCR engine and its version for a scan ("rapidocr-onnxruntime 1.4.4")
    notes: tuple[str, ...] = ()  # what was left unread and why (a PDF's page budget): warning findings
    ocr: Any = None  # a scan read by OCR: its lines and value cells (tasks.parse.ocr.OcrDocument), for the rule check


def sniff_binary(data: bytes) -> str | None:
    head = data[:8]
    for magic, kind in BINARY_SIGNATURES:
        if head.startswith(magic):
            return kind
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    sample = data[:4000]
    if len(sample) < 4:
        return None
    even_nul = sample[0::2].count(0)
    odd_nul = sample[1::2].count(0)
    half = len(sample) / 2
    # ASCII-heavy UTF-16 has a NUL in every other byte; CJK-heavy UTF-16 rarely decodes as valid UTF-8/GB18030.
    if odd_nul > 0.3 * half and even_nul < 0.05 * half:
        return "utf-16-le"
    if even_nul > 0.3 * half and odd_nul < 0.05 * half:
        return "utf-16-be"
    return None


def _strict(data: bytes, codec: str) -> str | None:
    """Strict decoding; a file cut inside its last character (a truncated download) loses only that character."""
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if exc.reason in _TRUNCATED_REASONS and exc.end >= len(data) and exc.start >= len(data) - 4:
            try:
                return data[:exc.start].decode(codec)
            except UnicodeDecodeError:
                return None
        return None


def decode_bytes(data: bytes, *, _gunzipped: bool = False) -> Decoded:
    """Decode a raw report. Order: BOM, strict UTF-8, UTF-16 by NUL pattern, strict GB18030, line-wise mix, detector.
    PDF and Word attachments give their text; a gzip-compressed body (a crawler kept the transfer encoding) is
    unpacked first."""
    if not data or not data.strip():
        return Decoded(None, None, problem="empty file")
    for bom, codec, label, unit in BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            body = body[: len(body) - len(body) % unit]  # cut inside a code unit: the partial unit is dropped
            text = _strict(body, codec)
            if text is not None:
                return _finish(text, label, controls=_controls(body) if codec == "utf-8" else None)
            data = body  # a mark in front of something else (an editor put a UTF-8 BOM on GBK): decode the rest
            break
    kind = sniff_binary(data)
    if kind == "pdf":
        return pdf_text(data)
    if kind == "zip/docx/xlsx" and _is_docx(data):
        from dataclasses import replace

        return replace(docx_text(data), reader=_docx_reader())
    if kind == "gzip" and not _gunzipped:
        return _gunzip(data)
    if kind:
        return Decoded(None, None, problem=f"binary content ({kind})")
    core = data.rstrip(b"\x00")
    if len(data) - len(core) >= NUL_TAIL_MIN:  # NUL padding (a pre-allocated or partly written file): not content
        if not core.strip():
            return Decoded(None, None, problem="empty file (NUL bytes only)")
        data = core
    text = _strict(data, "utf-8")
    if text is not None:
        repaired = _repair_mojibake(text)
        return repaired or _finish(text, "utf-8", controls=_controls(data))
    utf16 = _utf16_without_bom(data)
    if utf16:
        text = _strict(data, utf16)
        if text is not None:
            return _finish(text, "utf-16")
    if data.count(0) > len(data) // 100:
        return Decoded(None, None, problem="binary content (NUL bytes)")
    controls = _controls(data)  # (in GB18030 and UTF-8 a byte below 0x20 is always that control character)
    if controls and _controls(data[:8192]) > min(len(data), 8192) // 100:  # random bytes have ~10 %
        return Decoded(None, None, problem="binary content (control bytes)")
    # GB18030 (a superset of GBK and GB2312: what most Chinese government sites serve) maps most UTF-8 byte runs to
    # wrong characters without an error, so a file with whole lines of UTF-8 in it is decoded line by line instead.
    text = _strict(data, "gb18030")
    if text is not None and not _has_utf8_lines(data):
        return _finish(text, "gb18030", controls=controls)
    mixed = _decode_mixed_lines(data)
    if mixed is not None:
        text, encoding, is_mixed = mixed
        return _finish(text, encoding, mixed=is_mixed, controls=controls)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return Decoded(None, None, problem="undecodable bytes (no text encoding fits)")
    return _finish(str(best), best.encoding)


# Three Chinese characters in a row as UTF-8 (E4–E9 lead bytes: U+4000–U+9FFF).
_UTF8_CJK_RUN_RE = re.compile(rb"[\xe4-\xe9][\x80-\xbf][\x80-\xbf]" * 3)  # unrolled: 4x faster than {3} here


def _has_utf8_lines(data: bytes) -> bool:
    """Does any line hold a run of three Chinese characters in UTF-8 and decode as strict UTF-8 whole? (A GBK line
    is valid UTF-8 only by rare accident.) One regex scan finds the candidates; GBK files rarely have any."""
    sep = b"\n" if b"\n" in data or b"\r" not in data else b"\r"
    end = -1
    for m in _UTF8_CJK_RUN_RE.finditer(data):
        if m.start() < end:
            continue  # a line already tried
        start = data.rfind(sep, 0, m.start()) + 1
        end = data.find(sep, m.end())
        end = len(data) if end < 0 else end
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


def _decode_mixed_lines(data: bytes) -> tuple[str, str, bool] | None:
    """A file whose lines come in different encodings (pages stitched by a crawler): decode each line alone.

    Returns (text, encoding label, mixed): mixed only when lines really came in both encodings. A file in one
    encoding with a few corrupt bytes is that encoding with the bad bytes replaced, not a mixed file: a line that
    fails UTF-8 but holds runs of UTF-8 Chinese is a damaged UTF-8 line, not a GB18030 one.
    """
    out: list[str] = []
    bad: list[int] = []
    utf8_lines = gb_lines = 0
    sep = b"\n" if b"\n" in data or b"\r" not in data else b"\r"
    lines = data.split(sep)
    for line in lines:
        if line.isascii():
            out.append(line.decode("ascii"))
            continue
        try:
            out.append(line.decode("utf-8"))
            utf8_lines += 1
            continue
        except UnicodeDecodeError:
            pass
        if not _UTF8_CJK_RUN_RE.search(line):
            try:
                out.append(line.decode("gb18030"))
                gb_lines += 1
                continue
            except UnicodeDecodeError:
                pass
        bad.append(len(out))
        out.append("")
    if len(bad) > max(2, len(lines) // 20):
        return None
    codec = "utf-8" if utf8_lines > gb_lines else "gb18030"
    for i in bad:
        out[i] = lines[i].decode(codec, errors="replace")
    text = sep.decode("ascii").join(out)
    if utf8_lines and gb_lines:
        return text, "mixed(utf-8,gb18030)", True
    return text, f"{codec} ({len(bad)} corrupt line{'s' if len(bad) != 1 else ''} replaced)", False


# Windows-1252 as browsers apply it (WHATWG): the five bytes cp1252 leaves undefined stand for U+0081, U+008D, …
_CP1252_BACK = {bytes([b]).decode("cp1252"): b for b in range(0x80, 0x100) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def _repair_mojibake(text: str) -> Decoded | None:
    """Text that is UTF-8 (or GBK) bytes once read as Windows-1252/Latin-1 and saved again as UTF-8 ('æ·®å®‰å¸‚' for
    '淮安市'): no Chinese at all but many Latin-1 letters. Undo the wrong reading and decode the bytes again."""
    head = text[:20000]
    if _CJK_RE.search(head) or len(_LATIN1_LETTER_RE.findall(head)) < 20:
        return None
    raw = bytearray()
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            raw.append(o)
        elif ch in _CP1252_BACK:
            raw.append(_CP1252_BACK[ch])
        elif o < 0x100:
            raw.append(o)
        else:
            return None
    inner = decode_bytes(bytes(raw))
    if inner.text is None or not _CJK_RE.search(inner.text[:20000]):
        return None
    return Decoded(inner.text, f"{inner.encoding} (repaired: read once as windows-1252)", is_html=inner.is_html,
                   mixed_encoding=inner.mixed_encoding, reader=inner.reader)


def _controls(data: bytes) -> int:
    """How many C0 control bytes (other than NUL, tab, line ends, form feed, vertical tab and ESC) `data` holds."""
    return len(data) - len(data.translate(None, _CONTROL_BYTES))


def _finish(text: str, encoding: str, *, mixed: bool = False, controls: int | None = None) -> Decoded:
    """The decoded text cleaned: NUL padding and stray NULs or control characters removed, page breaks made line
    breaks. `controls`: the control bytes counted in the raw bytes (None: not known, look in the text)."""
    if "\x00" in text:
        text = text.rstrip("\x00")
        nul = text.count("\x00")
        if nul > len(text) * 0.3:
            return Decoded(None, encoding, problem="binary content (NUL bytes)")
        text = text.replace("\x00", "")  # NULs inside text (broken exports) are never content
    if not text.strip():
        return Decoded(None, encoding, problem="empty file")
    if controls is None or controls:
        if len(_CONTROL_RE.findall(text, 0, 5000)) > 50:
            return Decoded(None, encoding, problem="binary content (control characters)")
        text = _CONTROL_RE.sub("", text)
    if "\f" in text or "\v" in text:
        text = _PAGE_BREAK_RE.sub("\n", text)
    is_html = bool(_HTML_RE.search(text[:20000]))
    return Decoded(text, encoding, is_html=is_html, mixed_encoding=mixed, reader="lxml" if is_html else "text")


# ---------------------------------------------------------------------------------------------------------------
# Attachments: many reports are published as PDF or Word files. Their text is read as a text report: a PDF's text
# layer is the pdf_text layout, a Word document's tables become pipe rows.

GUNZIP_LIMIT = 64 * 1024 * 1024  # a report unpacks to well under a megabyte; more is a bomb or not a report


def _gunzip(data: bytes) -> Decoded:
    """A gzip-compressed body, unpacked (at most GUNZIP_LIMIT bytes) and decoded; its encoding is marked (gzip)."""
    import zlib
    from dataclasses import replace

    unpack = zlib.decompressobj(wbits=31)
    try:
        body = unpack.decompress(data, GUNZIP_LIMIT)
    except zlib.error as exc:
        return Decoded(None, None, problem=f"binary content (gzip) that cannot be unpacked: {exc}")
    if unpack.unconsumed_tail:
        return Decoded(None, None, problem=f"binary content (gzip) unpacking to more than {GUNZIP_LIMIT >> 20} MiB")
    inner = decode_bytes(body, _gunzipped=True)
    return replace(inner, encoding=f"{inner.encoding} (gzip)" if inner.encoding else "gzip")


def pdf_text(data: bytes) -> Decoded:
    """A PDF's text layer, page after page: lines as the page draws them, the text a PDF extractor gives
    (`shared/samples/real/huaian_2024_pdftext.txt`). Read by `tasks.parse.pdf.read_pdf` (pdfium, or pypdf for a PDF whose
    CJK fonts are named but not embedded); `reader` says which. A PDF locked against copying only (no password to
    open it) is read; one that cannot be opened (broken, a password needed) or has no text (scanned pages, blank
    pages) gives no report text, with the reason."""
    from tasks.parse.pdf import read_pdf

    got = read_pdf(data)
    if got.text is None and got.scanned:
        return scanned_pdf(data, got.problem or "a PDF with no text layer")
    if got.text is None:
        return Decoded(None, "pdf", problem=got.problem, reader=got.reader)
    from dataclasses import replace

    return replace(_finish(got.text, "pdf"), reader=got.reader, notes=tuple(got.notes))


_DOCX_READER: list[str] = []


def _docx_reader() -> str:
    if not _DOCX_READER:
        from importlib.metadata import version

        _DOCX_READER.append(f"python-docx {version('python-docx')}")
    return _DOCX_READER[0]


# A Word document's parts, unpacked, at most this much: python-docx holds every part in memory and parses the XML
# ones whole (lxml: ~20 bytes of tree per byte of XML; 40 MB of paragraphs took 31 s and 845 MB, 400 MB 5.9 GB).
# A 60-page report's document.xml is ~1-3 MB; its pictures are stored, not deflated, so they unpack to their size.
DOCX_XML_LIMIT = 16 * 1024 * 1024    # one XML part (document.xml, headers, styles …)
DOCX_TOTAL_LIMIT = 128 * 1024 * 1024  # every part together (pictures too)
# A document's text after merged cells are written out (a report is well under a million characters)
TEXT_LIMIT = 32 * 1024 * 1024


class TooLarge(ValueError):
    """An input that would unpack or expand past a limit (the message says which): the file's finding."""


def scanned_pdf(data: bytes, reason: str) -> Decoded:
    """A PDF without a text layer whose pages hold images (`reason` says so): read by OCR (tasks/parse/ocr.py, the `ocr`
    extra), or unsupported with the reason when the extra is not installed."""
    from dataclasses import replace

    from tasks.parse import ocr
    if not ocr.available():
        return Decoded(None, "pdf", problem=f"{reason}: {ocr.OCR_NOT_INSTALLED}")
    try:
        doc = ocr.read_pdf(data)
    except Exception as exc:  # pdfium or the engine failing on one file costs that file only
        return Decoded(None, "pdf", problem=f"{reason} that OCR could not read: {type(exc).__name__}: {exc}")
    if not doc.text.strip():
        return Decoded(None, "pdf", problem=f"{reason} in which OCR found no text")
    return replace(_finish(doc.text, "pdf"), reader=ocr.reader_name(), ocr=doc)


def _is_docx(data: bytes) -> bool:
    """A zip holding a Word document's body (not a workbook, not any other zip)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "word/document.xml" in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _docx_too_large(data: bytes) -> str | None:
    """Why a Word file's parts unpack to too much, or None. The sizes are the zip directory's: zipfile never gives
    more bytes of a member than its directory entry declares (and fails its CRC if the data says otherwise), so a
    lying entry cannot get past this either."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
    total = 0
    for info in infos:
        total += info.file_size
        if info.filename.endswith((".xml", ".rels")) and info.file_size > DOCX_XML_LIMIT:
            return (f"Word part {info.filename} unpacks to {info.file_size >> 20} MiB, more than "
                    f"{DOCX_XML_LIMIT >> 20} MiB")
    if total > DOCX_TOTAL_LIMIT:
        return f"Word parts unpack to {total >> 20} MiB, more than {DOCX_TOTAL_LIMIT >> 20} MiB"
    return None


def docx_text(data: bytes) -> Decoded:
    """A Word document's paragraphs and tables in body order (python-docx). A table row becomes `cell | cell |`, as
    an HTML table's does: a cell merged across columns is written once, one merged down rows stands in each row.
    Tables are walked element by element once (python-docx's `row.cells` walks a vertical merge up to its first
    cell for every cell below it: a 1.5 KB merge chain took 40 s, 8 KB never finished)."""
    import io

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def blocks(container, lines: list[str]) -> list[str]:
        for block in container.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(block.text)
            elif isinstance(block, Table) and block._tbl.xpath("./w:tr/w:tc//w:tbl"):
                # a table holding tables lays out the page (a web page pasted into Word): its cells are read as
                # blocks, the tables inside as tables (a cell continuing a vertical merge holds nothing of its own)
                for _row, tc, cont in _docx_grid(block):
                    if not cont:
                        blocks(_Cell(tc, block), lines)
            elif isinstance(block, Table):
                lines.extend(_docx_rows(block))
        return lines

    from docx.table import _Cell

    try:
        problem = _docx_too_large(data)
        if problem:
            return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) too large to read: {problem}")
        lines = blocks(docx.Document(io.BytesIO(data)), [])
    except TooLarge as exc:
        return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) too large to read: {exc}")
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors … on a zip that is no document
        return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) that is no readable Word document: "
                                             f"{type(exc).__name__}: {exc}")
    return _finish("\n".join(lines), "docx")


def _docx_grid(table) -> Iterator[tuple[int, object, bool]]:
    """(row index, w:tc, continues a vertical merge) for every cell element, in order; one pass."""
    for r, tr in enumerate(table._tbl.tr_lst):
        for tc in tr.tc_lst:
            yield r, tc, tc.vMerge == "continue"


def _docx_rows(table) -> list[str]:
    """Each row as `cell | cell |`: a cell spanning columns once, a cell continuing a vertical merge as the text of
    the merge's first cell (the cell found at its grid column in the row above, kept per column: linear)."""
    from docx.table import _Cell

    rows: list[str] = []
    top: dict[int, object] = {}     # grid column → the w:tc that starts the merge covering it
    text: dict[object, str] = {}    # w:tc → its text, once
    size = 0
    for tr in table._tbl.tr_lst:
        cells: list[str] = []
        col = tr.grid_before
        shown = None
        above = top
        top = {}
        for tc in tr.tc_lst:
            span = max(tc.grid_span, 1)
            first = above.get(col, tc) if tc.vMerge == "continue" else tc
            for c in range(col, col + span):
                top[c] = first
            col += span
            if first is shown:  # (a merge continued in the next cell of the same row comes back once)
                continue
            shown = first
            if first not in text:
                text[first] = " ".join(_Cell(first, table).text.replace("|", " ").split())
            cells.append(text[first])
        rows.append(" | ".join(cells) + " |")
        size += len(rows[-1])
        if size > TEXT_LIMIT:  # a long cell merged down thousands of rows would be written once per row
            raise TooLarge(f"a Word table's rows come to more than {TEXT_LIMIT >> 20} M characters")
    return rows


# ---------------------------------------------------------------------------------------------------------------
# HTML: a real parser (lxml), tables expanded into grids (rowspan/colspan), written as pipe rows.

# td/th are blocks only where the walker meets them: inside a page-layout table (data tables are written as grids).
_BLOCK_TAGS = frozenset(
    "p div br h1 h2 h3 h4 h5 h6 li ul ol section article header footer tr td th table title blockquote pre center".split()
)
# `embed` is left out: it has no content, and an unclosed one (old Flash players) would swallow the rest of the page
_SKIP_TAGS = frozenset("script style noscript template iframe object svg canvas head".split())
_XML_DECLARATION_RE = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# libxml2 stops building the tree at 2048 levels even with huge_tree (256 without): deeper content is lost. Pages
# reach that with unclosed <font>/<div>/<span> tags repeated per paragraph or cell (old page builders).
DEPTH_LIMIT_NEAR = 1900
_WRAPPER_TAG_RE = re.compile(
    r"</?(?:(div|section|article|center|header|footer|main|nav|aside|blockquote)|font|span|b|strong|em|i|u|a|small|big|label)"
    r"\b[^>]*>", re.IGNORECASE)


_PARSERS = threading.local()


def _html_parser():
    """One lxml parser per thread (parsers must not be shared between threads). No network: a report's HTML is
    only read, nothing in it is fetched."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        import lxml.etree

        parser = _PARSERS.parser = lxml.etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True,
                                                          huge_tree=True)
    return parser


# Markers in the stylesheet's output: a data table's start and end, a row's end, a cell's start, and the span
# attributes a cell carries (rowspan, then colspan). Private-use characters: a page that holds one is read by the
# Python walker instead.
_T_START, _T_END, _T_ROW, _T_CELL, _T_SPAN, _T_SPAN_SEP, _T_SPAN_END = (chr(0xE010 + i) for i in range(7))
_MARKERS = (_T_START, _T_END, _T_ROW, _T_CELL, _T_SPAN, _T_SPAN_SEP, _T_SPAN_END)
_MARKER_SPACES = dict.fromkeys(map(ord, _MARKERS), " ")
_MARKER_REF_RE = re.compile(r"&#(?:[xX]0*[eE]01[0-6]|0*5736[0-6])")  # the same, written as references


def _stylesheet() -> str:
    """The page walk as XSLT, run by libxslt in C: what `_walk` does element by element in Python, ~4× faster.
    Block elements become line breaks, scripts and styles vanish, and each data table (one with rows and no table
    inside) comes out as marked rows of marked cells (`_tidy_cells` tidies their text)."""
    skip = "|".join(_SKIP_TAGS)
    blocks = "|".join(sorted(_BLOCK_TAGS))
    mark = {m: f"&#{ord(m)};" for m in _MARKERS}
    return f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="UTF-8"/>
<xsl:template match="{skip}"/>
<xsl:template match="{blocks}"><xsl:text>&#10;</xsl:text><xsl:apply-templates/><xsl:text>&#10;</xsl:text></xsl:template>
<xsl:template match="table[not(.//table) and .//tr]">
 <xsl:text>{mark[_T_START]}</xsl:text>
 <xsl:for-each select=".//tr">
  <xsl:for-each select="td|th">
   <xsl:text>{mark[_T_CELL]}</xsl:text>
   <xsl:if test="@rowspan or @colspan"><xsl:text>{mark[_T_SPAN]}</xsl:text><xsl:value-of select="@rowspan"/><xsl:text
     >{mark[_T_SPAN_SEP]}</xsl:text><xsl:value-of select="@colspan"/><xsl:text>{mark[_T_SPAN_END]}</xsl:text></xsl:if>
   <xsl:apply-templates mode="cell"/>
  </xsl:for-each>
  <xsl:text>{mark[_T_ROW]}</xsl:text>
 </xsl:for-each>
 <xsl:text>{mark[_T_END]}</xsl:text>
</xsl:template>
<xsl:template match="br" mode="cell"><xsl:text> </xsl:text></xsl:template>
<xsl:template match="{skip}" mode="cell"/>
</xsl:stylesheet>"""


def _transform():
    """The compiled stylesheet, one per thread like the parser."""
    xslt = getattr(_PARSERS, "xslt", None)
    if xslt is None:
        import lxml.etree

        xslt = _PARSERS.xslt = lxml.etree.XSLT(lxml.etree.XML(_stylesheet()))
    return xslt


def html_to_text(html: str, *, stylesheet: bool = True) -> str:
    """Visible text of an HTML page; each table row becomes `cell | cell | … |` with merged cells repeated.
    `stylesheet=False` reads it with the Python walk only (the tests hold the two to the same text)."""
    html = _XML_DECLARATION_RE.sub("", html, count=1)  # lxml refuses str input that declares an encoding
    root = _parse_html(html)
    if root is not None and html.count("<") >= DEPTH_LIMIT_NEAR and _depth_at_least(root, DEPTH_LIMIT_NEAR):
        # the parser may have dropped everything below its depth limit: flatten the wrapper tags and read again
        html = _WRAPPER_TAG_RE.sub(lambda m: "\n" if m.group(1) else "", html)
        root = _parse_html(html)
    text = re.sub(r"<[^>]+>", "\n", html) if root is None else _page_text(root, html, stylesheet)
    # each line stripped of spaces, tabs and no-break spaces, empty lines dropped (a regex here costs 10× more)
    return "\n".join(filter(None, (ln.strip(" \t\u00a0") for ln in text.split("\n")))).strip()


def _parse_html(html: str):
    import lxml.etree

    try:
        # plain etree elements from a per-thread parser: lxml.html's element classes cost a Python call per element
        return lxml.etree.fromstring(html, _html_parser())
    except (ValueError, lxml.etree.ParserError, lxml.etree.XMLSyntaxError):
        return None


def _depth_at_least(root, limit: int) -> bool:
    """Whether some element lies `limit` levels below the root."""
    return bool(root.xpath(f"boolean(//*[count(ancestor::*) >= {limit}])"))


def _page_text(root, html: str, stylesheet: bool = True) -> str:
    """The page's text with tables as pipe rows: the stylesheet's output with its tables expanded, or the Python
    walk where the stylesheet cannot run (nesting past libxslt's recursion limit, a page holding the markers)."""
    import lxml.etree

    if stylesheet and not any(m in html for m in _MARKERS) and not _MARKER_REF_RE.search(html):
        try:
            marked = str(_transform()(root))
        except lxml.etree.XSLTError:  # (XSLTApplyError and the rest: the Python walk reads the page)
            pass
        else:
            pieces = marked.split(_T_START)
            out = [pieces[0]]
            for piece in pieces[1:]:
                table, _, rest = piece.partition(_T_END)
                out.append("\n")
                out.extend(_pipe_rows(_grid(_tidy_cells(table).split(_T_ROW)[:-1])))
                out.append(rest)
            return "".join(out)
    out: list[str] = []
    _walk(root, out)
    return "".join(out)


def _tidy_cells(table: str) -> str:
    """Every cell's text with `|` and runs of whitespace made one space, ends stripped: over the whole table at once
    (str methods, not a call per cell), then the spaces beside the markers dropped."""
    if "|" in table:
        table = table.replace("|", " ")
    words = table.split()
    if len(words) == 1 and words[0] == table:
        return table
    table = " ".join(words)
    for m in (_T_CELL, _T_ROW, _T_SPAN_END):
        table = table.replace(" " + m, m).replace(m + " ", m)
    return table


def _walk(root, out: list[str]) -> None:
    """Append the visible text under `root` to `out`, element by element (iteratively: pages nest thousands deep).
    The stylesheet does the same in C; this reads the pages it cannot."""
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        el, closing = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else ""  # type: ignore[attr-defined]
        if closing:
            if tag in _BLOCK_TAGS:
                out.append("\n")
            if el.tail:  # type: ignore[attr-defined]
                out.append(el.tail)  # type: ignore[attr-defined]
            continue
        if tag in _SKIP_TAGS:
            if el.tail:  # type: ignore[attr-defined]
                out.append(el.tail)  # type: ignore[attr-defined]
            continue
        grid = table_grid(el) if tag == "table" and not _has_nested_table(el) else None
        if grid:
            out.append("\n")
            out.extend(_pipe_rows(grid))
            if el.tail:  # type: ignore[attr-defined]
                out.append(el.tail)  # type: ignore[attr-defined]
            continue
        # a table holding tables lays out the page (navigation in one cell, the article in another): its cells are
        # walked as blocks, and the data tables inside become grids. A table without rows (cells written as <div>s)
        # is walked as blocks too, so its text is not lost.
        if tag in _BLOCK_TAGS:
            out.append("\n")
        if el.text and tag:  # type: ignore[attr-defined]
            out.append(el.text)  # type: ignore[attr-defined]
        stack.append((el, True))
        stack.extend((child, False) for child in reversed(el))  # type: ignore[call-overload]


def _has_nested_table(table) -> bool:
    return next(table.iterdescendants("table"), None) is not None


def _cell_text(cell) -> str:
    parts: list[str] = []
    stack: list[tuple[object, bool]] = [(cell, False)]
    while stack:
        node, closing = stack.pop()
        if closing:
            if node is not cell and node.tail:  # type: ignore[attr-defined]
                parts.append(node.tail)  # type: ignore[attr-defined]
            continue
        tag = node.tag if isinstance(node.tag, str) else ""  # type: ignore[attr-defined]
        if tag in _SKIP_TAGS:
            if node is not cell and node.tail:  # type: ignore[attr-defined]
                parts.append(node.tail)  # type: ignore[attr-defined]
            continue
        if tag == "br":
            parts.append(" ")
        if node.text and tag:  # type: ignore[attr-defined]
            parts.append(node.text)  # type: ignore[attr-defined]
        stack.append((node, True))
        stack.extend((ch, False) for ch in reversed(node))  # type: ignore[call-overload]
    return "".join(parts)


def table_grid(table) -> list[list[str | None]]:
    """Expand rowspan/colspan: a merged cell's text stands in every grid position it covers."""
    rows = "".join("".join(_marked_cell(cell) for cell in tr if cell.tag in ("td", "th")) + _T_ROW
                   for tr in table.iter("tr") if _nearest_table(tr) is table)
    return _grid(_tidy_cells(rows).split(_T_ROW)[:-1])


def _marked_cell(cell) -> str:
    """A cell as the stylesheet writes it: the cell marker, its span attributes when it has any, its text. (A page
    that holds the markers is read here: in its text and attributes they become spaces.)"""
    text = _cell_text(cell).translate(_MARKER_SPACES)
    rs, cs = cell.get("rowspan"), cell.get("colspan")
    if rs is None and cs is None:
        return _T_CELL + text
    rs, cs = (str(v or "").translate(_MARKER_SPACES) for v in (rs, cs))
    return f"{_T_CELL}{_T_SPAN}{rs}{_T_SPAN_SEP}{cs}{_T_SPAN_END}{text}"


# Grid positions that merged cells may fill in one table. A report's largest table (table 2 of the 2019 form) is
# ~25 × 8; every cell of a 31 KB page at rowspan=100 colspan=100 filled 797 MB of grid.
GRID_LIMIT = 200_000


def _grid(rows: list[str]) -> list[list[str | None]]:
    """Rows of marked cells → the grid. A merged cell's text stands in every row it spans, in its first column only
    (None in the others, so a value is never counted twice and a merged label adds no blanks); holes and short rows
    are blanks up to the table's width. A row with no span of its own is taken whole, after any merged labels
    reaching down into its first columns."""
    lines: list[list[str | None]] = []
    pending: dict[int, dict[int, str | None]] = {}  # row → column → what a rowspan above puts there
    width = expanded = 0
    for r, row in enumerate(rows):
        cells: list[str | None] = row.split(_T_CELL)[1:]  # type: ignore[assignment]
        line = pending.pop(r, None)
        if _T_SPAN not in row and (line is None or max(line) == len(line) - 1):
            if line is not None:
                cells = [line[c] for c in range(len(line))] + cells
            lines.append(cells)
            width = max(width, len(cells))
            continue
        line = line or {}
        c = 0
        for cell in cells:
            while c in line:
                c += 1
            if not cell or cell[0] != _T_SPAN:
                line[c] = cell
                c += 1
                continue
            spans, _, text = cell[1:].partition(_T_SPAN_END)
            rs_attr, _, cs_attr = spans.partition(_T_SPAN_SEP)
            # a rowspan ends with the table, as browsers draw it
            rs, cs = min(_span(rs_attr), len(rows) - r), _span(cs_attr)
            expanded += rs * cs
            if expanded > GRID_LIMIT:
                raise TooLarge(f"an HTML table's merged cells (rowspan/colspan) expand to more than {GRID_LIMIT:,} "
                               "cells")
            for dr in range(rs):
                at = line if dr == 0 else pending.setdefault(r + dr, {})
                at[c] = text
                for dc in range(1, cs):
                    at[c + dc] = None
            c += cs
        width = max(width, c)
        lines.append(list(map(line.get, range(max(line, default=-1) + 1), repeat(""))))
    return [ln if len(ln) == width else ln + [""] * (width - len(ln)) if len(ln) < width else ln[:width] for ln in lines]


def _pipe_rows(grid: list[list[str | None]]) -> list[str]:
    return [" | ".join(row if None not in row else [c for c in row if c is not None]) + " |\n"  # type: ignore[arg-type]
            for row in grid]


def _nearest_table(el):
    p = el.getparent()
    while p is not None and p.tag != "table":
        p = p.getparent()
    return p


def _span(value: str | None) -> int:
    if not value:
        return 1
    if value.isascii() and value.isdigit():
        return min(max(int(value), 1), 100)
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 1
    return min(max(n, 1), 100)
