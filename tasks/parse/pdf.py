"""A PDF attachment's text layer, behind one function (`read_pdf`): pdfium (pypdfium2) by default, pypdf for the
PDFs pdfium cannot be trusted with.

pdfium reads a real 6-page WPS report (`shared/samples/real/huaian_2024.pdf`) in ~9 ms; pypdf takes 130–155 ms. But
pdfium, on a machine without Chinese fonts, dropped a lone character drawn in a CJK font that the PDF names without
embedding it (STSong-Light, as iText and reportlab write it). So each PDF's CID-keyed fonts (the CJK ones) are looked
up in its bytes before reading: one named but not embedded (no /FontFile, /FontFile2 or /FontFile3 in its
descriptor) sends the PDF to pypdf, which needs no fonts; so does a PDF whose fonts cannot be seen (object streams
that do not inflate, e.g. encrypted ones) once pdfium's own font objects say one is not embedded. WPS and Word embed
their fonts (as subsets), so the common case stays with pdfium.

Budgets, so that one odd PDF costs seconds, not minutes (a PDF of 500 pages sharing one 70 MB blank content stream:
pdfium needs ~0.11 s a page for it): at most `PDF_MAX_PAGES` pages are read, a PDF whose first `PDF_EMPTY_PAGES`
pages give no text at all is not read further, and reading stops after `PDF_TIME_BUDGET` seconds. Each cut is said in
a note that becomes a finding. A PDF with no text is told apart: scanned images, blank pages, or drawings only.

`GOVREPORTS_PDF_READER` = auto (default) | pdfium | pypdf forces a reader (the benchmark's pypdf run).
"""

from __future__ import annotations

import io
import os
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

PDF_MAX_PAGES = 100  # a report is 3–30 pages; a compilation beyond this is read in part, with a note
PDF_EMPTY_PAGES = 10  # this many leading pages without a character: no text layer (scans, blanks), not read on
PDF_TIME_BUDGET = 10.0  # seconds of page reading, then the rest is left with a note (the per-file backstop is wider)
OBJSTM_INFLATE_LIMIT = 16 << 20  # an object stream of fonts and dictionaries is kilobytes; more is not looked into

# A scanned page at 200-300 dpi as scanners store it (JPEG in a PDF): ~300 KiB (the huaian report rasterised at 200
# dpi: 1.7 MiB for 6 pages). Pages estimated from bytes size the PDF batches (flows/pipeline.py) and a PDF's time
# budget (tasks/parse/isolate.py): a text-layer PDF (~50 KiB) counts as a fraction of a page.
SCAN_PAGE_BYTES = 300 * 1024
SCAN_MAX_PAGES = 40  # tasks/ocr.MAX_PAGES: a scan is read by OCR this far (ocr_pages_skipped beyond)


def estimated_scan_pages(data: bytes) -> int:
    """How many scanned pages a PDF's bytes could hold (1 for anything not a PDF), at most SCAN_MAX_PAGES."""
    if not data.lstrip()[:5] == b"%PDF-":
        return 1
    return max(1, min(SCAN_MAX_PAGES, -(-len(data) // SCAN_PAGE_BYTES)))


READERS = ("auto", "pdfium", "pypdf")
NO_TEXT_LAYER = "a PDF with no text layer"
SCANNED = "scanned images"


@dataclass
class PdfText:
    text: str | None
    reader: str | None
    problem: str | None = None
    notes: list[str] = field(default_factory=list)  # budget cuts: pages not read, and why
    scanned: bool = False  # no text, but images on its pages: what OCR reads (tasks/parse/ocr.py)
    pages: int = 0  # the PDF's pages, where it gave no text (a scan's real page count: the flow's OCR batches)


_VERSIONS: dict[str, str] = {}


def reader_name(reader: str) -> str:
    """`pdfium 159.0.8149.0` / `pypdf 7.1.1`: the library and its version, as recorded in reports.reader."""
    if reader not in _VERSIONS:
        if reader == "pdfium":
            from pypdfium2.version import PDFIUM_INFO as v

            _VERSIONS[reader] = f"pdfium {v.major}.{v.minor}.{v.build}.{v.patch}"
        else:
            import pypdf

            _VERSIONS[reader] = f"pypdf {pypdf.__version__}"
    return _VERSIONS[reader]


def forced_reader() -> str:
    reader = os.environ.get("GOVREPORTS_PDF_READER", "auto").strip().lower() or "auto"
    if reader not in READERS:
        raise ValueError(f"GOVREPORTS_PDF_READER={reader!r}: one of {', '.join(READERS)}")
    return reader


def read_pdf(data: bytes) -> PdfText:
    """The PDF's text, page after page (a line break between pages), and which reader gave it."""
    choice = forced_reader()
    if choice == "pypdf":
        return _pypdf(data)
    missing = unembedded_cid_fonts(data) if choice == "auto" else []
    if missing:
        return _pypdf(data)
    try:
        return _pdfium(data, check_fonts=missing is None)
    except _PdfiumCannotOpen as exc:
        if exc.password:
            return PdfText(None, reader_name("pdfium"), "binary content (pdf) that cannot be opened without a password")
        second = _pypdf(data)  # pypdf repairs some damage pdfium refuses (a broken cross-reference table)
        if second.text is None and second.problem and "cannot be opened" in second.problem:
            second.reader = reader_name("pdfium")
            second.problem = f"binary content (pdf) that cannot be opened: {exc}"
        return second
    except _FontsNotEmbedded:
        return _pypdf(data)


# --- which CJK fonts the PDF embeds, from its bytes -------------------------------------------------------------

_CIDFONT_RE = re.compile(rb"/Subtype\s*/CIDFontType[02](?![0-9A-Za-z])")
_DESCRIPTOR_REF_RE = re.compile(rb"/FontDescriptor\s+(\d+)\s+(\d+)\s+R")
_FONTFILE_RE = re.compile(rb"/FontFile[23]?(?![0-9A-Za-z])")
_BASEFONT_RE = re.compile(rb"/BaseFont\s*/([^\s/<>\[\]()]+)")
_OBJ_HEAD_RE = re.compile(rb"(\d+)\s+(\d+)\s+obj(?![0-9A-Za-z])")
_OBJSTM_RE = re.compile(rb"/Type\s*/ObjStm(?![0-9A-Za-z])")
_STREAM_RE = re.compile(rb"stream\r?\n")
_FIRST_RE = re.compile(rb"/First\s+(\d+)")


def unembedded_cid_fonts(data: bytes) -> list[str] | None:
    """The CID-keyed (CJK) fonts the PDF names without embedding them: [] when every one is embedded (or there is
    none), None when the fonts cannot be seen in the bytes (object streams that do not inflate: encrypted files).
    Costs ~0.1 ms on a 400 KB report: the font dictionaries are found by search, not by parsing the file."""
    objects, blind = _object_streams(data)
    missing: list[str] = []
    for body, start in [(data, 0)] + [(text, 0) for text in objects.values()]:
        for m in _CIDFONT_RE.finditer(body, start):
            obj = _enclosing(body, m.start()) if body is data else body
            if _FONTFILE_RE.search(obj):
                continue  # the descriptor inline, with its font file
            ref = _DESCRIPTOR_REF_RE.search(obj)
            descriptor = _object(data, objects, int(ref.group(1))) if ref else None
            if descriptor is None and ref:
                if blind:
                    return None
                continue  # a dangling reference: pdfium finds no font there either
            if descriptor is not None and _FONTFILE_RE.search(descriptor):
                continue
            name = _BASEFONT_RE.search(obj)
            label = name.group(1).decode("latin-1") if name else "unnamed"
            if label not in missing:
                missing.append(label)
    if not missing and blind:
        return None
    return missing


def _enclosing(data: bytes, at: int) -> bytes:
    """The indirect object around position `at` (from its `N G obj` to its `endobj`), stream data left out."""
    head = data.rfind(b" obj", 0, at)
    start = data.rfind(b"\n", 0, head) if head >= 0 else max(0, at - 4096)
    end = data.find(b"endobj", at)
    end = len(data) if end < 0 else end
    stream = data.find(b"stream", at, end)
    return data[max(start, 0):stream if stream >= 0 else end]


def _object(data: bytes, objects: dict[int, bytes], num: int) -> bytes | None:
    """Object `num`'s text: from an object stream, or found by its `num G obj` head (bytes.find: a regex search of the
    whole file cost ~3 ms a font)."""
    if num in objects:
        return objects[num]
    at = data.find(b"%d 0 obj" % num)  # generation 0: nearly every object of every PDF
    while at > 0 and data[at - 1:at].isdigit():
        at = data.find(b"%d 0 obj" % num, at + 1)
    if at >= 0:
        end = data.find(b"endobj", at)
        return data[at:len(data) if end < 0 else end]
    head = b"%d " % num
    at = data.find(head)
    while at >= 0:
        m = _OBJ_HEAD_RE.match(data, at)
        if m is not None and int(m.group(1)) == num and (at == 0 or not data[at - 1:at].isdigit()):
            end = data.find(b"endobj", m.end())
            return data[m.end():len(data) if end < 0 else end]
        at = data.find(head, at + 1)
    return None


def _object_streams(data: bytes) -> tuple[dict[int, bytes], bool]:
    """The objects held in the PDF's object streams ({number: text}), and whether some stream could not be read."""
    objects: dict[int, bytes] = {}
    blind = False
    for m in _OBJSTM_RE.finditer(data):
        head = data.rfind(b"obj", 0, m.start())
        dict_text = data[head:m.end() + 200]
        first = _FIRST_RE.search(dict_text)
        stream = _STREAM_RE.search(data, m.end())
        if first is None or stream is None:
            blind = True
            continue
        try:
            inflate = zlib.decompressobj()
            body = inflate.decompress(memoryview(data)[stream.end():], OBJSTM_INFLATE_LIMIT)  # no copy of the rest
        except zlib.error:
            blind = True
            continue
        offset = int(first.group(1))
        nums = body[:offset].split()
        pairs = [(int(nums[i]), int(nums[i + 1])) for i in range(0, len(nums) - 1, 2)
                 if nums[i].isdigit() and nums[i + 1].isdigit()]
        for k, (num, off) in enumerate(pairs):
            end = pairs[k + 1][1] if k + 1 < len(pairs) else len(body) - offset
            objects[num] = body[offset + off:offset + end]
    return objects, blind


# --- the readers ---------------------------------------------------------------------------------------------------


class _PdfiumCannotOpen(Exception):
    def __init__(self, message: str, password: bool):
        super().__init__(message)
        self.password = password


class _FontsNotEmbedded(Exception):
    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


def _pdfium(data: bytes, *, check_fonts: bool) -> PdfText:
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise _PdfiumCannotOpen(str(exc), password="password" in str(exc).lower()) from None
    try:
        if check_fonts:
            missing = _pdfium_unembedded_fonts(doc, raw)
            if missing:
                raise _FontsNotEmbedded(missing)
        n = len(doc)
        notes: list[str] = []

        def page_text(i: int) -> str:
            page = doc[i]
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
            page.close()
            return text

        pages = _read_pages(n, page_text, notes)
        text = "\n".join(pages).replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            why = _no_text(doc, raw, len(pages), n)
            return PdfText(None, reader_name("pdfium"), why, scanned=why.endswith(SCANNED + ")"), pages=n)
        return PdfText(text, reader_name("pdfium"), notes=notes)
    finally:
        doc.close()


def _read_pages(n: int, page_text: Callable[[int], str], notes: list[str]) -> list[str]:
    """The texts of a PDF's pages in order (`page_text(i)`: page i's, from either reader) within the budgets: at most
    PDF_MAX_PAGES pages, none after PDF_EMPTY_PAGES pages without a character, none after PDF_TIME_BUDGET seconds.
    Each cut is said in `notes`."""
    pages: list[str] = []
    started = time.perf_counter()
    for i in range(min(n, PDF_MAX_PAGES)):
        pages.append(page_text(i))
        if i + 1 == PDF_EMPTY_PAGES and n > PDF_EMPTY_PAGES and not any(p.strip() for p in pages):
            break
        if i + 1 < n and time.perf_counter() - started > PDF_TIME_BUDGET:
            notes.append(f"only its first {i + 1} of {n} pages were read: reading stopped at the PDF time "
                         f"budget ({PDF_TIME_BUDGET:g} s)")
            break
    else:
        if n > PDF_MAX_PAGES:
            notes.append(f"only its first {PDF_MAX_PAGES} of {n} pages were read (PDF page budget)")
    return pages


def _pdfium_unembedded_fonts(doc, raw) -> list[str]:
    """pdfium's own view of the fonts of the text objects (used only when the bytes do not show them: ~2 ms a page,
    as every text object is visited)."""
    import ctypes

    seen: dict[int, bool] = {}
    missing: list[str] = []
    for i in range(min(len(doc), PDF_MAX_PAGES)):
        page = doc[i]
        for k in range(raw.FPDFPage_CountObjects(page.raw)):
            obj = raw.FPDFPage_GetObject(page.raw, k)
            if raw.FPDFPageObj_GetType(obj) != raw.FPDF_PAGEOBJ_TEXT:
                continue
            font = raw.FPDFTextObj_GetFont(obj)
            key = ctypes.cast(font, ctypes.c_void_p).value or 0
            if key in seen:
                continue
            seen[key] = bool(raw.FPDFFont_GetIsEmbedded(font))
            if not seen[key]:
                size = raw.FPDFFont_GetBaseFontName(font, None, 0)
                buf = ctypes.create_string_buffer(size)
                raw.FPDFFont_GetBaseFontName(font, buf, size)
                name = buf.value.decode("latin-1", "replace")
                if _is_cjk_font_name(name) and name not in missing:
                    missing.append(name)
        page.close()
    return missing


_CJK_FONT_NAME_RE = re.compile(r"(?i)song|hei|kai|fang|ming|gothic|mincho|batang|gulim|dotum|simsun|simhei|stsong|"
                               r"msyh|yahei|noto.*cjk|source.*han|wqy|[^\x00-\x7f]|#[89a-f][0-9a-f]")


def _is_cjk_font_name(name: str) -> bool:
    """A font pdfium says is not embedded matters where it draws CJK text: Helvetica for the digits does not."""
    return bool(_CJK_FONT_NAME_RE.search(name))


def _no_text(doc, raw, read: int, n: int) -> str:
    """Why a PDF gives no text: scanned images (what OCR reads), blank pages, or drawings only."""
    images = paths = 0
    for i in range(read):
        page = doc[i]
        for k in range(raw.FPDFPage_CountObjects(page.raw)):
            kind = raw.FPDFPageObj_GetType(raw.FPDFPage_GetObject(page.raw, k))
            images += kind == raw.FPDF_PAGEOBJ_IMAGE
            paths += kind in (raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_SHADING)
        page.close()
    pages = f"its {n} pages" if read == n else f"its first {read} of {n} pages"
    if images:
        what = SCANNED
    elif paths:
        what = "drawings only, no images"
    else:
        what = "blank pages: nothing drawn on them"
    return f"{NO_TEXT_LAYER} (no text on any of {pages}: {what})"


def _pypdf(data: bytes) -> PdfText:
    """pypdf: no fonts needed; ~25 ms a page. A PDF locked against copying only (no password to open it) is read."""
    import logging

    import pypdf

    # pypdf logs a warning per oddity it works around (EOF marker not found …): a nightly run over thousands of
    # files would drown in them; what cannot be read becomes this file's finding instead
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    name = reader_name("pypdf")
    notes: list[str] = []
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return PdfText(None, name, "binary content (pdf) that cannot be opened without a password")
        n = len(reader.pages)
        pages = _read_pages(n, lambda i: reader.pages[i].extract_text(), notes)
    except Exception as exc:  # pypdf raises PdfReadError, ValueError, KeyError … on broken files
        return PdfText(None, name, f"binary content (pdf) that cannot be opened: {type(exc).__name__}: {exc}")
    text = "\n".join(pages)
    if not text.strip():
        why = _no_text_by_pdfium(data, len(pages), n)
        return PdfText(None, name, why, scanned=why.endswith(SCANNED + ")"), pages=n)
    return PdfText(text, name, notes=notes)


def _no_text_by_pdfium(data: bytes, read: int, n: int) -> str:
    """Why a PDF pypdf read gives no text, told by pdfium (which sees the page objects) where it opens the file."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        pages = f"its {n} pages" if read == n else f"its first {read} of {n} pages"
        return f"{NO_TEXT_LAYER} (no text on any of {pages})"
    try:
        return _no_text(doc, raw, read, n)
    finally:
        doc.close()
