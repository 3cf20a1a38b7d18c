"""Table 4 (行政复议、行政诉讼): its 15 cells after the header, 总计-first and two-year printings, groups read by their labels."""

from __future__ import annotations

import re

from schemas import form
from tasks.parse.applications import LABEL_EDITS_MAX, edits, year_order
from tasks.parse.cells import (
    REVIEW_HEADER_END_RE,
    Cell,
    Fit,
    Run,
    fit_cells,
    review_total_first,
    sums_rule,
    to_runs,
)
from tasks.parse.extracted import Extracted, finding
from tasks.parse.tables import agreed, ambiguous, cells_for, checked


def extract_review_litigation(region: str | None, flattened: bool, out: Extracted) -> list | None:
    if region is None:
        out.findings.append(finding("review_litigation_incomplete", "table 4 (行政复议、行政诉讼) not found", table="review_litigation"))
        return None
    runs = to_runs(cells_for(region, flattened))
    # The numbers follow the header (…尚未审结 总计); prose before the table may also hold numbers.
    chosen: list[Cell] | None = None
    header_seen = False
    for run in runs:
        header_seen = header_seen or bool(REVIEW_HEADER_END_RE.search(run.text) or "维持" in run.text)
        if header_seen and any(c.kind != "blank" for c in run.values):
            chosen = run.values
            break
    if chosen is None:
        candidates = [r.values for r in runs if r.values]
        chosen = max(candidates, key=len) if candidates else []
    if review_total_first(region):
        return _review_total_back(runs, chosen, flattened, out)
    years = _review_two_years(runs, chosen)
    if years is not None:
        if years[0] is None:
            out.findings.append(ambiguous("review_litigation", None, None, "review_litigation",
                                           "two years' figures (two blocks of 15 keeping their totals) and no header "
                                           "or row label saying which is this year's"))
            return [None] * 15
        return [checked(c, "review_litigation", form.REVIEW_GROUPS[j // 5], form.REVIEW_OUTCOMES[j % 5],
                         f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(years)]
    fit = fit_cells(chosen, 15, sums=(3, 4))
    if fit.cells is None and not fit.candidates and not flattened:
        fit = _review_by_group(runs, out) or fit
    if fit.cells is None and not fit.candidates:
        if fit.problem in ("ambiguous", "unsplittable"):
            out.findings.append(ambiguous("review_litigation", None, None, "review_litigation",
                                           "fused digits cannot be split back into 15 cells"))
            return [None] * 15
        n = sum(1 for c in chosen if c.kind != "blank")
        out.findings.append(finding("review_litigation_incomplete", f"table 4 has {n} of its 15 numbers",
                                    table="review_litigation", expected=15, actual=n))
        return None
    labels = [f"{g}.{o}" for g in form.REVIEW_GROUPS for o in form.REVIEW_OUTCOMES]
    if fit.cells is not None:
        if fit.problem == "extra_cells":
            out.findings.append(finding("review_litigation_extra_cells", "table 4 has more than 15 cells; the first 15 kept",
                                        severity="warning", table="review_litigation"))
        return [checked(c, "review_litigation", labels[j].split(".")[0], labels[j].split(".")[1],
                         f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(fit.cells)]
    assert fit.candidates is not None
    return [agreed(fit.candidates, j, "review_litigation", labels[j].split(".")[0], labels[j].split(".")[1],
                    f"review_litigation[{j}]", out) for j in range(15)]


def _review_total_back(runs: list[Run], chosen: list[Cell], flattened: bool, out: Extracted) -> list | None:
    """Table 4 with each group's 总计 printed first: its five cells moved back to the form's order, where every cell is
    a number and no group keeps its total only as printed (values left in form order under a reordered header).
    Otherwise null with a finding: no reading of the form's order is trusted under this header."""
    fit = fit_cells(chosen, 15)
    if fit.cells is None or fit.problem:
        fit = (_review_by_group(runs, out) if not flattened else None) or fit
    cells = fit.cells
    if cells is not None and not fit.problem and all(c.kind == "number" for c in cells):
        groups = [cells[5 * g:5 * g + 5] for g in range(3)]
        values = [[c.value for c in g] for g in groups]
        if not any(sum(v[:4]) == v[4] and sum(v[1:]) != v[0] for v in values):
            moved = [c for g in groups for c in (*g[1:], g[0])]
            return [checked(c, "review_litigation", form.REVIEW_GROUPS[j // 5], form.REVIEW_OUTCOMES[j % 5],
                             f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(moved)]
    out.findings.append(ambiguous("review_litigation", None, None, "review_litigation",
                                   "a header printing 总计 before each group's outcomes, over cells that do not read "
                                   "in that order"))
    return [None] * 15


def _review_two_years(runs: list[Run], chosen: list[Cell]) -> list[Cell] | list[None] | None:
    """Table 4 printing last year's figures beside or below this year's: one run of 30 number cells, or two rows of
    15 (labelled 本年/上年), each block keeping the groups' totals. This year's 15 cells where the header's or the
    rows' year words say which block is whose (or both blocks are the same); [None] where they do not; None where
    table 4 is not laid out so."""
    rule = sums_rule(3, 4)

    def block(values: list[Cell]) -> list[Cell] | None:
        v = [c for c in values if not c.pad and c.kind != "blank"]
        return v if len(v) == 15 and all(c.kind == "number" for c in v) and rule(tuple(c.value for c in v)) else None

    at = next((i for i, r in enumerate(runs) if r.values is chosen), None)
    if at is None:
        return None
    v = [c for c in chosen if not c.pad and c.kind != "blank"]
    header = runs[at].text[runs[at].text.rfind("。") + 1:]
    if len(v) == 30 and block(v[:15]) and block(v[15:]):
        blocks, order = [v[:15], v[15:]], year_order(header)
    else:
        first = block(chosen)
        second = next((r for r in runs[at + 1:] if block(r.values)), None) if first else None
        if first is None or second is None:
            return None
        blocks = [first, block(second.values)]  # type: ignore[list-item]
        order = year_order(header[-6:] + "|" + second.text[-6:])  # the rows' own labels
    if [c.value for c in blocks[0]] == [c.value for c in blocks[1]]:
        return blocks[0]
    half = {"current_first": 0, "previous_first": 1}.get(order or "")
    return [None] if half is None else blocks[half]


# A group's label ending a label run (what follows it: closing brackets, a colon)
_RL_GROUP_END_RE = re.compile(r"(行政复议|未经复议直接起诉|复议后起诉)[)\]】:]*$")


def _review_by_group(runs: list[Run], out: Extracted | None = None) -> Fit | None:
    """Table 4 laid out a group a row (`行政复议 | 72 | 64 | 178 | 37 | 351 |`, then the two kinds of suit), as some
    reports print it instead of the form's one row: each group's label, in form order, followed by exactly its
    five cells. A group label damaged in print (行政复仪, 未经复议直接起拆: within a quarter of its length in edits,
    LABEL_EDITS_MAX at most) is accepted only where the other groups' labels are matched and its five cells are
    numbers keeping the group's total rule (结果维持+结果纠正+其他结果+尚未审结 = 总计); each such label is a
    label_variant warning. Anything else stays missing."""
    names = form.REVIEW_GROUP_LABELS
    groups: list[list[Cell]] = []
    damaged: list[tuple[int, str]] = []
    for run in runs:
        if not run.values:
            continue
        m = _RL_GROUP_END_RE.search(run.text)
        if m is None:
            seen = _group_label_seen(run.text, names[len(groups)])
            if seen is None:
                continue
            damaged.append((len(groups), seen))
        elif names[len(groups)] != m.group(1):
            return None
        fit = fit_cells(run.values, 5)
        if fit.cells is None or fit.problem:
            return None
        groups.append(fit.cells)
        if len(groups) == len(form.REVIEW_GROUPS):
            break
    else:
        return None
    for g, _ in damaged:
        cells = groups[g]
        if len(damaged) > 1 or any(c.kind != "number" for c in cells) or sum(c.value for c in cells[:4]) != cells[4].value:
            return None
    for g, seen in damaged:
        if out is not None:
            out.findings.append(finding(
                "label_variant", f"table 4 group {form.REVIEW_GROUPS[g]} read under the label {seen!r} (the form prints "
                f"{names[g]!r}): the other groups matched and its cells keep the group's total", severity="warning",
                table="review_litigation", row=form.REVIEW_GROUPS[g], expected=names[g], actual=seen))
    return Fit([c for g in groups for c in g])


def _group_label_seen(text: str, label: str) -> str | None:
    """The end of a label run that is `label` damaged (a character or so changed, dropped or added), or None."""
    tail = text.rstrip(")]】:：|")
    limit = min(LABEL_EDITS_MAX, len(label) // 4)
    seen = [(edits(tail[-n:], label, limit), -n, tail[-n:]) for n in range(len(label) - limit, len(label) + limit + 1)
            if 0 < n <= len(tail)]
    best = min(seen, default=None)
    return best[2] if best is not None and 0 < best[0] <= limit else None
