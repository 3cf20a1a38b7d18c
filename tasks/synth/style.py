"""How one rendered report looks: every random choice about its text (full-width punctuation and digits, thousands
separators, units, header words broken over lines), drawn once per report in a fixed order (`_Style`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

# --------------------------------------------------------------------------------------------------------------
# Character tables.
# --------------------------------------------------------------------------------------------------------------


def _fw_punct(text: str) -> str:
    """ASCII punctuation as full-width (PDFs, most HTML): chained replace beats str.translate on CJK text."""
    return text.replace("(", "（").replace(")", "）").replace(",", "，").replace(":", "：").replace(";", "；")


_FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")

# --------------------------------------------------------------------------------------------------------------
# Per-report style: every random choice about how the text looks, drawn once in a fixed order.
# --------------------------------------------------------------------------------------------------------------

class _Style:
    __slots__ = ("rng", "noise", "fw_punct", "fw_digit_rate", "thousands", "plus_sign", "money_unit", "brk",
                 "own_pad_line", "version", "spam", "six_sep", "nbsp_pad", "variants")

    def __init__(self, rng: random.Random, layout: str, version: str, noise: bool, spam: str | None,
                 variants: frozenset[str] = frozenset()) -> None:
        self.rng = rng
        self.variants = variants
        self.noise = noise
        self.version = version
        self.spam = spam
        r = rng.random
        if layout == "pdf_text":
            self.fw_punct = r() < 0.9
        elif layout == "html":
            self.fw_punct = r() < 0.6
        else:
            self.fw_punct = r() < 0.15
        self.fw_digit_rate = (0.15 if r() < 0.12 else 0.0) if noise else 0.0
        self.thousands = noise and r() < 0.15
        self.plus_sign = noise and r() < 0.3
        self.money_unit = noise and r() < 0.6
        self.brk = " " if r() < 0.7 else ""  # how a header word broken over lines comes out in pipe text (商业 企业)
        self.own_pad_line = r() < 0.3  # cell_per_line: colspan padding on its own line (seed 001)
        self.six_sep = "、" if layout == "pdf_text" else "."  # huaian PDF: 1、申请人无正当理由…
        self.nbsp_pad = noise and r() < 0.15  # &nbsp; left in value cells by an HTML-to-text conversion

    def p(self, text: str) -> str:
        return _fw_punct(text) if self.fw_punct else text

    def num(self, v: Any, unit: str = "") -> str:
        if v is None:
            return ""
        if type(v) is int:
            s = f"{v:,}" if self.thousands and (v >= 1000 or v <= -1000) else str(v)
        elif isinstance(v, float) and not v.is_integer():
            s = (f"{v:,.4f}" if self.thousands else f"{v:.4f}").rstrip("0").rstrip(".")
        else:
            iv = int(v)
            s = f"{iv:,}" if self.thousands and abs(iv) >= 1000 else str(iv)
        if self.fw_digit_rate and self.rng.random() < self.fw_digit_rate:
            s = s.translate(_FW_DIGITS)
        return s + unit

    def nums(self, values: Sequence[Any]) -> list[str]:
        if not (self.thousands or self.fw_digit_rate):
            return ["" if v is None else str(v) if type(v) is int else self.num(v) for v in values]
        out = []
        rate = self.fw_digit_rate
        rnd = self.rng.random
        big = self.thousands
        for v in values:
            if type(v) is not int:
                out.append(self.num(v))
                continue
            s = f"{v:,}" if big and (v >= 1000 or v <= -1000) else str(v)
            out.append(s.translate(_FW_DIGITS) if rate and rnd() < rate else s)
        return out


def _break_word(rng: random.Random, text: str) -> str:
    """A header word split over two lines at a random point ('\n' marks the break)."""
    if len(text) < 3 or rng.random() < 0.35:
        return text
    cut = len(text) // 2 if rng.random() < 0.7 else rng.randint(1, len(text) - 1)
    return text[:cut] + "\n" + text[cut:]


def _header_words(rng: random.Random, words: Sequence[str]) -> list[str]:
    """Header words of one table, broken the way that table's cells were sized: not at all, evenly, or ragged."""
    mode = rng.random()
    if mode < 0.3:
        return list(words)
    if mode < 0.75:  # 商业/企业, 结果/维持 (seed 004)
        return [w if len(w) < 3 else w[:len(w) // 2] + "\n" + w[len(w) // 2:] for w in words]
    return [_break_word(rng, w) for w in words]  # 科研机/构, 其 他 结/果 (huaian PDF)


