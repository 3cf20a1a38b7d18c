"""Word attachments: a `.docx` (python-docx) as its paragraphs and tables in body order, a table row as pipe cells, merged
cells written out once a column; refused before parsing where its parts unpack past the limits. Pictures that hold
the report's tables (pasted scans or screenshots) are read by OCR in `tasks/parse/word_pictures.py`."""

from __future__ import annotations

from collections.abc import Iterator

from tasks.parse.decode import Decoded, TooLarge, finish_text
from tasks.parse.word_pictures import Picture, has_pictures, picture_refs, read_pictures

_DOCX_READER: list[str] = []


def docx_reader() -> str:
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


def is_docx(data: bytes) -> bool:
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
    """A Word document's paragraphs and tables in body order (python-docx), `reader` saying so (and the OCR engine
    where pictures gave tables). A table row becomes `cell | cell |`, as
    an HTML table's does: a cell merged across columns is written once, one merged down rows stands in each row.
    Tables are walked element by element once (python-docx's `row.cells` walks a vertical merge up to its first
    cell for every cell below it: a 1.5 KB merge chain took 40 s, 8 KB never finished)."""
    import io
    from dataclasses import replace

    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    pictures: list = []
    pictured = False

    def blocks(container, lines: list[str]) -> list[str]:
        for block in container.iter_inner_content():
            if isinstance(block, Paragraph):
                lines.append(block.text)
                if pictured:  # where each picture stands: after the text of its paragraph
                    pictures.extend(Picture(len(lines), rid, width) for rid, width in picture_refs(block._p))
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
            return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) too large to read: {problem}",
                           reader=docx_reader())
        document = docx.Document(io.BytesIO(data))
        pictured = has_pictures(document.element.body)  # one search of the body: most Word files have none
        lines = blocks(document, [])
    except TooLarge as exc:
        return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) too large to read: {exc}",
                       reader=docx_reader())
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors … on a zip that is no document
        return Decoded(None, "docx", problem=f"binary content (zip/docx/xlsx) that is no readable Word document: "
                                             f"{type(exc).__name__}: {exc}", reader=docx_reader())
    if pictures:
        return read_pictures(document, lines, pictures)
    return replace(finish_text("\n".join(lines), "docx"), reader=docx_reader())


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
