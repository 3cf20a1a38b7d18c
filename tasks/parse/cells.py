"""Table regions to cells and rows: the layout-independent core of the parser, and the fused-digit splitter."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import starmap
from operator import attrgetter
from typing import NamedTuple, TypeVar

T = TypeVar("T")
K = TypeVar("K")

# Cells that mean "nothing printed here" (spec: blank, —, /, 无). Seen in the seeds and real reports.
NULL_TOKENS = frozenset({"-", "--", "—", "——", "–", "―", "/", "\\", "无", "空", "/ ", "×", "x"})
# Cells that are not numbers and not a conventional blank: kept null, with a finding.
NON_NUMERIC_TOKENS = frozenset({"若干", "N/A", "n/a", "NA", "不详", "未统计", "待定", "略", "?", "？"})
# Units printed inside cells (2019 procurement amounts `251000元`; `万元` money; counts with 件/个).
UNIT_SUFFIX = r"(?:万元|元|件|个|条|次|项|宗|人次|家)"
# A share (33%) is not a count: read as a non-numeric cell (null, with a finding), never as 33.
PERCENT = r"[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*%"
PERCENT_RE = re.compile(f"^{PERCENT}$")
NUMBER_RE = re.compile(r"^([+\-]?)((?:\d{1,3}(?:,\d{3})+)|\d+)(\.\d+)?\s*" + UNIT_SUFFIX + r"?$")
_WS_SPLIT = re.compile(r"\s+")


@dataclass(slots=True, frozen=True)
class Cell:
    """A table cell as printed. Never changed once made: `classify` hands the same cell out for the same token."""
    kind: str  # "text", "number", "blank" (nothing printed), "null" (a dash or 无), "non_numeric" (若干, N/A)
    text: str
    value: int | float | None = None
    # A blank on a line of several cells none of which is a value (a header row's empty cells, a row of bare
    # pipes): layout padding, dropped first when a row has more cells than the form.
    pad: bool = False

    @property
    def is_value(self) -> bool:
        return self.kind != "text"


def classify(token: str) -> Cell:
    """A token's cell. Kept per process (`_CLASSIFIED`): tokens repeat from report to report (labels, small numbers,
    dashes), and a cell is never changed, so the same token gives the same cell."""
    hit = _CLASSIFIED.get(token)
    if hit is None:
        hit = Cell(*_classified(token))
        if len(_CLASSIFIED) >= _CLASSIFIED_MAX:
            _CLASSIFIED.clear()
        _CLASSIFIED[token] = hit
    return hit


_CLASSIFIED: dict[str, Cell] = {}  # a token as printed → its cell
_CLASSIFIED_MAX = 200_000


def _classified(token: str) -> tuple[str, str, int | float | None]:
    t = token.strip()
    if not t:
        return "blank", "", None
    if t.isascii() and t.isdigit():  # the common case, without the regex
        return "number", t, int(t)
    m = NUMBER_RE.match(t)
    if m:
        sign, digits, frac = m.groups()
        digits = digits.replace(",", "")
        if frac:
            value: int | float = float(f"{sign}{digits}{frac}")
        else:
            value = int(f"{sign}{digits}")
        return "number", t, value
    if t in NULL_TOKENS:
        return "null", t, None
    if t in NON_NUMERIC_TOKENS or PERCENT_RE.match(t):
        return "non_numeric", t, None
    return "text", t, None


_VALUE_KINDS = frozenset({"number", "null", "non_numeric"})
_PADDING = Cell("blank", "", pad=True)


def line_cells(region: str) -> list[Cell]:
    """Cells of a region in pipe, cell-per-line, whitespace-padded or PDF-text layout: each line's `cells_of_line`."""
    cells: list[Cell] = []
    for line in region.split("\n"):
        cells.extend(cells_of_line(line))
    return cells


def cells_of_line(line: str) -> list[Cell]:
    """One line's cells: the one reading of a line both paths use (the batch reader keeps each line's, made lean).
    A line's cells depend on the line alone."""
    if "|" in line:
        pieces = line.split("|")
        if not pieces[-1].strip():
            pieces.pop()  # the pipe that closes a row is not a cell
        row = [classify(p) for p in pieces]
        if len(row) > 1 and not any(c.kind in _VALUE_KINDS for c in row):
            return [_PADDING if c.kind == "blank" else c for c in row]
        return row
    line = line.strip()
    if not line:
        return []  # blank lines separate cells; they are not cells
    cell = classify(line)
    if cell.kind != "text":
        return [cell]
    # PDF text: a row per line, numbers separated by spaces after the label. Peel numbers off the end.
    tokens = _WS_SPLIT.split(line)
    tail: list[Cell] = []
    while len(tokens) > 1:
        c = classify(tokens[-1])
        if c.kind == "text" or c.kind == "blank":
            break
        tail.append(c)
        tokens.pop()
    return [classify(" ".join(tokens)), *reversed(tail)]


_FUSED_TOKEN = re.compile(r"\d[\d.,]*|[^\d]+")


def fused_cells(region: str) -> list[Cell]:
    """Cells of flattened text (every separator lost): text and digit runs alternate.

    A digit run keeps all of a row's cells fused (`7500000`); the item number of the next label sticks to its end
    (`…752.没有现成…`): a run that ends in `N.` or is followed by `、` gives its last digit back to the label.
    """
    out: list[Cell] = []
    tokens = _FUSED_TOKEN.findall(region)
    pending_sign = ""
    for i, tok in enumerate(tokens):
        if tok[0].isdigit():
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            prefix = ""
            if tok.endswith(".") and len(tok) >= 2 and tok[-2].isdigit():
                prefix, tok = tok[-2:], tok[:-2]
            elif nxt.startswith("、") and tok[-1].isdigit():
                prefix, tok = tok[-1], tok[:-1]
            tok = tok.rstrip(".,")
            if tok:
                out.append(Cell("digits", pending_sign + tok))
            pending_sign = ""
            if prefix:
                out.append(Cell("text", prefix))
            continue
        stripped = tok.strip()
        if stripped in ("-", "+") and i + 1 < len(tokens) and i > 0 and tokens[i + 1][0].isdigit():
            pending_sign = "-" if stripped == "-" else ""
            continue
        if stripped and stripped.endswith(("-", "+")) and i + 1 < len(tokens) and tokens[i + 1][0].isdigit() and len(stripped) > 1:
            # a sign glued after text: keep text, sign goes to the number
            pending_sign = "-" if stripped.endswith("-") else ""
            stripped = stripped[:-1]
        if stripped:
            out.append(classify(stripped) if stripped in NULL_TOKENS else Cell("text", stripped))
    # a run of text cells joined is still text; digits cells are resolved by the splitter
    return out


class Run(NamedTuple):
    """Consecutive text cells (joined, white space removed) and the value cells that follow them."""

    text: str
    values: list[Cell]


def to_runs(cells: Sequence[Cell]) -> list[Run]:
    cells = cells if isinstance(cells, list) else list(cells)
    kinds = [c.kind for c in cells]
    texts = ["".join(c.text.split()) if k == "text" else "" for c, k in zip(cells, kinds, strict=True)]
    return list(starmap(Run, label_runs(cells, kinds, texts, "text")))


def label_runs(cells: list[T], kinds: list[K], texts: list[str], text: K) -> list[tuple[str, list[T]]]:
    """Label runs: consecutive text cells joined, and the value cells after them, as (text, values) pairs; the one
    runs step of both paths, given each cell's kind, the kind of a text cell and each text cell's text without white
    space (labels are matched without it: PDF wraps them anywhere). The next text cell is found with list.index: the
    value cells between are taken as one slice."""
    n = len(kinds)
    runs: list[tuple[str, list[T]]] = []
    i = 0
    while True:
        j = i
        while j < n and kinds[j] == text:
            j += 1
        try:
            k = kinds.index(text, j)
        except ValueError:
            k = n
        runs.append(("".join(texts[i:j]), cells[j:k]))
        if k == n:
            return runs
        i = k


def combine(patterns: Sequence[str]) -> re.Pattern[str]:
    """One alternation over all row labels: a single scan of each text run instead of one search per row. Compiled
    once per list of patterns."""
    return _combined(tuple(patterns))


@functools.cache
def _combined(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<r{i}>{p})" for i, p in enumerate(patterns)))


_LABELS_IN: dict[re.Pattern[str], dict[str, tuple[tuple[int, int, int], ...]]] = {}
_LABELS_CACHE_MAX = 100_000


def label_spans(combined: re.Pattern[str], text: str) -> tuple[tuple[int, int, int], ...]:
    """The rows whose labels a table's label text holds, in form order: (row, start, end) of each match. Kept per
    text: a table's labels repeat from report to report."""
    seen = _LABELS_IN.setdefault(combined, {})
    spans = seen.get(text)
    if spans is None:
        found: list[tuple[int, int, int]] = []
        ptr = 0
        for m in combined.finditer(text):
            k = int(m.lastgroup[1:])  # type: ignore[index]
            if k >= ptr:
                found.append((k, m.start(), m.end()))
                ptr = k + 1
        spans = tuple(found)
        if len(seen) >= _LABELS_CACHE_MAX:
            seen.clear()
        seen[text] = spans
    return spans


def match_rows(runs: Iterable[tuple[str, Sequence[T]]], combined: re.Pattern[str], pad: Callable[[T], bool]
               ) -> dict[int, list[T]]:
    """Assign value runs ((text, values) pairs: `Run`s, or the batch reader's tuples) to row labels, in form order;
    returns {row index: value cells}.

    Labels are found in the table's label text as one string (every run's text, values left out), so a label may
    be cut by its own values: a PDF line holds the numbers of a wrapped label beside its first or middle line
    (`1、申请人无正当理由逾期不补 67 3 0 0 1 0 71` / `正、行政机关不再处理…`). Values go to the label whose match they
    stand inside (a table-3 row's match starts at its item number: `form.Row.label_pattern`), else to the last
    label that ended in their own run's text (a group header and its first item: the item). Values after a run
    with no label end are not a row's, nor are blanks that only pad a line (`pad`) inside a label; a label keeps
    the first values it gets. A label found with no values maps to an empty list (a missing row).
    """
    runs = runs if isinstance(runs, list) else list(runs)
    spans = label_spans(combined, "".join([text for text, _ in runs]))
    found: dict[int, list[T]] = {k: [] for k, _, _ in spans}
    j, n, at = 0, len(spans), 0
    for text, values in runs:
        before, at = at, at + len(text)
        while j < n and spans[j][1] < at:
            j += 1
        if not values or not j:
            continue
        k, _, end = spans[j - 1]  # the last label begun before these values
        if end > before and not found[k] and (end <= at or not all(map(pad, values))):
            found[k] = list(values)
    return found


# ---------------------------------------------------------------------------------------------------------------
# Fitting value cells to the number of cells a row must have.

@dataclass(slots=True)
class Fit:
    cells: list[Cell] | None  # exactly n cells, or None when the row cannot be read
    candidates: list[tuple[int, ...]] | None = None  # fused digits: every split that satisfies the rules
    problem: str | None = None  # "incomplete", "extra_cells", "ambiguous", "unsplittable"


def sums_rule(groups: int, addends: int) -> Callable[[tuple[int, ...]], bool]:
    size = addends + 1

    def rule(v: tuple[int, ...]) -> bool:
        return all(sum(v[g * size : g * size + addends]) == v[g * size + addends] for g in range(groups))

    return rule


# A row with more cells than its width keeps the first n (a page number after them, the cells of an unrecognised
# row or two below it) up to this many times its width.
EXTRA_ROWS_KEPT = 3


def fit_cells(values: list[Cell], n: int, sums: tuple[int, int] | None = None) -> Fit:
    """Fit a row's value cells to its n cells; `sums` = (groups, addends) when each group ends in its total."""
    if any(c.kind == "digits" for c in values):
        return _fit_fused(values, n, sums)
    vals = trimmed(values, n, _KIND_OF, _PAD_OF, "blank")
    if len(vals) == n:
        return Fit(vals)
    if n < len(vals) <= EXTRA_ROWS_KEPT * n:
        return _extra_dropped(vals, n, sums)
    # too few; or far too many: the numbers of many rows after one label (a table dumped a column at a time, all
    # labels first) are no row's, not even their first n
    return Fit(None, problem="incomplete")


def trimmed(values: list[T], n: int, kind: Callable[[T], K], pad: Callable[[T], bool], blank: K) -> list[T]:
    """A row's value cells (a new list) cut toward its n cells as far as its layout allows: layout padding dropped
    while n cells stay, then blanks at either end while more than n, then every blank if exactly n cells are left.
    The row reads cleanly where n cells come out. The one fit step of both paths (`kind`, `pad` and `blank` read
    either path's cells)."""
    if len(values) > n:
        kept = [c for c in values if not pad(c)]
        if len(kept) >= n:
            values = kept
    lo, hi = 0, len(values)
    while hi - lo > n and kind(values[hi - 1]) == blank:
        hi -= 1
    while hi - lo > n and kind(values[lo]) == blank:
        lo += 1
    vals = values[lo:hi]
    if len(vals) > n:
        non_blank = [c for c in vals if kind(c) != blank]
        if len(non_blank) == n:
            return non_blank
    return vals


_KIND_OF, _PAD_OF = attrgetter("kind"), attrgetter("pad")


def _extra_dropped(vals: list[Cell], n: int, sums: tuple[int, int] | None) -> Fit:
    """A row one cell too long (a value printed twice on a line of its own): its first n cells, unless they break
    the row's sum rules and dropping another cell keeps them. One such reading is taken; several (a 0 printed
    twice beside a 1: which column holds the 1?) leave the cells they disagree on ambiguous."""
    first = Fit(vals[:n], problem="extra_cells")
    if sums is None or len(vals) != n + 1 or any(c.kind != "number" for c in vals):
        return first
    rule = sums_rule(*sums)
    if rule(tuple(c.value for c in vals[:n])):  # type: ignore[misc]
        return first
    readings = {tuple(c.value for c in vals[:i] + vals[i + 1:]): i for i in range(n)}  # type: ignore[misc]
    fits = [(v, i) for v, i in readings.items() if rule(v)]
    if len(fits) == 1:
        return Fit(vals[:fits[0][1]] + vals[fits[0][1] + 1:], problem="extra_cells")
    return Fit(None, candidates=[v for v, _ in fits], problem="ambiguous") if fits else first


def _fit_fused(values: list[Cell], n: int, sums: tuple[int, int] | None) -> Fit:
    tokens = [c.text for c in values if c.kind == "digits"]
    others = [c for c in values if c.kind != "digits"]
    if others or any(not t.lstrip("-").isdigit() for t in tokens):
        # decimals or dashes fused with digits: only a one-cell row reads back with certainty
        if n == 1 and len(values) == 1:
            return Fit([classify(values[0].text)])
        if len(values) == n:
            return Fit([classify(c.text) if c.kind == "digits" else c for c in values])
        return Fit(None, problem="ambiguous")
    if sums and len(tokens) == 1 and not tokens[0].startswith("-"):
        kept = _split_with_sums_kept(tokens[0], *sums)
        if kept is None:  # too long to search to the end: never guess
            return Fit(None, problem="ambiguous")
        cands = list(kept)
    elif sum(len(t) for t in tokens) > 24 + n:
        return Fit(None, problem="ambiguous")  # too long to enumerate without a rule: never guess
    else:
        cands = list(split_tokens(tokens, n, sums_rule(*sums) if sums else None))
    if not cands:
        return Fit(None, problem="unsplittable")
    if len(cands) == 1:
        return Fit([Cell("number", str(v), v) for v in cands[0]], candidates=cands)
    return Fit(None, candidates=cands, problem="ambiguous")


MAX_CANDIDATES = 5000


def split_tokens(tokens: Sequence[str], n: int, rule=None) -> Iterator[tuple[int, ...]]:
    """Every way to cut fused digit runs into n numbers (no leading zeros) that `rule` accepts."""
    count = 0
    for combo in _split_many(list(tokens), n):
        if rule is None or rule(combo):
            yield combo
            count += 1
            if count >= MAX_CANDIDATES:
                return


def _split_many(tokens: list[str], n: int) -> Iterator[tuple[int, ...]]:
    if not tokens:
        if n == 0:
            yield ()
        return
    first, rest = tokens[0], tokens[1:]
    for k in range(1, n - len(rest) + 1):
        for head in split_digits(first, k):
            for tail in _split_many(rest, n - k):
                yield head + tail


def split_digits(s: str, k: int) -> Iterator[tuple[int, ...]]:
    sign = -1 if s.startswith("-") else 1
    digits = s.lstrip("-")
    for parts in _cuts(digits, k):
        vals = tuple(int(p) for p in parts)
        yield (sign * vals[0], *vals[1:]) if sign < 0 else vals


def _cuts(s: str, k: int) -> Iterator[tuple[str, ...]]:
    if k == 1:
        if s and (s == "0" or s[0] != "0"):
            yield (s,)
        return
    if not s:
        return
    max_len = len(s) - (k - 1)
    if s[0] == "0":
        max_len = 1
    for i in range(1, max_len + 1):
        for rest in _cuts(s[i:], k - 1):
            yield (s[:i], *rest)


# Steps the fused-digit search may take on one run (a step: one cut tried). The search grows ~n⁶ with the run's
# length (a 60-digit table-3 row 1.2 s, 120 digits 87 s); every row of the bench corpus and the samples needs fewer
# than STEPS_SEEN steps, so a run that needs more is ambiguous (null with a finding), never searched further.
SPLIT_STEPS = 100_000
STEPS_SEEN = 10_000  # measured: the most any row of 20,000 generated flattened reports took (27 digits)


class SplitTooLong(ValueError):
    """The fused-digit search ran out of steps: the run cannot be told apart here."""


def split_with_sums(s: str, groups: int, addends: int, *, steps: int = SPLIT_STEPS) -> list[tuple[int, ...]]:
    """Cut one digit run into `groups` groups of `addends` numbers followed by their printed total.

    The total must read as the decimal digits of the addends' sum, so it is found, not guessed: fast even for
    long runs (a table-3 row is 6 + 1, table 4 is 3 × (4 + 1)). The last group ends the run, so its total is a
    suffix: each length of it fixes the sum its addends must reach, which prunes that search hard. More than
    `steps` cuts tried raises SplitTooLong.
    """
    out: list[tuple[int, ...]] = []
    budget = [steps]

    def group(pos: int, g: int, acc: tuple[int, ...]) -> None:
        if len(out) >= MAX_CANDIDATES:
            return
        if g == groups:
            if pos == len(s):
                out.append(acc)
            return
        if g == groups - 1:
            rest = s[pos:]
            # the total has at least 1/(addends+1) of the digits: no addend is longer than it
            for ln in range(max(1, -(-len(rest) // (addends + 1))), len(rest) - addends + 1):
                t = rest[-ln:]
                if len(t) > 1 and t[0] == "0":
                    continue
                target = int(t)
                out.extend((*acc, *parts, target) for parts in _addends_to(rest[:-ln], addends, target, budget))
            return
        addend(pos, g, 0, 0, acc)

    def addend(pos: int, g: int, i: int, total: int, acc: tuple[int, ...]) -> None:
        if i == addends:
            t = str(total)
            if s.startswith(t, pos):
                group(pos + len(t), g + 1, (*acc, total))
            return
        remaining_groups = groups - g
        if pos >= len(s):
            return
        max_len = 1 if s[pos] == "0" else len(s) - pos
        for ln in range(1, max_len + 1):
            budget[0] -= 1
            if budget[0] < 0:
                raise SplitTooLong(f"a run of {len(s)} digits needs more than {steps:,} steps to split")
            v = int(s[pos : pos + ln])
            # every later cell takes at least one digit; the total is at least as long as this addend
            if pos + ln + (addends - i - 1) + len(str(total + v)) * 1 + (remaining_groups - 1) * (addends + 1) > len(s):
                break
            addend(pos + ln, g, i + 1, total + v, (*acc, v))

    if groups > 0:
        group(0, 0, ())
    # in the order a left-to-right search finds them (shorter cells first)
    out.sort(key=lambda cand: tuple(len(str(abs(v))) for v in cand))
    return out[:MAX_CANDIDATES]


@functools.lru_cache(maxsize=4096)
def _split_with_sums_kept(s: str, groups: int, addends: int) -> tuple[tuple[int, ...], ...] | None:
    """split_with_sums, kept: fused runs repeat from report to report (rows of zeros; on the bench corpus 749
    distinct runs among 7,450 calls, which took ~50 µs a report). None: the search ran out of steps."""
    try:
        return tuple(split_with_sums(s, groups, addends))
    except SplitTooLong:
        return None


def _addends_to(s: str, k: int, target: int, budget: list[int]) -> Iterator[tuple[int, ...]]:
    """Every cut of `s` into k numbers (no leading zeros) that add up to `target`, each cut tried taken from
    `budget` (SplitTooLong when it runs out)."""
    if k == 1:
        if s and (s == "0" or s[0] != "0") and int(s) == target:
            yield (target,)
        return
    # k numbers written with len(s) digits add up to less than this (one long number and k - 1 of one digit)
    if k > len(s) or target >= 10 ** (len(s) - k + 1) + 10 * (k - 1):
        return
    # …and at least this much: the longest of them has at least len(s)/k digits (no leading zeros)
    if target < 10 ** (-(-len(s) // k) - 1) and not (target == 0 and s == "0" * len(s)):
        return
    max_len = 1 if s[:1] == "0" else len(s) - (k - 1)
    for ln in range(1, max_len + 1):
        budget[0] -= 1
        if budget[0] < 0:
            raise SplitTooLong("a run of digits needs more steps to split than allowed")
        v = int(s[:ln])
        if v > target:
            break
        # each later number is at most what is left of the target, so it has at most that many digits
        if len(s) - ln > (k - 1) * len(str(target - v)):
            continue
        for rest in _addends_to(s[ln:], k - 1, target - v, budget):
            yield (v, *rest)


# A label run that ends table 4's header (…尚未审结 总计, …复议后起诉): table 4's values are the first values from the
# first label run that ends so or holds 维持 on. Both paths look for the header with it.
REVIEW_HEADER_END_RE = re.compile(r"(?:审\s*结|总\s*计|起\s*诉)\s*$")

# 总计 printed right before the first outcome's label, on its line (总计 | 结果维持 | …, 总计 | 结果 维持 | …). A header
# wrapped over lines, as OCR and PDF text give a two-level header (结果 结果 其他 尚未 / 总计 … / 维持 纠正 …, the
# rasterised huaian report), puts a 总计 before the first 维持 without printing it first: it is not this header.
_MAINTAINED_RE = re.compile(r"维\s*持")  # the first outcome's word, wherever a cell breaks it (结果维<br>持)
# (\Z, not $: $ also matches before a last line break, so 总计 ending the line above 维持 — a two-level header wrapped
# as 结果 结果 其他 尚未 总计 / 维持 纠正 …, seed 004's table 4 drawn and read by OCR — was taken for 总计 first, and a row
# 2 0 0 0 2 read as 0 0 0 2 2, a reordering its group's sum rule cannot catch)
_TOTAL_FIRST_RE = re.compile(r"总计[ \t|｜]*(?:结果\s*)?\Z")


def review_total_first(region: str) -> bool:
    """Table 4's header printing each group's 总计 before its outcomes (总计 | 结果维持 | 结果纠正 | 其他结果 | 尚未审结),
    not after them as the form does: 总计 right before the header's first 维持, on the same line."""
    m = _MAINTAINED_RE.search(region)
    if m is None:
        return False
    at = m.start()
    return _TOTAL_FIRST_RE.search(region[max(region.rfind("。", 0, at) + 1, at - 40):at]) is not None
