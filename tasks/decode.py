"""Raw bytes to text: encoding detection (charset-normalizer as the fallback), binary sniffing, HTML tables to pipe rows."""

from __future__ import annotations

import codecs
import html
import re
import threading
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


def decode_bytes(data: bytes) -> Decoded:
    """Decode a raw report. Order: BOM, strict UTF-8, UTF-16 by NUL pattern, strict GB18030, line-wise mix, detector."""
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
                   mixed_encoding=inner.mixed_encoding)


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
    return Decoded(text, encoding, is_html=is_html, mixed_encoding=mixed)


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


def html_to_text(html: str) -> str:
    """Visible text of an HTML page; each table row becomes `cell | cell | … |` with merged cells repeated."""
    html = _XML_DECLARATION_RE.sub("", html, count=1)  # lxml refuses str input that declares an encoding
    text, depth = _html_text(html)
    if depth >= DEPTH_LIMIT_NEAR:
        # the parser may have dropped everything below its depth limit: flatten the wrapper tags and read again
        text, _ = _html_text(_WRAPPER_TAG_RE.sub(lambda m: "\n" if m.group(1) else "", html))
    return text


def _html_text(html: str) -> tuple[str, int]:
    import lxml.etree

    try:
        # plain etree elements from a per-thread parser: lxml.html's element classes cost a Python call per element
        root = lxml.etree.fromstring(html, _html_parser())
    except (ValueError, lxml.etree.ParserError, lxml.etree.XMLSyntaxError):
        root = None
    if root is None:
        return re.sub(r"<[^>]+>", "\n", html), 0
    out: list[str] = []
    depth = _walk(root, out)
    # each line stripped of spaces, tabs and no-break spaces, empty lines dropped (a regex here costs 10× more)
    text = "\n".join(filter(None, (ln.strip(" \t\u00a0") for ln in "".join(out).split("\n"))))
    return text.strip(), depth


def _walk(root, out: list[str]) -> int:
    """Append the visible text under `root` to `out` (iteratively: pages nest thousands deep); returns the depth."""
    stack: list[tuple[object, bool, int]] = [(root, False, 0)]
    max_depth = 0
    while stack:
        el, closing, depth = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else ""  # type: ignore[attr-defined]
        if closing:
            if tag in _BLOCK_TAGS:
                out.append("\n")
            if el.tail:  # type: ignore[attr-defined]
                out.append(el.tail)  # type: ignore[attr-defined]
            continue
        max_depth = max(max_depth, depth)
        if tag in _SKIP_TAGS:
            if el.tail:  # type: ignore[attr-defined]
                out.append(el.tail)  # type: ignore[attr-defined]
            continue
        grid = table_grid(el) if tag == "table" and not _has_nested_table(el) else None
        if grid:
            out.append("\n")
            for row in grid:
                out.append(" | ".join(c for c in row if c is not None) + " |\n")
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
        stack.append((el, True, depth))
        stack.extend((child, False, depth + 1) for child in reversed(el))  # type: ignore[call-overload]
    return max_depth


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
    return re.sub(r"[\s\u00a0|]+", " ", "".join(parts)).strip()


_TD_OPEN_RE = re.compile(r"<t[dh](\s[^>]*)?>")
_BR_RE = re.compile(r"<br\b[^>]*>")
_TAG_RE = re.compile(r"<[^>]*>")
_ROWSPAN_RE = re.compile(r'\browspan="([^"]*)"')
_COLSPAN_RE = re.compile(r'\bcolspan="([^"]*)"')
# markers for cell start, cell end and row end: private-use characters (the C0 separators count as whitespace)
_OPEN, _CLOSE, _ROW = "\ue000", "\ue001", "\ue002"


def _serialised_rows(table, rows: list) -> list[list[tuple[str, str | None, str | None]]] | None:
    """Every row's cells as (text, rowspan, colspan), from one serialisation of the table and two regex passes
    (a Python regex costs ~30 ns a character on CJK text; str methods a tenth of that) instead of a call per cell.
    None when the markup does not line up with the tree (the caller walks the tree)."""
    import lxml.etree

    s = lxml.etree.tostring(table, method="html", encoding=str, with_tail=False)
    if _OPEN in s or _CLOSE in s or _ROW in s:
        return None
    # lxml writes tags in lower case: the closing ones are plain strings
    s = s.replace("</td>", _CLOSE).replace("</th>", _CLOSE).replace("</tr>", _ROW)
    if "<br" in s:
        s = _BR_RE.sub(" ", s)
    parts = _TD_OPEN_RE.split(s)  # text, attrs, text, attrs, …: every cell opening in one pass
    attrs = parts[1::2]
    # (no nested tables here: every td/th below the table is one of its cells)
    if len(attrs) != int(table.xpath("count(.//td|.//th)")) or s.count(_ROW) != len(rows):
        return None
    s = _TAG_RE.sub("", _OPEN.join(parts[0::2]))
    if "&" in s:
        unescaped = html.unescape(s)
        if unescaped.count(_OPEN) != len(attrs) or unescaped.count(_ROW) != len(rows):
            return None  # an entity spelled a marker
        s = unescaped
    out: list[list[tuple[str, str | None, str | None]]] = []
    k = 0
    for piece in s.split(_ROW)[:len(rows)]:
        cells = []
        for cell in piece.split(_OPEN)[1:]:
            a = attrs[k]
            k += 1
            text = " ".join(cell.split(_CLOSE, 1)[0].replace("|", " ").split())
            if a and "span" in a:
                rs = _ROWSPAN_RE.search(a)
                cs = _COLSPAN_RE.search(a)
                cells.append((text, rs.group(1) if rs else None, cs.group(1) if cs else None))
            else:
                cells.append((text, None, None))
        out.append(cells)
    return out if k == len(attrs) else None


def table_grid(table) -> list[list[str | None]]:
    """Expand rowspan/colspan: a merged cell's text stands in every grid position it covers."""
    rows = [tr for tr in table.iter("tr") if _nearest_table(tr) is table]
    # Tables holding scripts or styles take the slow walk that skips them.
    plain = next(table.iter(*_SKIP_TAGS), None) is None
    cells = _serialised_rows(table, rows) if plain else None
    if cells is None:
        cells = [[(_cell_text(cell), cell.get("rowspan"), cell.get("colspan")) for cell in tr if cell.tag in ("td", "th")]
                 for tr in rows]
    grid: dict[tuple[int, int], str | None] = {}
    width = 0
    for r, row in enumerate(cells):
        c = 0
        for text, rs_attr, cs_attr in row:
            while (r, c) in grid:
                c += 1
            rs = 1 if rs_attr is None else _span(rs_attr)
            cs = 1 if cs_attr is None else _span(cs_attr)
            if rs == 1 and cs == 1:
                grid[(r, c)] = text
            else:
                for dr in range(rs):
                    for dc in range(cs):
                        # A merged cell is one cell: the first column of a colspan carries its text and the rest
                        # are left out (None), so a value is never counted twice and a merged label adds no blanks.
                        grid[(r + dr, c + dc)] = text if dc == 0 else None
            c += cs
            width = max(width, c)
    return [[grid.get((r, c), "") for c in range(width)] for r in range(len(rows))]


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
