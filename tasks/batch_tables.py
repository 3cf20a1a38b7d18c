"""The three tables of a whole batch at once, in Polars: the fast path for every layout but flattened text.

It reads exactly as the per-document path does (`tasks.cells`: line_cells → to_runs → match_rows → fit_cells), as
string and window expressions over every table region of the batch. A table is taken from here only when it reads
cleanly: every row found, every row exactly its cells, every cell a number or a blank, no value that a finding
would question. Anything else is left to the per-document path, which explains it with findings.
`tests/test_batch_tables.py` checks that both paths give the same records.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from schemas import form
from tasks.cells import NON_NUMERIC_TOKENS, NULL_TOKENS, PERCENT, UNIT_SUFFIX

_NUMBER = r"[+\-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# One whitespace-free token that `classify` would read as a value (number, a dash or 无, 若干/N/A).
_VALUE_TOKEN = "(?:" + "|".join(
    [_NUMBER + UNIT_SUFFIX + "?", PERCENT.replace(r"\s*", "")] + [re.escape(t) for t in sorted(NULL_TOKENS | NON_NUMERIC_TOKENS, key=len, reverse=True)
                                     if not any(ch.isspace() for ch in t)]) + ")"
# A PDF-text line: the label, then the value tokens peeled off its end (at least one character stays a label).
_PEEL = rf"^(\S.*?)((?:\s+{_VALUE_TOKEN})*)$"
_ENDS_IN_VALUE = rf"\S\s+{_VALUE_TOKEN}$"
_NUMBER_FULL = r"^([+\-]?)((?:\d{1,3}(?:,\d{3})+)|\d+)(\.\d+)?\s*" + UNIT_SUFFIX + r"?$"
_RL_HEADER_END = r"(?:审结|总计|起诉)$"


@dataclass(frozen=True)
class RowSpec:
    patterns: tuple[str, ...]  # Python patterns of the row labels, in form order
    cells: tuple[int, ...]  # cells each row must have


def _rust_alternation(patterns: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """One alternation for Polars' regex engine (no look-around): a look-behind `(?<!A)(?<!B)X` becomes X, and
    `AX`/`BX` are added at the end as blockers, so the text they cover is consumed without naming a row."""
    alts: list[str] = []
    blockers: list[str] = []
    for p in patterns:
        behind = re.findall(r"\(\?<!([^)]*)\)", p)
        core = re.sub(r"\(\?<!([^)]*)\)", "", p)
        alts.append(f"(?:{core})")
        blockers.extend(f"(?:{re.escape(b)}{core})" for b in behind)
    return "|".join(alts + blockers), tuple(patterns)


class _RowNamer:
    """Which row a matched label names: the first pattern that matches it whole (what Python's alternation picks)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [re.compile(p) for p in patterns]
        self.cache: dict[str, int] = {}

    def __call__(self, label: str) -> int:
        k = self.cache.get(label)
        if k is None:
            k = next((i for i, rx in enumerate(self.patterns) if rx.fullmatch(label)), -1)
            self.cache[label] = k
        return k


_NAMERS: dict[tuple[str, ...], tuple[str, _RowNamer]] = {}


def _namer(patterns: Sequence[str]) -> tuple[str, _RowNamer]:
    key = tuple(patterns)
    if key not in _NAMERS:
        _NAMERS[key] = (_rust_alternation(patterns)[0], _RowNamer(patterns))
    return _NAMERS[key]


def cells_frame(regions: pl.DataFrame) -> pl.DataFrame:
    """Regions (g, region) → one row per cell, in reading order: g, pos, kind, value, frac, run."""
    # Every intermediate that is used more than once is a column of its own: an expression used twice is evaluated
    # twice, and the regex ones are the cost.
    line, stripped = pl.col("line"), pl.col("stripped")
    sep = "\x1f"
    lines = regions.select("g", line=pl.col("region").str.replace_all(sep, " ", literal=True).str.split("\n")).explode(
        "line").with_row_index("line_id").with_columns(piped=line.str.contains("|", literal=True),
                                                      stripped=line.str.strip_chars())
    # Only a line that ends in a value token after a space needs peeling (the regex with captures is the slow one).
    lines = lines.with_columns(
        peel=pl.when(~pl.col("piped") & stripped.str.contains(_ENDS_IN_VALUE)).then(stripped).str.extract_groups(_PEEL))
    head, tail = pl.col("peel").struct.field("1"), pl.col("peel").struct.field("2")
    # Each line becomes its cells joined by a unit separator, split once (a string when/then is cheap; list ones
    # are not). Masking before a string operation keeps the regex engine off the rows that do not need it.
    joined = (pl.when(pl.col("piped")).then(line).str.replace(r"\|\s*$", "").str.replace_all("|", sep, literal=True)
              .fill_null(pl.concat_str(head, pl.when(head.is_not_null()).then(tail).str.strip_chars()
                                       .str.replace_all(r"\s+", sep), separator=sep))
              .fill_null(pl.when(stripped != "").then(stripped)))
    cells = lines.select("g", "line_id", "piped", cell=joined.str.split(sep)).with_columns(
        line_cells=pl.col("cell").list.len()).explode("cell").drop_nulls("cell").select(
        "g", "line_id", "piped", "line_cells", t=pl.col("cell").str.strip_chars())
    t = pl.col("t")
    # Most cells are plain integers: a cast reads them; only the rest go through the number pattern.
    cells = cells.with_columns(plain=t.cast(pl.Int64, strict=False))
    cells = cells.with_columns(
        num=pl.when(pl.col("plain").is_null() & t.str.contains(r"^[+\-]?\d")).then(t).str.extract_groups(_NUMBER_FULL))
    num = pl.col("num")
    digits = num.struct.field("2")
    cells = cells.with_columns(
        rest_value=pl.concat_str(num.struct.field("1"), digits.str.replace_all(",", "", literal=True),
                                 num.struct.field("3").fill_null("")).cast(pl.Float64, strict=False),
        rest_number=digits.is_not_null(),
        frac=num.struct.field("3").is_not_null(),
    ).drop("num")
    is_number = pl.col("plain").is_not_null() | pl.col("rest_number")
    kind = (pl.when(is_number).then(pl.lit("number"))
            .when(t == "").then(pl.lit("blank"))
            .when(t.is_in(sorted(NULL_TOKENS))).then(pl.lit("null"))
            .when(t.is_in(sorted(NON_NUMERIC_TOKENS)) | t.str.contains(f"^{PERCENT}$")).then(pl.lit("non_numeric"))
            .otherwise(pl.lit("text")))
    cells = cells.with_columns(kind=kind).with_columns(
        value=pl.coalesce(pl.col("plain").cast(pl.Float64), pl.col("rest_value")),
        text=pl.when(pl.col("kind") == "text").then(t).str.replace_all(r"\s+", ""),
    ).with_row_index("pos")
    # padding: the blanks of a piped line with several cells and no value (see Cell.pad)
    value_kind = pl.col("kind").is_in(["number", "null", "non_numeric"])
    cells = cells.with_columns(pad=(pl.col("kind") == "blank") & pl.col("piped")
                               & (pl.col("line_cells") > 1) & ~value_kind.any().over("line_id")).drop("line_cells")
    # runs: a text cell after a value starts one, and so does each document's first cell. The frame is in reading
    # order, so one cumulative sum over the whole batch numbers them (unique across documents) without windows.
    is_text = pl.col("kind") == "text"
    g = pl.col("g")
    starts = (is_text & (~is_text).shift(1, fill_value=False)) | (g != g.shift(1)).fill_null(True)
    return cells.with_columns(run=starts.cum_sum())


def _runs(cells: pl.DataFrame) -> pl.DataFrame:
    is_text = pl.col("kind") == "text"
    return cells.group_by("g", "run", maintain_order=True).agg(
        text=pl.col("text").filter(is_text).str.join(""),
        n_values=(~is_text).sum(),
        any_value=(pl.col("kind").is_in(["number", "null", "non_numeric"])).any(),
    )


def _fit(values: pl.DataFrame, want: pl.Expr) -> pl.DataFrame:
    """values (g, key, pos, kind, …) of each row, in reading order → the row's n cells, as fit_cells picks them
    (blanks trimmed at the ends, else the non-blank cells); `row_ok` is false where no n cells fit. Adds `j`, the
    cell's place in its row. A row's value cells are consecutive, so positions do the work of windows."""
    by = ["g", "key"]
    blank = pl.col("kind") == "blank"
    # a row with more cells than the form drops its layout padding first, when enough cells remain
    drop = values.group_by(by).agg(L=pl.len(), pads=pl.col("pad").sum()).with_columns(n=want).filter(
        (pl.col("L") > pl.col("n")) & (pl.col("L") - pl.col("pads") >= pl.col("n"))).select(*by, drop_pads=pl.lit(True))
    if not drop.is_empty():
        values = values.join(drop, on=by, how="left", maintain_order="left").filter(
            ~(pl.col("pad") & pl.col("drop_pads").fill_null(False))).drop("drop_pads").drop("pos").with_row_index("pos")
    v = values.with_columns(nbc=(~blank).cast(pl.Int64).cum_sum())
    stats = v.group_by(by).agg(
        p0=pl.col("pos").first(), L=pl.len().cast(pl.Int64), non_blank=(~blank).sum().cast(pl.Int64),
        first_nb=pl.col("pos").filter(~blank).first(), last_nb=pl.col("pos").filter(~blank).last(),
        nbc0=pl.col("nbc").first() - (~blank).first().cast(pl.Int64),
    ).with_columns(n=want)
    L, n = pl.col("L"), pl.col("n")
    excess = (L - n).clip(lower_bound=0)
    trailing = (pl.col("p0") + L - 1 - pl.col("last_nb")).fill_null(L)
    leading = (pl.col("first_nb") - pl.col("p0")).fill_null(L)
    stats = stats.with_columns(pop_t=pl.min_horizontal(trailing, excess)).with_columns(
        pop_l=pl.min_horizontal(leading, excess - pl.col("pop_t"))).with_columns(
        trimmed=L - pl.col("pop_t") - pl.col("pop_l") == n).with_columns(
        row_ok=pl.col("trimmed") | (pl.col("non_blank") == n))
    v = v.join(stats, on=by, maintain_order="left")
    i = pl.col("pos") - pl.col("p0")
    keep = (pl.when(pl.col("trimmed")).then((i >= pl.col("pop_l")) & (i < L - pl.col("pop_t")))
            .when(pl.col("non_blank") == n).then(~blank)
            .otherwise(pl.lit(False)))
    j = pl.when(pl.col("trimmed")).then(i - pl.col("pop_l")).otherwise(pl.col("nbc") - pl.col("nbc0") - 1)
    return v.filter(keep).with_columns(j=j)


def _clean(v: pl.DataFrame, *, integer: bool, negative_ok: pl.Expr) -> pl.Expr:
    """A cell no finding would question: a number (integral where the table counts) or a blank/dash."""
    kind, value = pl.col("kind"), pl.col("value")
    number_ok = value.is_not_null() & (value.abs() < 1_000_000_000) & ((value >= 0) | negative_ok)
    if integer:
        number_ok = number_ok & ~pl.col("frac")
    return pl.when(kind == "number").then(number_ok).otherwise(kind.is_in(["blank", "null"]))


def read_row_tables(regions: pl.DataFrame, patterns: Sequence[str], cells_per_row: Sequence[int], *, integer: bool,
                    negative_columns: frozenset[tuple[int, int]] = frozenset()) -> dict[int, list[list[float | None]]]:
    """Tables 2 and 3 of many documents (regions: g, region) → {g: row-major values} for those that read cleanly."""
    if regions.is_empty():
        return {}
    rust, namer = _namer(patterns)
    cells = cells_frame(regions)
    runs = _runs(cells).with_columns(label=pl.col("text").str.extract_all(rust)).explode("label")
    labels = runs.get_column("label").drop_nulls().unique().to_list()
    names = {s: namer(s) for s in labels}
    runs = runs.with_columns(
        key=pl.col("label").replace_strict(names, default=-1, return_dtype=pl.Int32)).filter(pl.col("key") >= 0)
    # form order: a label counts only when it comes after the last row found (match_rows' pointer)
    runs = runs.filter(pl.col("key") > pl.col("key").cum_max().shift(1, fill_value=-1).over("g"))
    found = runs.group_by("g").agg(n_found=pl.len())
    nrows = len(patterns)
    complete = found.filter(pl.col("n_found") == nrows).get_column("g")
    owners = runs.filter(pl.col("g").is_in(complete.implode())).group_by("g", "run", maintain_order=True).agg(
        key=pl.col("key").last(), n_values=pl.col("n_values").first())
    # every row must own a run with values: a row whose label is followed straight by the next label is missing
    owners = owners.filter(pl.col("n_values") > 0)
    values = cells.filter(pl.col("kind") != "text").join(owners.select("g", "run", "key"), on=["g", "run"],
                                                          maintain_order="left")
    want = pl.col("key").replace_strict(dict(enumerate(cells_per_row)), return_dtype=pl.Int64)
    fitted = _fit(values, want)
    neg = pl.lit(False)
    if negative_columns:
        neg = pl.concat_str(pl.col("key"), pl.col("j"), separator=":").is_in([f"{k}:{j}" for k, j in negative_columns])
    fitted = fitted.with_columns(ok=pl.col("row_ok") & _clean(fitted, integer=integer, negative_ok=neg))
    per_doc = fitted.group_by("g").agg(
        ok=pl.col("ok").all(), rows=pl.col("key").n_unique(), cells=pl.len())
    total_cells = sum(cells_per_row)
    good = per_doc.filter(pl.col("ok") & (pl.col("rows") == nrows) & (pl.col("cells") == total_cells)).get_column("g")
    out = fitted.filter(pl.col("g").is_in(good.implode())).sort("g", "key", "j").select(
        "g", "key", pl.when(pl.col("kind") == "number").then(pl.col("value")).alias("value"), "frac")
    result: dict[int, list[list[float | None]]] = {}
    starts = [0]
    for n in cells_per_row:
        starts.append(starts[-1] + n)
    for g, flat in _grouped(out):
        result[g] = [flat[starts[k]:starts[k + 1]] for k in range(nrows)]
    return result


def read_review_tables(regions: pl.DataFrame) -> dict[int, list[int | None]]:
    """Table 4 of many documents → {g: 15 values} for those that read cleanly."""
    if regions.is_empty():
        return {}
    cells = cells_frame(regions)
    runs = _runs(cells).with_columns(
        header=(pl.col("text").str.contains(_RL_HEADER_END) | pl.col("text").str.contains("维持", literal=True))
        .cast(pl.Int8).cum_max().over("g") > 0)
    # the numbers follow the header; the first run after it with anything printed
    chosen = runs.filter(pl.col("header") & pl.col("any_value")).group_by("g").agg(pl.col("run").first())
    values = cells.filter(pl.col("kind") != "text").join(chosen, on=["g", "run"], maintain_order="left").with_columns(
        key=pl.lit(0))
    fitted = _fit(values, pl.lit(15))
    fitted = fitted.with_columns(ok=pl.col("row_ok") & _clean(fitted, integer=True, negative_ok=pl.lit(False)))
    good = fitted.group_by("g").agg(ok=pl.col("ok").all(), cells=pl.len()).filter(
        pl.col("ok") & (pl.col("cells") == 15)).get_column("g")
    out = fitted.filter(pl.col("g").is_in(good.implode())).sort("g", "j").select(
        "g", pl.when(pl.col("kind") == "number").then(pl.col("value")).alias("value"), "frac")
    return dict(_grouped(out))


def _grouped(out: pl.DataFrame):
    """(g, the document's values in order): whole numbers as int, decimals as float, blanks None. Whole-number
    documents (nearly all) come straight from an integer column; only those with a decimal go cell by cell."""
    agg = out.group_by("g", maintain_order=True).agg(
        ints=pl.when(~pl.col("frac")).then(pl.col("value")).cast(pl.Int64), values=pl.col("value"), fracs=pl.col("frac"),
        any_frac=pl.col("frac").any())
    for g, ints, values, fracs, any_frac in zip(*(agg.get_column(c).to_list() for c in agg.columns), strict=True):
        if not any_frac:
            yield g, ints
        else:
            yield g, [_number(v, f) for v, f in zip(values, fracs, strict=True)]


def _number(v: float | None, frac: bool | None) -> int | float | None:
    if v is None:
        return None
    return v if frac else int(v)


def regions_frame(items: Sequence[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame({"g": [g for g, _ in items], "region": [r for _, r in items]},
                        schema={"g": pl.Int64, "region": pl.String})


def active_disclosure_spec(version: str) -> tuple[list[str], list[int], frozenset[tuple[int, int]]]:
    items = form.ACTIVE_DISCLOSURE[version]
    negative = frozenset((k, j) for k, it in enumerate(items) for j, m in enumerate(it.measures) if m == "change")
    return [it.pattern for it in items], [len(it.measures) for it in items], negative


def applications_spec(version: str) -> tuple[list[str], list[int]]:
    rows = form.APPLICATION_ROWS[version]
    return [r.pattern for r in rows], [7] * len(rows)
