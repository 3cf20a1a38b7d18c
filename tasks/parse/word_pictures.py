"""Word files whose tables are pictures (a scan or a screenshot pasted into the document): the pictures read by OCR
through the scanned pages' own path (`tasks.parse.ocr.read_page`: layout from the boxes' geometry), the tables put
where the pictures stand among the paragraphs, and their numbers kept only where the form's sum rules confirm them
(`tasks.parse.ocr_confirm.confirm`; what they do not confirm is null with `ocr_unconfirmed`).

Pictures are read only when the Word text lacks some of the report's tables (a section without a row of numbers), and
only pictures that could hold a table (a logo or a seal is too small, and a picture whose reading holds no ruled row
of numbers adds nothing): a Word file with a logo reads exactly as it did. Each picture is bounded before it is
decoded — its bytes, its pixels (from its header, below Pillow's decompression-bomb limit), the count read — and each
one refused is a `word_pictures_unread` finding naming why; the parser process gives a Word file the file time budget
once per picture it could read (`estimated_picture_pages`, as a scan gets it per page). Looking for pictures costs
a Word file without any ~0.1 ms (one search of the body; docx_text takes ~19 ms).

Measured here (`python -m tests.test_word_pictures [dpi]`: the five seeds as Word files, each table cropped from the
record drawn as the printed form, 5 pictures a file; the machine shared, so CPU time): at 200 dpi 921/921 values of
tables 3 and 4 read, 0 wrong, 10.9–14.5 s CPU a file (~2.5 s a picture); at 120 dpi (scaled up to 200 before OCR)
the same values. Table 2 has no sum rule: read from a picture, its numbers are null with `ocr_unconfirmed`, as a
scan's are.
"""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass, field

from tasks.parse.decode import Decoded, finish_text

MAX_PICTURES = 40  # pictures read by OCR at most (a scan's page limit, tasks/parse/pdf.SCAN_MAX_PAGES)
PICTURE_MAX_BYTES = 20 * 1024 * 1024  # one picture as stored: a page scanned at 300 dpi is ~0.3-2 MiB
# pixels of one picture, from its header before decoding: A4 at 600 dpi is 35 M. Pillow's own bomb limit (89 M, an
# error at twice that) is far above, so a refused picture is this limit's, with its reason, never Pillow's warning
PICTURE_MAX_PIXELS = 36_000_000
# A picture smaller than this cannot hold a table row of digits at a readable size (a logo, an emblem): never read
TABLE_MIN_WIDTH_PX = 400
TABLE_MIN_HEIGHT_PX = 60
TABLE_MIN_BYTES = 16 * 1024  # without decoding (the time budget; no OCR installed): a picture holding a table is larger
READ_DPI = 200  # a picture shown at fewer dots per inch than 150 (a small screenshot) is scaled up to this (at most 3x)
EMU_PER_INCH = 914400
PICTURE_XPATH = ".//a:blip/@r:embed | .//v:imagedata/@r:id"
_NAMESPACES = {"a": "http://schemas.openxmlformats.org/drawingml/2006/main",
               "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
               "v": "urn:schemas-microsoft-com:vml"}
_WP_EXTENT = "{http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing}extent"


@functools.cache
def _pictures_of():
    from lxml import etree

    return etree.XPath(PICTURE_XPATH, namespaces=_NAMESPACES)
NOTE_RULE = "word_pictures_unread"


@dataclass
class Picture:
    line: int  # where it stands: the number of text lines before it
    rid: str  # its relationship id in the document part
    width_emu: int | None = None  # how wide Word shows it


@dataclass
class WordPictures:
    """How a Word file's pictures were read: the OCR document of the pictures kept (None: none read), the tables the
    Word text itself holds (left as read, never confirmed again), and why pictures were not read."""
    ocr: object | None = None
    text_tables: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)

    @property
    def confidence_min(self) -> float | None:
        return getattr(self.ocr, "confidence_min", None)

    pages = 0  # (documents.py's ocr_pages_skipped check reads pages / pages_total of a scan)
    pages_total = 0


def picture_refs(element) -> list[tuple[str, int | None]]:
    """(relationship id, width in EMU or None) of each picture drawn in a paragraph (DrawingML inline or anchored,
    VML for older files)."""
    out: list[tuple[str, int | None]] = []
    for rid in _pictures_of()(element):
        width = None
        node = rid.getparent()
        while node is not None and width is None:
            ext = node.find(_WP_EXTENT)
            if ext is not None and str(ext.get("cx", "")).isdigit():
                width = int(ext.get("cx"))
            node = node.getparent() if node.tag.rsplit("}", 1)[-1] not in ("p", "body") else None
        out.append((str(rid), width))
    return out


def has_pictures(body) -> bool:
    return bool(_pictures_of()(body))


def estimated_picture_pages(data: bytes) -> int:
    """How many pictures of a Word file OCR could read (the parser's time budget is given per picture, as per
    scanned page): its stored pictures large enough to hold a table (by bytes: TABLE_MIN_BYTES), at most MAX_PICTURES; 1 for
    anything else. Reads the zip directory only (~0.1 ms)."""
    if data[:4] != b"PK\x03\x04":
        return 1
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            n = sum(1 for i in zf.infolist() if i.filename.startswith("word/media/") and i.file_size >= TABLE_MIN_BYTES)
    except (zipfile.BadZipFile, OSError, ValueError):
        return 1
    return max(1, min(MAX_PICTURES, n))


def tables_missing(text: str) -> list[str]:
    """The report tables the Word text does not hold: a table-bearing section (二, 三, 四) absent or without one line
    of three or more numbers."""
    from tasks.parse.cells import cells_of_line
    from tasks.parse.sections import find_sections, normalise

    text = normalise(text)
    missing = []
    for key, span in find_sections(text).items():
        region = text[span[0]:span[1]] if span else ""
        if not any(sum(c.kind == "number" for c in cells_of_line(line)) >= 3 for line in region.split("\n")):
            missing.append(key)
    return missing


def _open(blob: bytes):
    """The picture's header opened by Pillow (nothing decoded yet), or the reason it cannot be read."""
    import warnings

    from PIL import Image

    if len(blob) > PICTURE_MAX_BYTES:
        return None, f"{len(blob) >> 10} KiB stored, more than {PICTURE_MAX_BYTES >> 10} KiB"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(blob))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return None, f"too many pixels ({exc})"
    except Exception as exc:  # Pillow raises UnidentifiedImageError, SyntaxError, OSError … on what it cannot read
        return None, f"not a picture Pillow reads ({type(exc).__name__})"
    w, h = img.size
    if w * h > PICTURE_MAX_PIXELS:
        return None, f"{w}x{h} pixels, more than {PICTURE_MAX_PIXELS // 1_000_000} M"
    if img.format in ("WMF", "EMF"):
        return None, f"a {img.format} drawing (vector, not rendered here)"
    return img, None


def _array(img, width_emu: int | None):
    """The picture as a BGR array on white (transparency flattened), scaled up when Word shows it at a low
    resolution, its longest side at most the OCR page limit."""
    import numpy as np
    from PIL import Image

    from tasks.parse.ocr import MAX_SIDE_PX

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, "white")
        img.paste(rgba, mask=rgba.getchannel("A"))
    else:
        img = img.convert("RGB")
    w, h = img.size
    scale = 1.0
    if width_emu:
        dpi = w / (width_emu / EMU_PER_INCH)
        if dpi < 150:
            scale = min(READ_DPI / dpi, 3.0)
    scale = min(scale, MAX_SIDE_PX / max(w, h))
    if abs(scale - 1.0) > 0.01:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def read_pictures(document, lines: list[str], pictures: list[Picture]) -> Decoded:
    """A Word file's text with the tables its pictures hold put where they stand (see the module's docstring)."""
    from tasks.parse import ocr
    from tasks.parse.word import docx_reader

    text = "\n".join(lines)
    has_text = bool(text.strip())
    missing = tables_missing(text) if has_text else ["active_disclosure", "applications", "review_litigation"]
    if has_text and not missing:
        return _text(text, docx_reader(), None)
    state = WordPictures(text_tables=frozenset(k for k in ("active_disclosure", "applications", "review_litigation")
                                               if k not in missing))
    candidates: list[tuple[Picture, object, str]] = []
    parts = document.part.related_parts
    if not ocr.available():  # (nor, maybe, Pillow: the pictures are counted by their stored size, as for the budget)
        n = sum(1 for pic in pictures if len(getattr(parts.get(pic.rid), "blob", b"")) >= TABLE_MIN_BYTES)
        if n:
            state.notes.append(f"{n} picture(s) that may hold the report's tables were not read: {ocr.OCR_NOT_INSTALLED}")
        pictures = []
    for n, pic in enumerate(pictures, start=1):
        part = parts.get(pic.rid)
        blob = getattr(part, "blob", None)
        if blob is None:
            continue  # a link to a file outside the document: nothing to read
        label = f"picture {n} of {len(pictures)} ({part.partname})"
        img, why = _open(blob)
        if img is None:
            state.notes.append(f"{label}: {why}")
            continue
        if img.size[0] < TABLE_MIN_WIDTH_PX or img.size[1] < TABLE_MIN_HEIGHT_PX:
            continue  # a logo, an emblem, a seal: too small to hold a table
        candidates.append((pic, img, label))
    if len(candidates) > MAX_PICTURES:
        state.notes.append(f"{len(candidates)} pictures could hold tables: only the first {MAX_PICTURES} were read "
                           f"by OCR")
        candidates = candidates[:MAX_PICTURES]
    if not candidates:
        if not has_text:
            why = "; ".join(state.notes) or "none large enough to hold a table"
            return Decoded(None, "docx", problem=f"a Word file with no text, only pictures ({why})",
                           reader=docx_reader())
        return _text(text, docx_reader(), state)
    kept, doc = _ocr(candidates, has_text, state)
    if not kept:
        if not has_text:
            return Decoded(None, "docx", problem="a Word file with no text, only pictures in which OCR found no "
                                                 "text", reader=docx_reader())
        return _text(text, docx_reader(), state)
    out: list[str] = []
    at = 0
    for line_no, picture_lines in kept:
        out += lines[at:line_no]
        out += picture_lines
        at = line_no
    out += lines[at:]
    state.ocr = doc
    return _text("\n".join(out), f"{docx_reader()} + {ocr.reader_name()}", state)


def _text(text: str, reader: str, state: WordPictures | None) -> Decoded:
    from dataclasses import replace

    got = finish_text(text, "docx")
    return replace(got, reader=reader, ocr=state if state is not None and (state.ocr or state.notes) else None)


def _ocr(candidates, has_text: bool, state: WordPictures):
    """Each picture read as a page (ocr.read_page); a picture's lines are kept when they hold a ruled row of numbers
    (a table), or all of them when the Word file has no text of its own (a scan pasted in). Returns ([(line, the
    picture's lines)], the OCR document of the kept pictures)."""
    from tasks.parse import ocr

    timing = ocr.Timing()
    kept: list[tuple[int, list[str]]] = []
    all_lines: list = []
    scores: list[float] = []
    pngs: list[bytes] = []
    import time

    start = time.perf_counter()
    for pic, img, label in candidates:
        try:
            arr = _array(img, pic.width_emu)
            page_lines, page_scores, png = ocr.read_page(arr, len(pngs), timing)
        except Exception as exc:  # a picture that fails to decode or to read costs that picture only
            state.notes.append(f"{label} could not be read by OCR: {type(exc).__name__}: {exc}")
            continue
        finally:
            img.close()
        if not page_lines or not (has_text is False or any(line.cells for line in page_lines)):
            continue
        timing.pages += 1
        kept.append((pic.line, [line.text for line in page_lines]))
        all_lines += page_lines
        scores += page_scores
        pngs.append(png)
    timing.total = time.perf_counter() - start
    doc = ocr.OcrDocument(all_lines, timing.pages, min(scores) if scores else None, timing, pngs)
    doc.pages_total = doc.pages
    return kept, doc


def confirm_pictures(out, state: WordPictures) -> None:
    """The tables read from pictures kept where the sum rules confirm them; the tables the Word text holds stay as
    read (their own rule findings, not OCR's); each picture not read is a warning finding."""
    import copy

    from tasks.parse.extracted import finding

    if state.ocr is not None:
        from tasks.parse.ocr_confirm import confirm

        rec = out.record
        keep = state.text_tables
        saved = {k: copy.deepcopy(rec.get(k)) for k in keep}
        before = list(out.findings)
        confirm(out, state.ocr)
        for k, v in saved.items():
            rec[k] = v
        after = out.findings
        out.findings[:] = [f for f in before if f.get("table") in keep or f in after] + \
            [f for f in after if f not in before and f.get("table") not in keep]
    for note in state.notes:
        out.findings.append(finding(NOTE_RULE, f"a picture in the Word file was not read: {note}", severity="warning"))
    if state.notes and state.ocr is None:  # no tables found, and pictures not read: the file's finding says why
        for f in out.findings:
            if f["rule"] == "unsupported_format" and "no report tables found" in f["message"]:
                f["message"] += f" (the Word file's pictures were not read: {'; '.join(state.notes)})"
