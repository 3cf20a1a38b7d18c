"""Scanned reports drawn from a record: the printed form (title, prose, ruled tables with the form's merged cells, a
CJK font) rasterised as a scanner leaves it — at 150 or 200 dpi, turned by a degree and a half, JPEG noise, a red
seal stamped over part of table 3 — and written as an image-only PDF. For the generated corpus's scans
(`attachments.scan_attachment`) and the OCR tests (tests/scans.py); synthetic data, never imported by the parse path.

The drawing uses the renderer's own blocks and table grids (`narrative.py`, `grids.py`: the same cells and spans its
HTML tables have), so a scan holds exactly the values of its record. Everything is drawn from seeds and the PDF
carries no date, so the same seed gives the same bytes.

Measured here (CPU time, `attachments.scan_attachment` on 12 random records, 2 loaded cores): 3–4 pages a report;
150 dpi ~0.2 s, 200 dpi ~0.25 s, skewed ~0.75–0.9 s (the rotation), JPEG noise ~0.6–0.8 s; ~0.5 s on average;
~190–360 KB a page (the pages are JPEG inside the PDF), so the per-file budget's 300 KB a page estimate fits.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # Debian's fonts-wqy-microhei (`make fonts`)

A4 = (8.27, 11.69)  # inches
MARGIN = 0.9  # inches
TEXT_PT = 14
TITLE_PT = 20
TABLE_PT = 11
# Column widths (share of the text width) per table: the printed form's proportions.
_WIDTHS = {
    "t2": (0.34, 0.22, 0.22, 0.22),
    "t3": (0.07, 0.11, 0.26) + (0.08,) * 7,
    "t4": (1 / 15,) * 15,
}


@dataclass(frozen=True)
class Variant:
    name: str
    dpi: int = 200
    skew: float = 0.0  # degrees, counter-clockwise
    jpeg: int | None = None  # JPEG quality, with grain, when set
    seal: bool = False  # a red seal over part of table 3

    def __str__(self) -> str:
        return self.name


VARIANTS = (
    Variant("200dpi"),
    Variant("150dpi", dpi=150),
    Variant("skew+1.5", skew=1.5),
    Variant("skew-1.5", skew=-1.5),
    Variant("jpeg-noise", jpeg=30),
    Variant("seal", seal=True),
)


# --------------------------------------------------------------------------------------------------------------
# Drawing a record as the printed form


@lru_cache(maxsize=32)
def _font(px: int):
    """The CJK font at `px` pixels (loaded once per size and process: opening the 5 MB collection is ~10 ms)."""
    import os

    from PIL import ImageFont

    if not os.path.exists(FONT):
        raise FileNotFoundError(f"{FONT}: the CJK font scans are drawn with is not installed; `make fonts` installs it "
                                "(Debian's fonts-wqy-microhei), or generate with --text-only")
    return ImageFont.truetype(FONT, px)


def _wrap(text: str, font, width: float) -> list[str]:
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            if line and font.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


class _Pages:
    def __init__(self, dpi: int) -> None:
        from PIL import Image

        self.dpi = dpi
        self.size = (int(A4[0] * dpi), int(A4[1] * dpi))
        self.margin = int(MARGIN * dpi)
        self.width = self.size[0] - 2 * self.margin
        self.bottom = self.size[1] - self.margin
        self.pages: list[Any] = []
        self._image = Image
        self.t3_area: tuple[int, int, int, int, int] | None = None  # page, x0, y0, x1, y1 of table 3's values
        self.new_page()

    def px(self, pt: float) -> int:
        return int(round(pt * self.dpi / 72))

    def new_page(self) -> None:
        from PIL import ImageDraw

        self.pages.append(self._image.new("RGB", self.size, "white"))
        self.draw = ImageDraw.Draw(self.pages[-1])
        self.y = self.margin

    def room(self, h: int) -> None:
        if self.y + h > self.bottom:
            self.new_page()

    def text_block(self, text: str, pt: float, *, centre: bool = False, indent: bool = False, right: bool = False) -> None:
        font = _font(self.px(pt))
        lh = int(self.px(pt) * 1.7)
        first = (2 * self.px(pt)) if indent else 0
        lines = _wrap(text, font, self.width - first)
        for k, line in enumerate(lines):
            self.room(lh)
            w = font.getlength(line)
            x = self.margin + (first if k == 0 else 0)
            if centre:
                x = self.margin + (self.width - w) / 2
            elif right:
                x = self.margin + self.width - w
            self.draw.text((x, self.y), line, fill="black", font=font)
            self.y += lh
        self.y += lh // 4

    def table(self, grid, key: str) -> None:
        """A ruled table: the grid's cells with their row and column spans; rows that do not fit go on to the next
        page (a merged cell is cut there and drawn on both)."""
        from PIL import ImageDraw

        font = _font(self.px(TABLE_PT))
        lh = int(self.px(TABLE_PT) * 1.35)
        pad = self.px(4)
        xs = [self.margin]
        for w in _WIDTHS[key]:
            xs.append(xs[-1] + w * self.width)
        xs[-1] = self.margin + self.width
        occupied: dict[tuple[int, int], bool] = {}
        placed: list[tuple[int, int, int, int, str, bool]] = []  # row, col, rowspan, colspan, text, value
        for r, (texts, spans, fixed, _head) in enumerate(grid):
            c = 0
            for j, (text, (rs, cs)) in enumerate(zip(texts, spans, strict=True)):
                while occupied.get((r, c)):
                    c += 1
                for dr in range(rs):
                    for dc in range(cs):
                        occupied[(r + dr, c + dc)] = True
                placed.append((r, c, rs, cs, text or "", j >= fixed))
                c += cs
        heights = [lh + 2 * pad] * len(grid)
        for r, c, rs, cs, text, _ in placed:
            if rs == 1:
                n = len(_wrap(text, font, xs[c + cs] - xs[c] - 2 * pad))
                heights[r] = max(heights[r], n * lh + 2 * pad)
        tops: list[tuple[int, int]] = []  # (page index, y) of each row
        for h in heights:
            self.room(h)
            tops.append((len(self.pages) - 1, self.y))
            self.y += h
        self.y += lh
        value_boxes: list[tuple[int, int, int, int, int]] = []
        for r, c, rs, cs, text, is_value in placed:
            segments: dict[int, list[int]] = {}
            for rr in range(r, r + rs):
                page, y = tops[rr]
                seg = segments.setdefault(page, [y, y])
                seg[1] = y + heights[rr]
            x0, x1 = xs[c], xs[c + cs]
            for n, (page, (y0, y1)) in enumerate(sorted(segments.items())):
                draw = ImageDraw.Draw(self.pages[page])
                draw.rectangle((int(x0), int(y0), int(x1), int(y1)), outline="black", width=max(1, self.px(0.8)))
                if n == 0 and text:
                    lines = _wrap(text, font, x1 - x0 - 2 * pad)
                    ty = (y0 + y1) / 2 - len(lines) * lh / 2
                    for line in lines:
                        w = font.getlength(line)
                        tx = x0 + (x1 - x0 - w) / 2 if is_value or len(lines) == 1 else x0 + pad
                        draw.text((tx, ty), line, fill="black", font=font)
                        ty += lh
                if is_value and key == "t3":
                    value_boxes.append((page, int(x0), int(y0), int(x1), int(y1)))
        if key == "t3" and value_boxes:
            page = value_boxes[len(value_boxes) // 2][0]
            on = [b for b in value_boxes if b[0] == page]
            self.t3_area = (page, min(b[1] for b in on), min(b[2] for b in on), max(b[3] for b in on),
                            max(b[4] for b in on))


def draw_record(record: dict[str, Any], dpi: int, *, seed: int = 7):
    """The record as printed pages (PIL images) and where table 3's values lie (page, x0, y0, x1, y1)."""
    from tasks.synth import grids, layouts, narrative, style

    rec = dict(record)
    rng = random.Random(seed)
    st = style._Style(rng, "html", rec["format_version"], False, None)
    blocks = narrative._blocks(rec, st, "html")
    tables = grids._tables(rec, st)
    pages = _Pages(dpi)
    for kind, data in blocks:
        if kind == "title":
            pages.text_block(data[0] + data[1], TITLE_PT, centre=True)
        elif kind == "meta":
            idx, organ, date = data
            parts = [f"索引号:{idx}" if idx else "", f"发布机构:{organ}" if organ else "", f"成文日期:{date}" if date else ""]
            pages.text_block("  ".join(p for p in parts if p), TEXT_PT - 3)
        elif kind == "source":
            pages.text_block(layouts._source_line(data, st), TEXT_PT - 3, centre=True)
        elif kind == "para":
            pages.text_block(data, TEXT_PT, indent=True)
        elif kind == "heading":
            pages.text_block(data, TEXT_PT)
        elif kind == "table":
            pages.table(tables[data], data)
        elif kind == "sign":
            for x in data:
                pages.text_block(x, TEXT_PT, right=True)
    return pages.pages, pages.t3_area


# --------------------------------------------------------------------------------------------------------------
# What a scanner does to a page


def _seal(img, area, dpi: int):
    """A red seal (ring, star, arc of text) multiplied over the middle of table 3's values."""
    from PIL import Image, ImageChops, ImageDraw

    _, x0, y0, x1, y1 = area
    r = int(0.75 * dpi)
    cx, cy = int(x0 + 0.55 * (x1 - x0)), int(y0 + 0.5 * (y1 - y0))
    layer = Image.new("RGB", img.size, "white")
    d = ImageDraw.Draw(layer)
    red = (225, 40, 40)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=max(3, dpi // 40))
    star = [(cx + 0.3 * r * math.cos(math.pi / 2 + k * 4 * math.pi / 5), cy - 0.3 * r * math.sin(math.pi / 2 + k * 4 * math.pi / 5))
            for k in range(5)]
    d.polygon(star, fill=red)
    font = _font(int(0.16 * dpi))
    text = "政府信息公开专用章"
    for k, ch in enumerate(text):
        a = math.radians(200 - k * 140 / (len(text) - 1))
        d.text((cx + 0.72 * r * math.cos(a) - 0.08 * dpi, cy - 0.72 * r * math.sin(a) - 0.08 * dpi), ch, fill=red, font=font)
    return ImageChops.multiply(img, layer)


def scan(pages, variant: Variant, t3_area=None, *, seed: int = 3):
    """Page images as a scanner leaves them (RGB PIL images)."""
    from PIL import Image

    out = []
    rng = random.Random(seed)
    for i, img in enumerate(pages):
        img = img.convert("RGB")
        if variant.seal and t3_area is not None and t3_area[0] == i:
            img = _seal(img, t3_area, variant.dpi)
        if variant.skew:
            img = img.rotate(variant.skew, resample=Image.BICUBIC, expand=False, fillcolor="white")
        if variant.jpeg:
            import numpy as np

            a = np.asarray(img).astype(np.int16)
            noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 12, a.shape[:2])[:, :, None]
            img = Image.fromarray(np.clip(a + noise, 0, 255).astype(np.uint8))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=variant.jpeg)
            img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        out.append(img)
    return out


def to_pdf(pages, dpi: int) -> bytes:
    """Page images as an image-only PDF (no text layer), as scanners write them; no title or dates in its info
    (Pillow writes the time of writing unless told not to), so the same pages give the same bytes."""
    buf = io.BytesIO()
    pages[0].save(buf, format="PDF", save_all=True, append_images=pages[1:], resolution=dpi, title=None,
                  creationDate=None, modDate=None, producer="Scanner")
    return buf.getvalue()


def scanned(record: dict[str, Any], variant: Variant, *, seed: int = 7) -> bytes:
    """The record printed, scanned in `variant` and written as an image-only PDF."""
    pages, area = draw_record(record, variant.dpi, seed=seed)
    return to_pdf(scan(pages, variant, area, seed=seed), variant.dpi)


__all__ = ["VARIANTS", "Variant", "draw_record", "scan", "scanned", "to_pdf"]
