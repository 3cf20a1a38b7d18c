"""Raw bytes to text: encoding detection (charset-normalizer as the fallback), binary sniffing, HTML tables to pipe rows."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

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

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f]")
_HTML_RE = re.compile(r"<\s*(?:html|body|table|div|p|!doctype|head|meta|td|tr)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Decoded:
    text: str | None
    encoding: str | None
    is_html: bool = False
    problem: str | None = None  # why no text could be had (binary, empty, undecodable)
    mixed_encoding: bool = False


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


def decode_bytes(data: bytes) -> Decoded:
    """Decode a raw report. Order: BOM, strict UTF-8, UTF-16 by NUL pattern, strict GB18030, line-wise mix, detector."""
    if not data or not data.strip():
        return Decoded(None, None, problem="empty file")
    for bom, name in BOMS:
        if data.startswith(bom):
            try:
                return _finish(data.decode(name), name)
            except UnicodeDecodeError:
                break
    kind = sniff_binary(data)
    if kind:
        return Decoded(None, None, problem=f"binary content ({kind})")
    try:
        return _finish(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    utf16 = _utf16_without_bom(data)
    if utf16:
        try:
            return _finish(data.decode(utf16), "utf-16")
        except UnicodeDecodeError:
            pass
    if data.count(0) > len(data) // 100:
        return Decoded(None, None, problem="binary content (NUL bytes)")
    try:
        # GB18030 is a superset of GBK and GB2312: what most Chinese government sites serve.
        return _finish(data.decode("gb18030"), "gb18030")
    except UnicodeDecodeError:
        pass
    mixed = _decode_mixed_lines(data)
    if mixed is not None:
        return _finish(mixed, "mixed(utf-8,gb18030)", mixed=True)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return Decoded(None, None, problem="undecodable bytes (no text encoding fits)")
    return _finish(str(best), best.encoding)


def _decode_mixed_lines(data: bytes) -> str | None:
    """A file whose lines come in different encodings (pages stitched by a crawler): decode each line alone."""
    out = []
    bad = 0
    lines = data.split(b"\n")
    for line in lines:
        for enc in ("utf-8", "gb18030"):
            try:
                out.append(line.decode(enc))
                break
            except UnicodeDecodeError:
                continue
        else:
            bad += 1
            out.append(line.decode("gb18030", errors="replace"))
    if bad > max(2, len(lines) // 20):
        return None
    return "\n".join(out)


def _finish(text: str, encoding: str, *, mixed: bool = False) -> Decoded:
    if not text.strip():
        return Decoded(None, encoding, problem="empty file")
    if len(_CONTROL_RE.findall(text, 0, 5000)) > 50:
        return Decoded(None, encoding, problem="binary content (control characters)")
    is_html = bool(_HTML_RE.search(text[:20000]))
    return Decoded(text, encoding, is_html=is_html, mixed_encoding=mixed)


# ---------------------------------------------------------------------------------------------------------------
# HTML: a real parser (lxml), tables expanded into grids (rowspan/colspan), written as pipe rows.

_BLOCK_TAGS = frozenset(
    "p div br h1 h2 h3 h4 h5 h6 li ul ol section article header footer tr table title blockquote pre center".split()
)
_SKIP_TAGS = frozenset("script style noscript template iframe object embed svg canvas head".split())


def html_to_text(html: str) -> str:
    """Visible text of an HTML page; each table row becomes `cell | cell | … |` with merged cells repeated."""
    import lxml.html

    try:
        root = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return re.sub(r"<[^>]+>", "\n", html)
    out: list[str] = []
    _walk(root, out)
    text = "".join(out)
    text = re.sub(r"[ \t\u00a0]*\n[ \t\u00a0\n]*", "\n", text)
    return text.strip()


def _walk(el, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _SKIP_TAGS:
        if el.tail:
            out.append(el.tail)
        return
    if tag == "table":
        out.append("\n")
        for row in table_grid(el):
            out.append(" | ".join(row) + " |\n")
        if el.tail:
            out.append(el.tail)
        return
    if tag in _BLOCK_TAGS:
        out.append("\n")
    if el.text and tag:
        out.append(el.text)
    for child in el:
        _walk(child, out)
    if tag in _BLOCK_TAGS:
        out.append("\n")
    if el.tail:
        out.append(el.tail)


def _cell_text(cell) -> str:
    parts: list[str] = []

    def rec(node):
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _SKIP_TAGS:
            return
        if tag == "br":
            parts.append(" ")
        if node.text and tag:
            parts.append(node.text)
        for ch in node:
            rec(ch)
            if ch.tail:
                parts.append(ch.tail)

    rec(cell)
    return re.sub(r"[\s\u00a0|]+", " ", "".join(parts)).strip()


def table_grid(table) -> list[list[str]]:
    """Expand rowspan/colspan: a merged cell's text stands in every grid position it covers."""
    rows = [tr for tr in table.iter("tr") if _nearest_table(tr) is table]
    grid: dict[tuple[int, int], str] = {}
    width = 0
    for r, tr in enumerate(rows):
        c = 0
        for cell in tr:
            if not isinstance(cell.tag, str) or cell.tag not in ("td", "th"):
                continue
            while (r, c) in grid:
                c += 1
            text = _cell_text(cell)
            rs = _span(cell.get("rowspan"))
            cs = _span(cell.get("colspan"))
            for dr in range(rs):
                for dc in range(cs):
                    # Only the first column of a colspan carries the text: a value is never counted twice.
                    grid[(r + dr, c + dc)] = text if dc == 0 else ""
            c += cs
            width = max(width, c)
    out = []
    for r in range(len(rows)):
        out.append([grid.get((r, c), "") for c in range(width)])
    return out


def _nearest_table(el):
    p = el.getparent()
    while p is not None and p.tag != "table":
        p = p.getparent()
    return p


def _span(value: str | None) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 1
    return min(max(n, 1), 100)
