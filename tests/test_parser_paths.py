"""The batch reader's steps against the per-document path's, on random input (hypothesis).

`tasks/parse/batch_tables.py` reads clean tables with lean cells; `tasks/parse/cells.py` (with extract) reads every
table. They share their steps (cells_of_line, label_runs, trimmed, match_rows, the table-4 header regex), each
step given its own path's cells. Random table regions (form labels, numbers in every printed form, blanks, dashes,
words that are not numbers, stray text, pipes, white space of every kind) go through both: the line's cells, the
label runs and the fitted rows must agree, and a table the batch reader takes must be the per-document path's,
without a finding. The batch reader may decline a table; where it does, the per-document path decides. It never
declines a row the per-document path reads without a problem (that would only cost speed, but it would show a
drift). `tests/test_batch_tables.py` holds both paths to identical records on the renderer's output and the
shared samples.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas import form
from tasks.parse import batch_tables as bt
from tasks.parse import cells
from tasks.parse.extract import (
    Extracted,
    applicant_columns,
    extract_active_disclosure,
    extract_applications,
    extract_review_litigation,
)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# A table the batch reader takes (about one drawn table in three): fewer of them, each a whole table
TABLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
KINDS = ("text", "number", "blank", "null", "non_numeric")  # the batch reader's kinds, in its order

# ---------------------------------------------------------------------------------------------------------------
# What a table region is made of

LABELS = sorted({
    *(it.label for v in form.ACTIVE_DISCLOSURE.values() for it in v),
    *(r.label for v in form.APPLICATION_ROWS.values() for r in v),
    *form.REVIEW_GROUP_LABELS, *form.REVIEW_OUTCOME_LABELS, *form.MEASURE_LABELS.values(), *form.APPLICANT_LABELS,
})
STRAY = ["合计", "注：", "单位：件", "本年", "上年", "第 2 页", "- 3 -", "其他", "较上年增加12件。", "申请人情况", "自然人",
         "1.", "(一)", "x1", "12a", "1,23", "٣", "五", "12 件", "1 2", "3.", "总计 结果维持"]
SPACE = st.sampled_from(["", "", "", " ", "  ", "\t", "\u3000", "\xa0", " \t "])


@st.composite
def numbers(draw, plain: bool = True) -> str:
    """A number as reports print it: plain, grouped, signed, decimal, with a unit, a share, or too large (`plain`
    False: never a plain count)."""
    n = draw(st.one_of(st.integers(0, 20), st.integers(0, 10**6), st.integers(-50, -1), st.integers(10**8, 10**13)))
    form_ = draw(st.sampled_from(["plain"] * 6 * plain + ["grouped", "signed", "decimal", "unit", "percent", "zeros"]))
    if form_ == "grouped":
        return f"{n:,}"
    if form_ == "signed":
        return f"+{n}" if n >= 0 else str(n)
    if form_ == "decimal":
        return f"{n}.{draw(st.integers(0, 99))}"
    if form_ == "unit":
        return f"{n}{draw(SPACE)}{draw(st.sampled_from(['元', '万元', '件', '个', '人次']))}"
    if form_ == "percent":
        return f"{n}%"
    if form_ == "zeros":
        return f"00{n}"
    return str(n)


def values(clean: bool = False) -> st.SearchStrategy[str]:
    """A cell where a value stands: mostly a number, else a blank, a dash, a word that is not a number. `clean`: as
    a clean table prints them (counts, blanks, dashes)."""
    if clean:
        return st.one_of(st.integers(0, 10**5).map(str), st.just("0"), st.just(""), st.sampled_from(["-", "—", "/", "无"]))
    return st.one_of(numbers(), numbers(), numbers(), st.just(""), st.sampled_from(sorted(cells.NULL_TOKENS)),
                     st.sampled_from(sorted(cells.NON_NUMERIC_TOKENS)))


def texts() -> st.SearchStrategy[str]:
    """A cell where text stands: a form label (sometimes a piece of one, as a wrapped label gives), stray text, or
    a few characters of anything printable."""
    piece = st.tuples(st.sampled_from(LABELS), st.integers(0, 30), st.integers(1, 30)).map(lambda t: t[0][t[1]:t[1] + t[2]])
    return st.one_of(st.sampled_from(LABELS), st.sampled_from(LABELS), piece, st.sampled_from(STRAY),
                     st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6))


@st.composite
def lines(draw, label: st.SearchStrategy[str] | None = None, width: int | None = None, clean: bool = False,
          odd: bool = False) -> str:
    """A line of a table region: pipe cells (padded, closed or not), a cell alone, a PDF row (a label, then values
    after spaces), or white space. `label` and `width`: a row of the form with about its number of values (`clean`:
    exactly, and clean values)."""
    label = label if label is not None else texts()
    k = draw(st.integers(0, 16)) if width is None else \
        width if clean else max(0, width + draw(st.sampled_from([0, 0, 0, 0, -1, 1, 2])))
    cells_ = [draw(values(clean)) for _ in range(k)]
    layout = draw(st.sampled_from(["pipe", "pipe", "pdf", "alone", "blank"] if width is None else ["pipe", "pdf", "alone"]))
    if clean and layout != "pipe":
        cells_ = [c or "—" for c in cells_]  # a blank is no cell there: a clean table prints a dash
    if odd and cells_:  # one cell in any printed form: a decimal, a negative, a share, too large, not a number
        cells_[draw(st.integers(0, len(cells_) - 1))] = draw(st.one_of(numbers(plain=False), st.sampled_from(sorted(cells.NON_NUMERIC_TOKENS))))
    if layout == "pipe":
        row = [draw(label), *cells_] if draw(st.booleans()) or width is not None else cells_
        row = [f"{draw(SPACE)}{c}{draw(SPACE)}" for c in row]
        line = "|".join(row)
        return f"{'|' if draw(st.booleans()) else ''}{line}{draw(st.sampled_from(['|', '|', '', '| ', '||']))}"
    if layout == "pdf":
        sep = st.sampled_from([" ", "  ", "\t", " \u3000"])
        return draw(label) + "".join(draw(sep) + c for c in cells_ if c) + draw(SPACE)
    if layout == "alone":
        return "\n".join([draw(label), *cells_]) if width is not None else draw(st.one_of(label, values()))
    return draw(SPACE)


@st.composite
def regions(draw) -> str:
    """Any lines at all."""
    return "\n".join(draw(st.lists(lines(), max_size=12)))


@st.composite
def table_regions(draw, rows: list[tuple[str, int]], header: list[str]) -> str:
    """A table's region: its header words, then its rows in form order (label, about its number of values), some
    rows dropped, stray lines between; or, one time in two, a clean table (every row, its width, clean values; half
    of them with one cell in any printed form)."""
    clean = draw(st.booleans())
    odd = draw(st.integers(-len(rows), len(rows) - 1)) if clean else -1  # a clean table but for one cell, half the time
    out = [draw(st.sampled_from(["|".join(header), " ".join(header), "\n".join(header), ""]))]
    for i, (label, n) in enumerate(rows):
        if not clean and draw(st.integers(0, 19)) == 0:
            continue  # a row lost
        out.append(draw(lines(st.just(label), n, clean, odd == i)))
        if draw(st.integers(0, 9)) == 0:
            out.append(draw(lines()) if not clean else draw(st.sampled_from(["", " ", "| | |", "||||"])))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------------
# The two paths' cells, seen alike

def seen(c: cells.Cell) -> tuple:
    """A per-document cell as the batch reader should see it: kind, value (a text cell's text without white
    space), pad."""
    return (c.kind, "".join(c.text.split()) if c.kind == "text" else c.value, c.pad)


def seen_lean(c: bt.LeanCell) -> tuple:
    return (KINDS[c[0]], c[1], c[2])


def _same(a, b) -> bool:
    """Equal, and of the same type where a number (1 is not 1.0 here: one is a count, the other a decimal)."""
    return a == b and [type(x[1]) for x in a] == [type(x[1]) for x in b]


@SETTINGS
@given(region=st.one_of(regions(), table_regions([(r.label, 7) for r in form.APPLICATION_ROWS_2021],
                                                 list(form.APPLICANT_LABELS))))
def test_cells_runs_and_fit_agree(region):
    slow = cells.line_cells(region)
    lean = bt.line_cells(region)
    assert _same(list(map(seen_lean, lean)), list(map(seen, slow)))
    assert bt.line_cells(region) == lean  # read again: the lines kept give the same cells
    slow_runs, lean_runs = cells.to_runs(slow), bt.runs(lean)
    assert [r.text for r in slow_runs] == [t for t, _ in lean_runs]
    assert [list(map(seen, r.values)) for r in slow_runs] == [list(map(seen_lean, v)) for _, v in lean_runs]
    for run, (_, lean_values) in zip(slow_runs, lean_runs, strict=True):
        for n in {1, 2, 3, 5, 7, 15, max(1, len(run.values) - 1), len(run.values) or 1, len(run.values) + 1}:
            fit = cells.fit_cells(run.values, n)
            fitted = bt.fit(lean_values, n)
            if fitted is not None:
                assert fit.problem is None and fit.cells is not None
                assert _same(list(map(seen_lean, fitted)), list(map(seen, fit.cells)))
            else:  # declined: only where the per-document path has a problem with the row
                assert fit.problem is not None


def _labels_of(version: str) -> list[tuple[str, int]]:
    return [(it.label, len(it.measures)) for it in form.ACTIVE_DISCLOSURE[version]]


def _header_of(version: str) -> list[str]:
    return ["项目", *dict.fromkeys(form.MEASURE_LABELS[m] for it in form.ACTIVE_DISCLOSURE[version] for m in it.measures)]


@TABLES
@given(data=st.data(), version=st.sampled_from(form.FORMAT_VERSIONS))
def test_a_table_2_the_batch_reader_takes_is_the_per_document_paths(data, version):
    region = data.draw(table_regions(_labels_of(version), _header_of(version)))
    patterns, widths, negative = bt.active_disclosure_spec(version)
    taken = bt.read_row_tables([(0, region)], patterns, widths, integer=False, negative_columns=negative)
    out = Extracted(record={})
    table = extract_active_disclosure(region, version, False, out)
    assume(0 in taken)
    items = form.ACTIVE_DISCLOSURE[version]
    assert table == {it.key: dict(zip(it.measures, row, strict=True)) for it, row in zip(items, taken[0], strict=True)}
    assert [_types(r) for r in taken[0]] == [_types(table[it.key].values()) for it in items]
    assert out.findings == []


@TABLES
@given(data=st.data(), version=st.sampled_from(form.FORMAT_VERSIONS))
def test_a_table_3_the_batch_reader_takes_is_the_per_document_paths(data, version):
    rows = form.APPLICATION_ROWS[version]
    region = data.draw(table_regions([(r.label, 7) for r in rows], ["申请人情况", *form.APPLICANT_LABELS]))
    assume(applicant_columns(region) == "form")  # as documents.fast_tables gives it (总计 first, two years: not)
    patterns, widths = bt.applications_spec(version)
    taken = bt.read_row_tables([(0, region)], patterns, widths, integer=True)
    out = Extracted(record={})
    table = extract_applications(region, version, False, out)
    assume(0 in taken)
    assert table == {r.key: row for r, row in zip(rows, taken[0], strict=True)}
    assert [_types(r) for r in taken[0]] == [_types(table[r.key]) for r in rows]
    assert out.findings == []


REVIEW_ROW = [(" ".join(form.REVIEW_GROUP_LABELS), 0), (" ".join(form.REVIEW_OUTCOME_LABELS * 3), 0), ("", 15)]


@TABLES
@given(region=table_regions(REVIEW_ROW, ["行政复议", "行政诉讼"]))
def test_a_table_4_the_batch_reader_takes_is_the_per_document_paths(region):
    taken = bt.read_review_tables([(0, region)])
    out = Extracted(record={})
    values = extract_review_litigation(region, False, out)
    assume(0 in taken)
    assert values == taken[0] and _types(values) == _types(taken[0])
    assert out.findings == []


def _types(row) -> list[type]:
    return [type(v) for v in row]
