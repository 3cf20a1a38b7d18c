"""Scanned reports: image-only PDFs read by OCR, laid out from the boxes' geometry as the text the parser reads.

A page is rasterised by pdfium (pypdfium2) at `DPI`, its coloured marks lifted (`without_colour`: a red seal over
table 3 goes, the print under it stays), read by the OCR engine (boxes: a quadrilateral, a text, a score), deskewed
by the median slant of its long text boxes, and cut into lines by baseline. In a ruled table the cells of a line
come from the page's vertical rules (found with a morphological opening), not from the boxes: the engine returns no
box at all for many printed zeros, so a row cannot be read as a sequence of tokens. A value cell with no box, or a
box read with a low score, is read again alone (cropped, scaled up, binarised, recognition only; specks beside the
digits whitened first); what that gives is the cell's candidate, and a cell with no ink is blank. The document comes
out as PDF-text lines (`label 3001 53 0 0 61 4 3119`) with, beside the text, every value cell read (`OcrCell`: the
text, the score, the alternatives): `tasks.parse.ocr_confirm` keeps a number only where the form's sum rules confirm
it.

Engine (measured here on `shared/samples/real/huaian_2024.pdf` rasterised at 200 dpi by pdfium, one thread,
`python -m tests.bench.bench_ocr --compare`: the numbers of tables 3 and 4, 190 of them, on the two pages that
hold them, counted where the engine gives them as tokens of their own):

- rapidocr-onnxruntime 1.4.4 (PP-OCRv4 det + rec, 16 MB of models inside the wheel, onnxruntime on the CPU):
  172 of 190 as the page's boxes (the rest are zeros with no box, which the cell re-reading recovers); 1.2–3.0 s a
  page on a quiet core (12.4 s for the 6 pages), 7.7 s a page with the machine's two cores shared 6 ways.
- Debian's tesseract-ocr 5.3.0 + tesseract-ocr-chi-sim (`--psm 6`): 8 of 190; 0.8–1.0 s a page quiet, 7.1 s
  shared. On the ruled table it reads the rules as characters (`EC 了下天了本天本项本了E3`).

rapidocr is the engine: the sum rules can catch a misread digit, they cannot bring back a lost table.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass, field

from tasks.parse.pdf import SCAN_MAX_PAGES

DPI = 200  # pdfium's rendering for OCR: 150 dpi loses thin digits (a 1 becomes no box), 300 costs 2.2x the time
RECHECK_SCORE = 0.95  # a value box read with a lower score is read again alone
TEXT_SCORE = 0.3  # the engine drops boxes below this score (its default 0.5 loses many printed zeros)
ENGINE_PACKAGE = "rapidocr-onnxruntime"
OCR_NOT_INSTALLED = "OCR not installed"
MAX_PAGES = SCAN_MAX_PAGES  # 40: a report has 4–15 pages; a scan with more is read as far as this (the rest is a finding's)
MAX_SIDE_PX = 4000  # a page's longest side when rasterised (A4 at 200 dpi: 2339): ~45 MiB a page at most

_NUMBER_RE = re.compile(r"^[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_SPLIT_RE = re.compile(r"\s+")


@functools.cache
def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def reader_name() -> str:
    """`rapidocr-onnxruntime 1.4.4`: the engine and its version, as the lake records how a report was read."""
    from importlib.metadata import version

    return f"{ENGINE_PACKAGE} {version(ENGINE_PACKAGE)}"


_ENGINES = threading.local()

# glibc's allocator in a process that reads scans: the ceiling glibc's own thresholds reach by themselves (its
# DEFAULT_MMAP_THRESHOLD_MAX on 64 bits, and twice that for trimming), set from the start and kept whatever the
# environment says
MALLOC_MMAP_THRESHOLD = 32 << 20
MALLOC_TRIM_THRESHOLD = 64 << 20


@functools.cache
def keep_large_buffers() -> bool:
    """Set glibc's mmap and trim thresholds (`mallopt`) for this process, once; False where that is not glibc.

    Why: an allocation above the mmap threshold is mapped on `malloc` and unmapped on `free`, so each of a page's
    large arrays (the engine's tensors: its memory arena is off) is faulted in again, 4 KiB at a time, by the
    kernel. glibc raises that threshold by itself as large blocks are freed, up to 32 MiB, but not once
    `MALLOC_TRIM_THRESHOLD_` is set, and Dask's nanny sets it to 64 KiB in every worker it starts
    (`distributed.nanny.pre-spawn-environ`), for the worker's parser process too. Measured here
    (`python -m tests.bench.bench_ocr --malloc 3`, 3 scans in one process, one core, 2 interleaved rounds, medians):
    under Dask's setting 116.1 s, 71.1 of them in the kernel, 44.2 million page faults, peak 764 MiB; glibc's
    defaults 46.0 s (6.4 s kernel, 3.1 M, 1,109 MiB); these thresholds under Dask's setting 44.7 s (5.0 s, 2.5 M,
    1,057 MiB). Higher thresholds (64 MiB) were ~5% faster again, but a 46 MiB page tensor left in the heap grew a
    6-page scan's parser process by 1,155 MiB against 944, over the file memory budget.
    Only a process that reads scans is changed: the text parser, which allocates small, keeps its environment's."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD))


def engine():
    """One engine per thread (an onnxruntime session is not shared across threads), one intra-op thread: the run
    spreads work over processes and Dask workers, not over the cores inside one page."""
    eng = getattr(_ENGINES, "engine", None)
    if eng is None:
        import logging

        from rapidocr_onnxruntime import RapidOCR

        keep_large_buffers()
        # no direction classifier: it turns a lone cell's 9 upside down into a 6 (seen on pages turned by 1.5°);
        # a scanned form's text is upright
        eng = RapidOCR(text_score=TEXT_SCORE, use_cls=False, intra_op_num_threads=1, inter_op_num_threads=1,
                       print_verbose=False)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        _ENGINES.engine = eng
    return eng


@dataclass
class Timing:
    """Where a document's OCR time went (seconds): the engine itself, and everything around it."""
    engine: float = 0.0
    total: float = 0.0
    pages: int = 0


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float
    recheck: bool = False  # read as a look-alike (`Z` for 2): read again alone, whatever the score

    @property
    def yc(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def xc(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def h(self) -> float:
        return self.y1 - self.y0


@dataclass
class OcrCell:
    """One value cell of a ruled table as read: the text kept in the document, its score, and other readings."""
    text: str
    score: float
    page: int
    bbox: tuple[int, int, int, int]
    candidates: tuple[str, ...] = ()  # other readings (the cell read again alone), best first
    missing: bool = False  # no box from the page's reading: `text` comes from reading the cell alone


@dataclass
class OcrLine:
    text: str
    cells: list[OcrCell] = field(default_factory=list)  # the value cells, left to right, when the line is ruled


@dataclass
class OcrDocument:
    lines: list[OcrLine]
    pages: int
    confidence_min: float | None  # lowest score of a value box kept
    timing: Timing
    # each page deskewed, grey, its rules erased, as PNG (~150 KB a page): a cell the rules dispute is read again
    page_png: list[bytes] = field(default_factory=list)
    reread: set[int] = field(default_factory=set)  # id() of the cells already read again alone
    pages_total: int = 0  # pages in the file (only MAX_PAGES are read)

    def read_again(self, cell: OcrCell) -> tuple[str, ...]:
        """A cell the rules dispute, read again alone from its page (once): its candidates."""
        if id(cell) in self.reread or cell.page >= len(self.page_png):
            return cell.candidates
        import cv2
        import numpy as np

        self.reread.add(id(cell))
        gray = cv2.imdecode(np.frombuffer(self.page_png[cell.page], np.uint8), cv2.IMREAD_GRAYSCALE)
        again, _ = reread(gray, cell.bbox)
        cell.candidates = tuple(dict.fromkeys([*cell.candidates, *(t for t in again if t != cell.text)]))
        return cell.candidates

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


# ---------------------------------------------------------------------------------------------------------------
# Pages


def rasterise(data: bytes, dpi: int = DPI, max_pages: int = MAX_PAGES):
    """The PDF's pages as RGB arrays (pdfium). Raises on a PDF pdfium cannot open."""
    import numpy as np
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        for i in range(min(len(pdf), max_pages)):
            page = pdf[i]
            try:
                w, h = page.get_size()  # points; a poster-sized page is rendered smaller (memory is bounded)
                bitmap = page.render(scale=min(dpi / 72, MAX_SIDE_PX / max(w, h, 1.0)))
                yield np.ascontiguousarray(bitmap.to_numpy()[:, :, :3])  # BGR(A) as pdfium renders: what cv2 wants
            finally:
                page.close()
    finally:
        pdf.close()


def page_count(data: bytes) -> int:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return len(pdf)
    finally:
        pdf.close()


def _boxes(result) -> list[tuple[list[list[float]], str, float]]:
    return [(quad, str(text), float(score)) for quad, text, score in (result or [])]


def skew_degrees(raw: list[tuple[list[list[float]], str, float]]) -> float:
    """The page's slant: the median angle of the top edges of long text boxes (≥ 4 times as wide as tall)."""
    angles = []
    for quad, _, _ in raw:
        (x0, y0), (x1, y1) = quad[0], quad[1]
        w = math.hypot(x1 - x0, y1 - y0)
        h = math.hypot(quad[3][0] - x0, quad[3][1] - y0)
        if w >= 4 * h and w > 0:
            angles.append(math.degrees(math.atan2(y1 - y0, x1 - x0)))
    if not angles:
        return 0.0
    angles.sort()
    return angles[len(angles) // 2]


def _deskew(img, raw, angle: float):
    """Rotate the page by -angle (about its centre) and the boxes with it: axis-aligned boxes in the new frame."""
    import cv2
    import numpy as np

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    if abs(angle) >= 0.1:
        img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    boxes = []
    for quad, text, score in raw:
        pts = np.hstack([np.asarray(quad, dtype=float), np.ones((4, 1))]) @ m.T if abs(angle) >= 0.1 else np.asarray(quad)
        xs, ys = pts[:, 0], pts[:, 1]
        boxes.append(Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), text.strip(), score))
    return img, boxes


def _ink(gray):
    import cv2

    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return ink


def rule_masks(gray, min_len: int):
    """Masks of the page's vertical and horizontal rules: dark runs at least `min_len` pixels long (text strokes are
    shorter)."""
    import cv2

    ink = _ink(gray)
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, min_len)))
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3 * min_len, 1)))
    return vertical, horizontal


def _rules_across(mask, y0: float, y1: float) -> list[float]:
    """x of the vertical rules crossing the band y0..y1 (covering ≥ 80% of it)."""
    import numpy as np

    a, b = max(0, int(y0)), min(mask.shape[0], int(math.ceil(y1)))
    if b - a < 3:
        return []
    cover = (mask[a:b] > 0).sum(axis=0)
    return _centres(np.flatnonzero(cover >= 0.8 * (b - a)))


def _rules_along(mask, x0: float, x1: float) -> list[float]:
    """y of the horizontal rules crossing the span x0..x1 (covering ≥ 60% of it)."""
    import numpy as np

    a, b = max(0, int(x0)), min(mask.shape[1], int(math.ceil(x1)))
    if b - a < 3:
        return []
    return _centres(np.flatnonzero((mask[:, a:b] > 0).sum(axis=1) >= 0.6 * (b - a)))


def _centres(positions) -> list[float]:
    """The middle of each run of pixel lines covered by a rule (positions ascending; lines at most 2 apart are one
    rule)."""
    rules: list[float] = []
    start = prev = None
    for x in positions:
        if start is None:
            start = prev = x
        elif x - prev <= 2:
            prev = x
        else:
            rules.append((start + prev) / 2)
            start = prev = x
    if start is not None:
        rules.append((start + prev) / 2)
    return rules


def is_number(text: str) -> bool:
    return bool(_NUMBER_RE.match(text))


def _rows(boxes: list[Box]) -> list[list[Box]]:
    """Boxes grouped into lines by their vertical centre (after deskew), each line left to right."""
    if not boxes:
        return []
    heights = sorted(b.h for b in boxes)
    tol = 0.6 * heights[len(heights) // 2]
    rows: list[list[Box]] = []
    centre = -1e9
    for b in sorted(boxes, key=lambda b: b.yc):
        if rows and b.yc - centre <= tol:
            rows[-1].append(b)
            centre = sum(x.yc for x in rows[-1]) / len(rows[-1])
        else:
            rows.append([b])
            centre = b.yc
    return [sorted(r, key=lambda b: b.x0) for r in rows]


def _pieces(box: Box) -> list[Box]:
    """A box holding several numbers (`0 0`: two cells close together) split in proportion to its characters."""
    parts = [p for p in _SPLIT_RE.split(box.text) if p]
    if len(parts) < 2 or not all(is_number(p) for p in parts):
        return [box]
    total = sum(len(p) for p in parts) + len(parts) - 1
    out, at = [], 0
    width = box.x1 - box.x0
    for p in parts:
        x0 = box.x0 + width * at / total
        at += len(p)
        out.append(Box(x0, box.y0, box.x0 + width * at / total, box.y1, p, box.score))
        at += 1
    return out


def _cell_image(gray, x0: float, y0: float, x1: float, y1: float, rule_pad: int):
    a, b = max(0, int(y0)), min(gray.shape[0], int(math.ceil(y1)))
    c, d = max(0, int(x0) + rule_pad), min(gray.shape[1], int(math.ceil(x1)) - rule_pad)
    if b <= a or d <= c:
        return None
    return gray[a:b, c:d]


def _without_specks(crop, ink, on_line: bool = False):
    """The crop with specks whitened (what a lifted seal leaves around a digit): blobs of a few pixels, and small
    blobs (under a quarter of the largest one's area) above or below the line of the large ones. A decimal point
    or a comma stays: it sits on the line (`on_line`: small blobs on the line go too). Cut to its ink with the specks, a lone 0 under a seal read as nothing."""
    import cv2
    import numpy as np

    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 2:
        return crop
    stats = stats[1:]
    areas = stats[:, cv2.CC_STAT_AREA]
    large = areas >= 0.25 * areas.max()
    top = stats[large, cv2.CC_STAT_TOP].min()
    bottom = (stats[large, cv2.CC_STAT_TOP] + stats[large, cv2.CC_STAT_HEIGHT]).max()
    off_line = (stats[:, cv2.CC_STAT_TOP] >= bottom) | (stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] <= top)
    specks = np.flatnonzero((areas < 6) | (~large & (off_line | on_line))) + 1
    if not len(specks):
        return crop
    out = crop.copy()
    out[np.isin(labels, specks)] = 255
    return out


def reread(gray, bbox: tuple[float, float, float, float], rule_pad: int = 4) -> tuple[list[str], bool]:
    """One cell read again alone: the crop without its specks, cut to its ink, padded, scaled up 2x, as is and
    binarised (Otsu); the engine's recognition only. When that reads no number, the crop again with every small
    blob whitened (a seal's remnant beside a 0, on its line). Returns (the distinct number readings, best first;
    whether the cell holds ink)."""
    import numpy as np

    crop = _cell_image(gray, *bbox, rule_pad)
    if crop is None:
        return [], False
    ink = _ink(crop) if crop.min() < 160 else np.zeros_like(crop)
    if np.count_nonzero(ink) < 6:  # fewer dark pixels than a printed dot: a blank cell
        return [], False
    readings = _recognise(_without_specks(crop, ink))
    if not readings:
        readings = _recognise(_without_specks(crop, ink, on_line=True))
    readings.sort(reverse=True)
    out: list[str] = []
    for _, t in readings:
        if t not in out:
            out.append(t)
    return out, True


def _recognise(crop) -> list[tuple[float, str]]:
    """(score, number) read from a cell's crop: cut to its ink, padded, scaled up 2x, as is and binarised."""
    import cv2
    import numpy as np

    ys, xs = np.nonzero(_ink(crop) if crop.min() < 160 else np.zeros_like(crop))
    if len(ys) < 6:
        return []
    crop = crop[max(0, ys.min() - 2):ys.max() + 3, max(0, xs.min() - 2):xs.max() + 3]
    pad = max(8, crop.shape[0] // 2)
    crop = cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    big = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    _, binar = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    readings: list[tuple[float, str]] = []
    eng = engine()
    for variant in (big, binar):
        res, _ = eng(cv2.cvtColor(variant, cv2.COLOR_GRAY2BGR), use_det=False, use_cls=False, use_rec=True)
        for item in res or []:
            text, score = str(item[0]).strip().replace(" ", ""), float(item[1])
            text = _DIGIT_LOOKALIKES.get(text, text)
            if is_number(text):
                readings.append((score, text))
    return readings


# What the recogniser returns for a lone digit seen alone (no context): letters that are digits in a number cell.
_DIGIT_LOOKALIKES = {"O": "0", "o": "0", "D": "0", "l": "1", "I": "1", "|": "1", "i": "1", "S": "5", "B": "8", "Z": "2"}


_FOLIO_RE = re.compile(r"^[-—–_·\s]*(?:第\s*)?\d{1,3}(?:\s*页)?[-—–_·\s]*$")


def _is_folio(row: list[Box], height: int) -> bool:
    text = " ".join(b.text for b in row)
    y = sum(b.yc for b in row) / len(row)
    return bool(_FOLIO_RE.match(text)) and (y > 0.9 * height or y < 0.07 * height)


def _reading_order(boxes: list[Box]) -> list[Box]:
    """Boxes of one cell in reading order: lines by their own centres, each left to right."""
    return [b for line in _rows(boxes) for b in line]


def _lookalike(box: Box) -> Box:
    """A short box of digits and their look-alikes (`Z` for a 2): a number read with no confidence (read again)."""
    if len(box.text) <= 3 and not is_number(box.text):
        text = "".join(_DIGIT_LOOKALIKES.get(ch, ch) for ch in box.text)
        if is_number(text):
            return Box(box.x0, box.y0, box.x1, box.y1, text, box.score, recheck=True)
    return box


def without_colour(img):
    """The page with coloured marks lifted out, read in the channel where they vanish. A seal's ink multiplies
    what it is stamped over: in its lightest channel (red, for a red seal) it only darkens the paper a little (to
    `level`), and how much of a pixel is ink shows in its colourfulness. So each pixel is its brightest channel
    divided by the ink's share of that darkening: the seal (and its anti-aliased edge) goes white, black print
    stays as printed, under the seal too; light pixels with some ink in them are the seal's own (JPEG-smeared)
    edge, and go white. Setting coloured pixels to white instead erased the grey edges of the
    digits and the rules under a seal (dark grey under red ink is coloured too): a vertical rule broke and two rows
    of table 3 lost cells (huaian, seal variant: 176 of 190 values)."""
    import cv2
    import numpy as np

    if img.ndim != 3:
        return img
    top = img.max(axis=2).astype(np.float32)
    chroma = (top - img.min(axis=2)) / np.maximum(top, 1.0)
    ink = (chroma > 0.5) & (top > 100)  # clearly coloured, and not over black print
    if ink.sum() < 50:
        return img
    level = float(np.percentile(top[ink], 75)) / 255.0  # the ink in its lightest channel (1: no darkening)
    share = np.clip(chroma / float(np.median(chroma[ink])), 0.0, 1.0)  # how much of the pixel is ink
    share[chroma < 0.08] = 0.0  # grey (JPEG's colour noise): untouched
    out = np.minimum(top / (1.0 - share * (1.0 - level)), 255.0)
    out[(share > 0.15) & (out > 190)] = 255  # the ink's own edge, its colour smeared by JPEG: paper, not print
    out = out.astype(np.uint8)
    return cv2.merge([out, out, out])


def read_page(img, page_no: int, timing: Timing) -> tuple[list[OcrLine], list[float], bytes]:
    """One page: OCR, deskew, lines by baseline, ruled value cells from the vertical rules."""
    import time

    import cv2

    img = without_colour(img)
    t = time.perf_counter()
    result, _ = engine()(img)
    timing.engine += time.perf_counter() - t
    raw = _boxes(result)
    angle = skew_degrees(raw)
    img, boxes = _deskew(img, raw, angle)
    boxes = [_lookalike(p) for b in boxes if b.text for p in _pieces(b)]
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    heights = sorted(b.h for b in boxes) or [20.0]
    mask, horizontal = rule_masks(gray, max(15, int(1.5 * heights[len(heights) // 2])))
    # cells are read again from the page with its rules erased: a rule's remnant in a crop reads as a 1
    clean = gray.copy()
    clean[cv2.dilate(mask | horizontal, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))) > 0] = 255
    lines: list[OcrLine] = []
    scores: list[float] = []
    rows = []
    for row in _rows(boxes):
        numbers = [b for b in row if is_number(b.text)]
        texts = [b for b in row if not is_number(b.text)]
        y0, y1 = min(b.y0 for b in row), max(b.y1 for b in row)
        rules = _rules_across(mask, y0, y1) if numbers else []
        cells = list(zip(rules, rules[1:], strict=False))
        last_text = max((i for i, (a, b) in enumerate(cells) for tb in texts if a <= tb.xc < b), default=-1)
        rows.append((row, numbers, texts, y0, y1, rules, cells, last_text))
    tol = max(6.0, 0.004 * gray.shape[1])
    # where a labelled ruled row's values begin (x), by its right border: a row whose label sits on the lines above
    # and below its numbers (a wrapped label) begins its values where its labelled neighbours do
    starts = [(cells[last_text + 1][0], rules, (y0 + y1) / 2)
              for _, _, _, y0, y1, rules, cells, last_text in rows if 0 <= last_text < len(cells) - 1]

    def same_table(mine: list[float], theirs: list[float], x: float) -> bool:
        """The same ruled table: every rule of mine left of x is one of theirs (a merged label cell drops some),
        and the value columns' rules are the same."""
        def near(a: float, bs: list[float]) -> bool:
            return any(abs(a - b) <= tol for b in bs)
        right_mine = [r for r in mine if r >= x - tol]
        right_theirs = [r for r in theirs if r >= x - tol]
        return (all(near(r, theirs) for r in mine if r < x - tol) and len(right_mine) == len(right_theirs)
                and all(near(r, right_theirs) for r in right_mine))

    plan: list[tuple[str, list[tuple[float, float]]]] = []  # per row: folio / plain / values, and its value cells
    for row, numbers, _, _, _, rules, cells, last_text in rows:
        if len(rules) < 2:
            plan.append(("folio" if _is_folio(row, gray.shape[0]) else "plain", []))
            continue
        # value cells: right of the last cell holding label text, up to the right border
        value_cells = cells[last_text + 1:]
        # where the rows of the same table begin their values, most of them: a mark in a value cell (a seal's ring
        # read as `C`) does not move this row's values, nor does a label on the lines above and below them
        near = [x for x, theirs, _ in starts if same_table(rules, theirs, x)]
        if near:
            x = max(near, key=lambda v: (sum(abs(v - w) <= tol for w in near), -v))
            value_cells = [c for c in cells if c[0] >= x - tol]
        if not any(a <= nb.xc < b for a, b in value_cells for nb in numbers):
            plan.append(("plain", []))
            continue
        plan.append(("values", value_cells))
    # a value row's label is the whole of its label cell (between the horizontal rules above and below it), so a
    # label wrapped over lines stays whole when a merged group cell beside it (三、本年度办理结果, a character or two a
    # line) has text on the same lines
    labels: dict[int, list[Box]] = {}
    taken: set[int] = set()
    all_texts = [b for r in rows for b in r[2]]
    for k, ((_, _, _, y0, y1, _, cells, _), (kind, value_cells)) in enumerate(zip(rows, plan, strict=True)):
        if kind != "values":
            continue
        first = next((i for i, c in enumerate(cells) if c == value_cells[0]), 0)
        if first == 0:
            continue
        la, lb = cells[first - 1]
        ys = _rules_along(horizontal, la + tol, lb - tol)
        yc = (y0 + y1) / 2
        top = max((y for y in ys if y < yc - 2), default=None)
        bottom = min((y for y in ys if y > yc + 2), default=None)
        if top is None or bottom is None:
            continue
        inside = [b for b in all_texts if la <= b.xc < lb and top < b.yc < bottom and id(b) not in taken]
        taken.update(id(b) for b in inside)
        labels[k] = _reading_order(inside)
    for k, ((row, numbers, texts, y0, y1, _, _, _), (kind, value_cells)) in enumerate(zip(rows, plan, strict=True)):
        if kind == "folio":
            continue  # a page number (`- 4 -`) at the foot or head of a page: not a value of the row above
        if kind == "plain":  # not a ruled value row: the numbers in reading order, as a PDF's text layer gives them
            scores += [b.score for b in numbers]
            kept = [b for b in row if id(b) not in taken]
            if kept:
                lines.append(OcrLine(" ".join(b.text for b in kept)))
            continue
        # a number read in a label cell (a wrapped label's closing quote read as 79) is not one of the row's values
        head = " ".join(b.text for b in [*(b for b in texts if id(b) not in taken), *labels.get(k, [])])
        out: list[OcrCell] = []
        for a, b in value_cells:
            inside = [nb for nb in numbers if a <= nb.xc < b]
            bbox = (a, y0 - 4, b, y1 + 4)
            ibox = tuple(int(v) for v in bbox)
            if len(inside) == 1 and inside[0].score >= RECHECK_SCORE and not inside[0].recheck:
                nb = inside[0]
                out.append(OcrCell(nb.text, nb.score, page_no, ibox))  # type: ignore[arg-type]
                scores.append(nb.score)
                continue
            t = time.perf_counter()
            again, has_ink = reread(clean, bbox)
            timing.engine += time.perf_counter() - t
            if len(inside) == 1:
                nb = inside[0]
                out.append(OcrCell(nb.text, nb.score, page_no, ibox,  # type: ignore[arg-type]
                                   tuple(x for x in again if x != nb.text)))
                scores.append(nb.score)
            elif len(inside) > 1:  # two readings in one cell: a number cut in two, or noise; undecided
                joined = "".join(nb.text for nb in sorted(inside, key=lambda n: n.x0))
                out.append(OcrCell("?", 0.0, page_no, ibox, tuple(dict.fromkeys([joined, *again]))))  # type: ignore[arg-type]
            elif not has_ink:
                out.append(OcrCell("", 1.0, page_no, ibox, (), missing=True))  # type: ignore[arg-type]
            elif again:
                out.append(OcrCell(again[0], 0.0, page_no, ibox, tuple(again[1:]), missing=True))  # type: ignore[arg-type]
            else:
                out.append(OcrCell("?", 0.0, page_no, ibox, (), missing=True))  # type: ignore[arg-type]
        tokens = [c.text if c.text else "-" for c in out]  # a blank cell: null, never 0
        lines.append(OcrLine(" ".join([head, *tokens]).strip(), out))
    return lines, scores, cv2.imencode(".png", clean)[1].tobytes()


def read_pdf(data: bytes, dpi: int = DPI) -> OcrDocument:
    """An image-only PDF read page by page (its first MAX_PAGES pages, rasterised as they are read)."""
    doc = read_images(rasterise(data, dpi, MAX_PAGES))
    doc.pages_total = page_count(data)
    return doc


def read_images(images, timing: Timing | None = None) -> OcrDocument:
    """Page images (BGR arrays) read as one document: a Word document's picture of a table, a test's pages."""
    import time

    timing = timing or Timing()
    start = time.perf_counter()
    lines: list[OcrLine] = []
    scores: list[float] = []
    pngs: list[bytes] = []
    for i, img in enumerate(images):
        page_lines, page_scores, png = read_page(img, i, timing)
        lines += page_lines
        scores += page_scores
        pngs.append(png)
        timing.pages += 1
    timing.total = time.perf_counter() - start
    return OcrDocument(lines, timing.pages, min(scores) if scores else None, timing, pngs)
