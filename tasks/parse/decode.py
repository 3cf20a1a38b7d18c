"""Raw bytes to text: encoding detection (charset-normalizer as the fallback), binary sniffing, the dispatch of PDF,
Word and gzip bodies to their readers."""

from __future__ import annotations

import codecs
import contextvars
import re
from dataclasses import dataclass
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
    scan_pages: int = 0  # a scan not read here (OCR deferred or switched off, OCR_MODE): its real page count


# What a scan meets here: "read" (OCR in place), "defer" (not read: left to the flow's OCR batches, flows/batches.py),
# "off" (not read: unsupported, "OCR switched off"). Set around one document's decoding (tasks/parse/documents.py).
OCR_MODE: contextvars.ContextVar[str] = contextvars.ContextVar("ocr_mode", default="read")
OCR_SWITCHED_OFF = "OCR switched off"


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
                return finish_text(text, label, controls=_controls(body) if codec == "utf-8" else None)
            data = body  # a mark in front of something else (an editor put a UTF-8 BOM on GBK): decode the rest
            break
    kind = sniff_binary(data)
    if kind == "pdf":
        return pdf_text(data)
    if kind == "zip/docx/xlsx":
        from tasks.parse import word  # (word imports this module: imported here, when a zip comes)

        if word.is_docx(data):
            return word.docx_text(data)  # (its reader: python-docx, and the OCR engine where pictures held tables)
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
        return repaired or finish_text(text, "utf-8", controls=_controls(data))
    utf16 = _utf16_without_bom(data)
    if utf16:
        text = _strict(data, utf16)
        if text is not None:
            return finish_text(text, "utf-16")
    if data.count(0) > len(data) // 100:
        return Decoded(None, None, problem="binary content (NUL bytes)")
    controls = _controls(data)  # (in GB18030 and UTF-8 a byte below 0x20 is always that control character)
    if controls and _controls(data[:8192]) > min(len(data), 8192) // 100:  # random bytes have ~10 %
        return Decoded(None, None, problem="binary content (control bytes)")
    # GB18030 (a superset of GBK and GB2312: what most Chinese government sites serve) maps most UTF-8 byte runs to
    # wrong characters without an error, so a file with whole lines of UTF-8 in it is decoded line by line instead.
    text = _strict(data, "gb18030")
    if text is not None and not _has_utf8_lines(data):
        return finish_text(text, "gb18030", controls=controls)
    mixed = _decode_mixed_lines(data)
    if mixed is not None:
        text, encoding, is_mixed = mixed
        return finish_text(text, encoding, mixed=is_mixed, controls=controls)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return Decoded(None, None, problem="undecodable bytes (no text encoding fits)")
    return finish_text(str(best), best.encoding)


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


def finish_text(text: str, encoding: str, *, mixed: bool = False, controls: int | None = None) -> Decoded:
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
# layer is the pdf_text layout, a Word document's tables become pipe rows (tasks/parse/word.py).

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
        mode = OCR_MODE.get()
        if mode != "read":
            why = "left to an OCR batch" if mode == "defer" else OCR_SWITCHED_OFF
            return Decoded(None, "pdf", problem=f"{got.problem}: {why}", reader=got.reader, scan_pages=got.pages or 1)
        return scanned_pdf(data, got.problem or "a PDF with no text layer")
    if got.text is None:
        return Decoded(None, "pdf", problem=got.problem, reader=got.reader)
    from dataclasses import replace

    return replace(finish_text(got.text, "pdf"), reader=got.reader, notes=tuple(got.notes))


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
    return replace(finish_text(doc.text, "pdf"), reader=ocr.reader_name(), ocr=doc)
