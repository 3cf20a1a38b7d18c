"""A report's text made ready for reading: normalisation (full-width forms, box drawing, page markers), the sections
二, 三, 四 cut at their headings (variants and typos as data) or at anchors inside the tables, and the tables' layout."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

from schemas import form

# Page markers that PDF extractors leave inside tables (huaian_2024_pdftext: `- 4 -`).
PAGE_MARKER_RE = re.compile(r"(?m)^[ \t]*(?:[-—–][ \t]*\d{1,3}[ \t]*[-—–]|第[ \t]*\d{1,3}[ \t]*页(?:[ \t]*[,/][ \t]*共[ \t]*\d{1,3}[ \t]*页)?)[ \t]*$\n?")

# Section headings, with the variants seen in the wild (spec: `三、依申请公开政府信息情况`, `四、行政复议、行政诉讼和举报投诉情况`,
# typos such as `行政法复议`, a trailing `。`). Searched in order, each after the previous one.
SECTION_2_RE = re.compile(r"二\s*[、.,]\s*(?:行政机关)?主动公开")
SECTION_3_RE = re.compile(r"三\s*[、.,]\s*(?:收到和处理|依申请|行政机关收到|[^\n|]{0,16}?申请)")
SECTION_4_RE = re.compile(r"四\s*[、.,]\s*[^\n|]{0,24}?(?:复\s*议|诉\s*讼)")
SECTION_5_RE = re.compile(r"五\s*[、.,]\s*[^\n|]{0,24}?(?:问题|改进|不足)")
SECTION_6_RE = re.compile(r"六\s*[、.,]\s*[^\n|]{0,16}?(?:其他|报告)")
# Anchors inside the tables, for reports whose headings were lost.
TABLE_2_ANCHOR_RE = re.compile(r"第\s*二\s*十\s*条\s*第?\s*\(\s*[一五六八九]\s*\)\s*项|本年制发件数|本年新制作数量")
TABLE_3_ANCHOR_RE = re.compile(r"本列数据的勾稽关系|申请人情况|本年新收政府信息公开申请")
TABLE_4_ANCHOR_RE = re.compile(r"行政复议[^\n]{0,40}?行政诉讼|结\s*果\s*维\s*持")
CARRIED_FORWARD_RE = re.compile(form.APPLICATION_ROWS_2021[-1].pattern)

# Flattened text: a row label glued to its numbers.
FLATTENED_RE = re.compile(r"(?:规章|规范性文件|申请数量|予以公开|国家秘密|结果维持|总计)[+\-]?\d")

# Full-width forms (digits, letters, punctuation), ideographic and no-break spaces: what NFKC changes in reports.
_FULLWIDTH_SRC = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000", "\u00a0", "\u2002", "\u2003", "\u200b", "\u200c", "\u200d",
                                                          "\ufeff", "\r\n", "\r", "\u2028"]
_FULLWIDTH_DST = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" ", " ", " ", " ", "", "", "", "", "\n", "\n", "\n"]


def _box_drawing() -> dict[str, str]:
    """Box-drawing characters (U+2500–U+257F: tables drawn in text, `│ 规章 │ 0 │`) as the ASCII grid they stand for:
    vertical lines `|`, horizontal lines `-`, corners and junctions `+`. (A lone `─` in a cell is then a dash.)"""
    out = {}
    for code in range(0x2500, 0x2580):
        name = unicodedata.name(chr(code), "")
        if not name.startswith("BOX DRAWINGS"):
            continue
        words = set(name.split())
        if "VERTICAL" in words and not words & {"AND", "HORIZONTAL", "LEFT", "RIGHT"}:
            out[chr(code)] = "|"
        elif "HORIZONTAL" in words and not words & {"AND", "VERTICAL", "UP", "DOWN"}:
            out[chr(code)] = "-"
        else:
            out[chr(code)] = "+"
    return out


_BOX = _box_drawing()
_FULLWIDTH_SRC += list(_BOX)
_FULLWIDTH_DST += list(_BOX.values())


def normalise_batch(texts: list[str]) -> list[str]:
    """Vectorised normalisation of a whole batch (Polars, Aho-Corasick): the full-width block and spaces, page markers."""
    import polars as pl

    s = pl.Series("text", texts, dtype=pl.String).str.replace_many(_FULLWIDTH_SRC, _FULLWIDTH_DST)
    s = s.str.replace_all(PAGE_MARKER_RE.pattern, "")
    return s.to_list()


def normalise(text: str) -> str:
    """One document through the same normalisation as a batch (so a file parses the same alone or in a batch)."""
    return normalise_batch([text])[0]


def find_sections(text: str) -> dict[str, tuple[int, int] | None]:
    """Spans of the table-bearing sections 二, 三, 四 (start of heading, start of the next)."""
    def first(rx: re.Pattern[str], start: int) -> int | None:
        m = rx.search(text, start)
        return m.start() if m else None

    s2 = first(SECTION_2_RE, 0)
    if s2 is None:
        s2 = first(TABLE_2_ANCHOR_RE, 0)
    s3 = first(SECTION_3_RE, s2 or 0)
    if s3 is None:
        s3 = first(TABLE_3_ANCHOR_RE, s2 or 0)
    after3 = s3 if s3 is not None else (s2 or 0)
    cf = CARRIED_FORWARD_RE.search(text, after3)
    s4 = first(SECTION_4_RE, cf.end() if cf else after3)
    if s4 is None:
        s4 = first(TABLE_4_ANCHOR_RE, cf.end() if cf else after3)
    if s4 is None and s3 is not None:
        # table 4 printed before table 3: its heading between 二 and 三
        s4 = first(SECTION_4_RE, s2 or 0)
        if s4 is not None and s4 > s3:
            s4 = None
    after4 = max(b for b in (s4, s3, s2, 0) if b is not None)
    s5 = first(SECTION_5_RE, after4 + 2)
    if s5 is None:
        s5 = first(SECTION_6_RE, after4 + 2)
    end = len(text)
    bounds = [b for b in (s2, s3, s4, s5) if b is not None]

    def span(start: int | None) -> tuple[int, int] | None:
        if start is None:
            return None
        later = [b for b in bounds if b > start]
        return (start, min(later) if later else end)

    return {"active_disclosure": span(s2), "applications": span(s3), "review_litigation": span(s4)}


_MULTI_PIPE_NUMBER_LINE_RE = re.compile(r"(?m)^(?=(?:[^\n|]*\|){3})[^\n]*?\|[^\S\n]*\d")
# A PDF text row: a label, then three or more numbers on its line, as printed: 1,000 (thousands separators), +3 / -3
# (table 2's change column), 12.5 — a row of such numbers read as plain digits only was missed, and a report whose
# rows mostly carry them came out whitespace_cell_per_line.
_NUMERIC_ROW_RE = re.compile(r"(?m)[\u4e00-\u9fff)）”][^\S\n]+(?:[+\-]?\d[\d,，]*(?:\.\d+)?[^\S\n]+){2,}[+\-]?\d[\d,，]*(?:\.\d+)?[^\S\n]*$")


def detect_layout(text: str, tables_text: str, is_html: bool) -> str:
    if is_html:
        return "html"
    if FLATTENED_RE.search(tables_text):
        return "flattened"
    # (str methods over the lines are cheaper than a multi-line regex scan of CJK text; counts stop at 6)
    lines = [ln for ln in tables_text.split("\n") if not ln.isspace() and ln]
    if not lines:
        return "unknown"
    piped = sum(1 for ln in lines if "|" in ln)
    if piped > len(lines) * 0.5:
        return "pipe" if at_least(_MULTI_PIPE_NUMBER_LINE_RE.finditer(tables_text), 6) else "cell_per_line"
    if at_least(_NUMERIC_ROW_RE.finditer(tables_text), 6):
        return "pdf_text"
    return "whitespace_cell_per_line"


def at_least(matches: Iterator[Any], n: int) -> bool:
    """Whether an iterator of matches yields n of them (stops at the n-th: no need to find them all)."""
    return sum(1 for _ in itertools.islice(matches, n)) >= n
