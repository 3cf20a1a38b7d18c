"""The clean tables of a batch, read lean: the fast path for every layout but flattened text.

It reads exactly as the per-document path does (`tasks.parse.cells`: line_cells → to_runs → match_rows → fit_cells), but
keeps a table only when it reads cleanly: every row found, every row exactly its cells, every cell a number or a
blank, no value that a finding would question. Anything else is left to the per-document path, which explains it
with findings. `tests/test_batch_tables.py` checks that both paths give the same records.

Lean means: a cell is a (kind, value, pad, plain) tuple, not an object; a token is classified once per process
(`_cell` keeps what `tasks.parse.cells.classify` said of it), and a label run's text is searched for row labels once
(`tasks.parse.cells.label_spans` keeps the labels found in it) — labels repeat from report to report. Measured on the bench corpus
(`make bench-parse`): ~250 µs a report for the three tables, against ~800 µs for the same reading written as Polars
expressions over the batch (a frame row per cell, some forty expressions, joins and group-bys) and ~1,450 µs for the
per-document path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

from schemas import form
from tasks.parse.cells import classify, combine, match_rows, review_total_first

TEXT, NUMBER, BLANK, NULL, NON_NUMERIC = range(5)
_KIND = {"text": TEXT, "number": NUMBER, "blank": BLANK, "null": NULL, "non_numeric": NON_NUMERIC}
_VALUE_KINDS = (NUMBER, NULL, NON_NUMERIC)
_LIMIT = 1_000_000_000  # a count this large is a misread; the per-document path says so

# A cell: kind, value (a text cell's: its text without white space), pad (layout padding), plain (a whole number
# 0 ≤ n < _LIMIT, a blank or a dash: a value no finding questions in any table).
Cell = tuple[int, "int | float | str | None", bool, bool]
_PAD = (BLANK, None, True, True)
_KIND_OF, _VALUE_OF, _IS_PAD, _PLAIN = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)

_CELLS: dict[str, Cell] = {}  # a token as printed (spaces around it kept) → its cell
_CACHE_MAX = 200_000


def _cell(token: str) -> Cell:
    """The cell of a token, as `classify` reads it."""
    hit = _CELLS.get(token)
    if hit is None:
        c = classify(token)
        kind = _KIND[c.kind]
        if kind == TEXT:
            hit = (TEXT, "".join(c.text.split()), False, False)
        else:
            plain = kind in (BLANK, NULL) or (kind == NUMBER and type(c.value) is int and 0 <= c.value < _LIMIT)
            hit = (kind, c.value, False, plain)
        if len(_CELLS) >= _CACHE_MAX:
            _CELLS.clear()
        _CELLS[token] = hit
    return hit


def line_cells(region: str) -> list[Cell]:
    """The region's cells in reading order, as `tasks.parse.cells.line_cells` reads them. A line's cells depend on the
    line alone, and lines repeat from report to report (labels, rows of zeros: 96% of the bench corpus's table
    lines were seen before), so each line's cells are kept (`_LINES`)."""
    cells: list[Cell] = []
    get = _LINES.get
    for line in region.split("\n"):
        hit = get(line)
        if hit is None:
            hit = _line_cells(line)
            if len(_LINES) >= _LINES_MAX:
                _LINES.clear()
            _LINES[line] = hit
        cells.extend(hit)
    return cells


_LINES: dict[str, tuple[Cell, ...]] = {}  # a line as printed → its cells
_LINES_MAX = 50_000  # ~0.25 KB an entry (measured): ~12 MB at most a process; common lines come back at once after a clear


def _line_cells(line: str) -> tuple[Cell, ...]:
    """One line's cells."""
    get = _CELLS.get
    if "|" in line:
        pieces = line.split("|")
        if not pieces[-1].strip():
            pieces.pop()  # the pipe that closes a row is not a cell
        row = list(map(get, pieces))
        if not all(row):
            row = [c or _cell(p) for c, p in zip(row, pieces, strict=True)]
        # a line of several cells none of which is a value: its blanks are layout padding
        if len(row) > 1 and row[-1][0] not in _VALUE_KINDS and not any(c[0] in _VALUE_KINDS for c in row):
            row = [_PAD if c[0] == BLANK else c for c in row]
        return tuple(row)
    cell = get(line) or _cell(line)
    if cell[0] != TEXT:
        return () if cell[0] == BLANK else (cell,)  # blank lines separate cells; they are not cells
    tokens = line.split()
    if len(tokens) == 1:
        return (cell,)
    # PDF text: numbers peeled off the end of the line, after the label
    tail: list[Cell] = []
    while len(tokens) > 1:
        c = get(tokens[-1]) or _cell(tokens[-1])
        if c[0] == TEXT or c[0] == BLANK:
            break
        tail.append(c)
        tokens.pop()
    return (_cell(" ".join(tokens)), *reversed(tail))


def _runs(cells: list[Cell]) -> list[tuple[str, list[Cell]]]:
    """Label runs: consecutive text cells joined, and the value cells after them (`tasks.parse.cells.to_runs`). The next
    text cell is found with list.index: the value cells between are taken as one slice."""
    kinds = list(map(_KIND_OF, cells))
    n = len(cells)
    runs: list[tuple[str, list[Cell]]] = []
    i = 0
    while True:
        j = i
        while j < n and kinds[j] == TEXT:
            j += 1
        try:
            k = kinds.index(TEXT, j)
        except ValueError:
            k = n
        runs.append(("".join(map(_VALUE_OF, cells[i:j])), cells[j:k]))  # type: ignore[arg-type]
        if k == n:
            return runs
        i = k


def _fit(values: list[Cell], n: int) -> list[Cell] | None:
    """`tasks.parse.cells.fit_cells` where it reads a row without a problem; None where it would report one."""
    if len(values) > n:
        kept = [c for c in values if not c[2]]
        if len(kept) >= n:
            values = kept
    lo, hi = 0, len(values)
    while hi - lo > n and values[hi - 1][0] == BLANK:
        hi -= 1
    while hi - lo > n and values[lo][0] == BLANK:
        lo += 1
    if hi - lo > n:
        non_blank = [c for c in values[lo:hi] if c[0] != BLANK]
        return non_blank if len(non_blank) == n else None
    return values[lo:hi] if hi - lo == n else None


def _clean_values(cells: list[Cell], *, integer: bool, negative_ok: Sequence[bool] | None = None
                  ) -> list[int | float | None] | None:
    """The row's values (blank and dash → None) when no finding would question any of them, else None."""
    if all(map(_PLAIN, cells)):
        return list(map(_VALUE_OF, cells))  # type: ignore[arg-type]
    out: list[int | float | None] = []
    for j, (kind, value, _, _) in enumerate(cells):
        if kind == NUMBER:
            if integer and not isinstance(value, int):
                return None
            if not -_LIMIT < value < _LIMIT or (value < 0 and not (negative_ok and negative_ok[j])):  # type: ignore[operator]
                return None
            out.append(value)  # type: ignore[arg-type]
        elif kind == BLANK or kind == NULL:
            out.append(None)
        else:
            return None
    return out


def read_row_tables(regions: Sequence[tuple[int, str]], patterns: Sequence[str], cells_per_row: Sequence[int], *,
                    integer: bool, negative_columns: frozenset[tuple[int, int]] = frozenset()
                    ) -> dict[int, list[list[int | float | None]]]:
    """Tables 2 and 3 of many documents ((g, region) pairs) → {g: row-major values} for those that read cleanly."""
    negative = [[(k, j) in negative_columns for j in range(n)] for k, n in enumerate(cells_per_row)]
    combined = combine(patterns)
    result: dict[int, list[list[int | float | None]]] = {}
    for g, region in regions:
        found = match_rows(_runs(line_cells(region)), combined, _IS_PAD)
        if len(found) != len(cells_per_row):
            continue
        rows = []
        for k, n in enumerate(cells_per_row):
            fitted = _fit(found[k], n)
            values = None if fitted is None else _clean_values(fitted, integer=integer, negative_ok=negative[k])
            if values is None:
                break
            rows.append(values)
        else:
            result[g] = rows
    return result


_RL_HEADER_END_RE = re.compile(r"(?:审结|总计|起诉)$")


def read_review_tables(regions: Sequence[tuple[int, str]]) -> dict[int, list[int | float | None]]:
    """Table 4 of many documents → {g: 15 values} for those that read cleanly: the first run with a value after
    the header (…尚未审结 总计, or 维持)."""
    result: dict[int, list[int | float | None]] = {}
    for g, region in regions:
        if review_total_first(region):  # 总计 before each group's outcomes: the slow path reorders
            continue
        header = False
        runs = _runs(line_cells(region))
        for k, (text, values) in enumerate(runs):
            header = header or "维持" in text or bool(_RL_HEADER_END_RE.search(text))
            if header and any(c[0] in _VALUE_KINDS for c in values):
                fitted = _fit(values, 15)
                clean = None if fitted is None else _clean_values(fitted, integer=True)
                # values in a later row too (last year's figures below this year's): the slow path tells whose
                if clean is not None and not any(c[0] in _VALUE_KINDS for _, later in runs[k + 1:] for c in later):
                    result[g] = clean
                break
    return result


def active_disclosure_spec(version: str) -> tuple[list[str], list[int], frozenset[tuple[int, int]]]:
    items = form.ACTIVE_DISCLOSURE[version]
    negative = frozenset((k, j) for k, it in enumerate(items) for j, m in enumerate(it.measures) if m == "change")
    return [it.pattern for it in items], [len(it.measures) for it in items], negative


def applications_spec(version: str) -> tuple[list[str], list[int]]:
    rows = form.APPLICATION_ROWS[version]
    return [r.label_pattern for r in rows], [7] * len(rows)
