"""HTML to text: the page parsed by lxml and walked by an XSLT stylesheet (libxslt) or, for the pages it cannot read,
by the Python walk; data tables expanded into grids (rowspan/colspan repeated) and written as pipe rows."""

from __future__ import annotations

import re
import threading
from itertools import repeat

from tasks.parse.decode import TooLarge

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
