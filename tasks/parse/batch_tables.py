"""The clean tables of a batch, read lean: the fast path for every layout but flattened text.

It reads with the per-document path's own steps (`tasks.parse.cells`: cells_of_line → label_runs → match_rows →
trimmed, and its table-4 header regex), each given lean cells, but keeps a table only when it reads cleanly: every
row found, every row exactly its cells, every cell a number or a blank, no value that a finding would question.
Anything else is left to the per-document path, which explains it with findings. `tests/test_batch_tables.py`
checks that both paths give the same records (the renderer's output, the shared samples); `tests/test_parser_paths.py`
holds their steps to each other on random input.

Lean means: a cell is a (kind, value, pad, plain) tuple, not an object; a line's cells are kept per process
(`_LINES`: each token of a line unseen before is classified once per process, `tasks.parse.cells.classify` keeps
it), and a label run's text is searched for row labels once (`tasks.parse.cells.label_spans` keeps the labels found
in it) — labels repeat from report to report. Measured on the bench corpus
(`make bench-parse`): ~250 µs a report for the three tables, against ~800 µs for the same reading written as Polars
expressions over the batch (a frame row per cell, some forty expressions, joins and group-bys) and ~1,450 µs for the
per-document path. Reading with cells' steps instead of copies of them (issue 16), measured on 5,000 generated text
reports, batches of 1,000, 3 rounds interleaved, medians of CPU time: 129 -> 118 µs a report once the lines are
known; 146 -> 186 µs on a first pass with nothing kept (a line unseen before is read into cells' Cell objects, then
made lean: 116 -> 130 µs with the garbage collector off, the rest is its work on those objects); the per-document
table readers 434 -> 340 µs (classify keeps each token's cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

from schemas import form
from tasks.parse.cells import (
    REVIEW_HEADER_END_RE,
    Cell,
    cells_of_line,
    combine,
    label_runs,
    match_rows,
    review_total_first,
    trimmed,
)

TEXT, NUMBER, BLANK, NULL, NON_NUMERIC = range(5)
_KIND = {"text": TEXT, "number": NUMBER, "blank": BLANK, "null": NULL, "non_numeric": NON_NUMERIC}
_VALUE_KINDS = (NUMBER, NULL, NON_NUMERIC)
_LIMIT = 1_000_000_000  # a count this large is a misread; the per-document path says so

# A lean cell: kind, value (a text cell's: its text without white space), pad (layout padding), plain (a whole
# number 0 ≤ n < _LIMIT, a blank or a dash: a value no finding questions in any table).
LeanCell = tuple[int, "int | float | str | None", bool, bool]
_KIND_OF, _VALUE_OF, _IS_PAD, _PLAIN = itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


def lean(c: Cell) -> LeanCell:
    """The lean cell of a per-document path's cell."""
    kind = _KIND[c.kind]
    if kind == TEXT:
        return (TEXT, "".join(c.text.split()), False, False)
    value = c.value
    plain = kind == BLANK or kind == NULL or (kind == NUMBER and type(value) is int and 0 <= value < _LIMIT)
    return (kind, value, c.pad, plain)


def line_cells(region: str) -> list[LeanCell]:
    """The region's cells in reading order: `tasks.parse.cells.cells_of_line` of each line, made lean. A line's cells
    depend on the line alone, and lines repeat from report to report (labels, rows of zeros: 96% of the bench
    corpus's table lines were seen before), so each line's cells are kept (`_LINES`)."""
    cells: list[LeanCell] = []
    get = _LINES.get
    for line in region.split("\n"):
        hit = get(line)
        if hit is None:
            hit = tuple(map(lean, cells_of_line(line)))
            if len(_LINES) >= _LINES_MAX:
                _LINES.clear()
            _LINES[line] = hit
        cells.extend(hit)
    return cells


_LINES: dict[str, tuple[LeanCell, ...]] = {}  # a line as printed → its cells
_LINES_MAX = 50_000  # ~0.25 KB an entry (measured): ~12 MB at most a process; common lines come back at once after a clear


def runs(cells: list[LeanCell]) -> list[tuple[str, list[LeanCell]]]:
    """Label runs: consecutive text cells joined, and the value cells after them (`tasks.parse.cells.label_runs`, the
    runs step of `to_runs`)."""
    return label_runs(cells, list(map(_KIND_OF, cells)), list(map(_VALUE_OF, cells)), TEXT)  # type: ignore[arg-type]


def fit(values: list[LeanCell], n: int) -> list[LeanCell] | None:
    """`tasks.parse.cells.fit_cells` where it reads a row without a problem; None where it would report one."""
    vals = trimmed(values, n, _KIND_OF, _IS_PAD, BLANK)
    return vals if len(vals) == n else None


def _clean_values(cells: list[LeanCell], *, integer: bool, negative_ok: Sequence[bool] | None = None
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
        found = match_rows(runs(line_cells(region)), combined, _IS_PAD)
        if len(found) != len(cells_per_row):
            continue
        rows = []
        for k, n in enumerate(cells_per_row):
            fitted = fit(found[k], n)
            values = None if fitted is None else _clean_values(fitted, integer=integer, negative_ok=negative[k])
            if values is None:
                break
            rows.append(values)
        else:
            result[g] = rows
    return result


def read_review_tables(regions: Sequence[tuple[int, str]]) -> dict[int, list[int | float | None]]:
    """Table 4 of many documents → {g: 15 values} for those that read cleanly: the first run with a value after
    the header (…尚未审结 总计, or 维持)."""
    result: dict[int, list[int | float | None]] = {}
    for g, region in regions:
        if review_total_first(region):  # 总计 before each group's outcomes: the slow path reorders
            continue
        header = False
        found = runs(line_cells(region))
        for k, (text, values) in enumerate(found):
            header = header or "维持" in text or bool(REVIEW_HEADER_END_RE.search(text))
            if header and any(c[0] in _VALUE_KINDS for c in values):
                fitted = fit(values, 15)
                clean = None if fitted is None else _clean_values(fitted, integer=True)
                # values in a later row too (last year's figures below this year's): the slow path tells whose
                if clean is not None and not any(c[0] in _VALUE_KINDS for _, later in found[k + 1:] for c in later):
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
