"""Table 3 (收到和处理政府信息公开申请情况): rows by their labels (damaged labels, labels standing apart from their values),
the applicant columns as the header prints them (总计 first, two years side by side), a merged (六)其他处理 row."""

from __future__ import annotations

import re
from typing import Any

from schemas import form
from tasks.parse.cells import (
    Cell,
    Fit,
    combine,
    fit_cells,
    label_spans,
    line_cells,
    sums_rule,
    to_runs,
)
from tasks.parse.extracted import Extracted, finding
from tasks.parse.tables import agreed, ambiguous, checked, find_rows


def extract_applications(region: str | None, version: str, flattened: bool, out: Extracted, *,
                         merged_other: bool = False, prose: str = "") -> dict | None:
    """Table 3. `merged_other`: a 2021 table printing (六)其他处理 as one row, read as that row, then split: an
    all-zero row gives its three sub-rows 0; any other leaves them null (ambiguous_value), the printed group total in
    the finding."""
    if merged_other and version == "2021":
        table = extract_applications(region, "2019", flattened, out, prose=prose)
        return None if table is None else _split_merged_other(table, out)
    rows = form.APPLICATION_ROWS[version]
    if region is None:
        out.findings.append(finding("applications_incomplete", "table 3 (申请情况) not found", table="applications"))
        return None
    patterns = [r.label_pattern for r in rows]
    found = find_rows(region, flattened, patterns)
    if found and not flattened and len(found) < len(rows):
        _damaged_labels(region, rows, patterns, found, out)
    # labels apart from their values leave a label with none (two labels together): only then is it looked for
    unsettled = _detached_labels(region, rows, patterns, found, prose, out) \
        if found and not flattened and not all(found.values()) else set()
    if not found:
        out.findings.append(finding("applications_incomplete", "table 3 (申请情况) has no rows", table="applications",
                                    expected=len(rows), actual=0))
        return None
    fits: dict[str, Fit] = {}
    columns = applicant_columns(region)
    for i, row in enumerate(rows):
        if i not in found:
            fits[row.key] = Fit(None, problem="incomplete")
        else:
            fits[row.key] = fit_cells(found[i], 7, sums=(1, 6))
    if columns == "total_first":
        _total_back_in_place(fits, {row.key: found[i] for i, row in enumerate(rows) if i in found})
    years = _two_years(found, rows, columns)
    if flattened:
        _settle_by_columns(fits, rows)
    table: dict[str, list[Any]] = {}
    missing = []
    for i, row in enumerate(rows):
        fit = fits[row.key]
        if i in years:
            if years[i] is None:
                table[row.key] = [None] * 7
                out.findings.append(ambiguous("applications", row.key, None, f"applications.{row.key}",
                                               "two years' figures side by side (14 cells keeping both years' sums) "
                                               "under a header that does not say which block is this year's"))
                continue
            fit = Fit(years[i])
        if fit.cells is not None:
            table[row.key] = [
                checked(c, "applications", row.key, form.APPLICANTS[j], f"applications.{row.key}[{j}]", out, integer=True)
                for j, c in enumerate(fit.cells)]
            if fit.problem == "extra_cells":
                out.findings.append(finding("applications_extra_cells", f"row {row.key} has more than 7 cells; the first 7 kept",
                                            severity="warning", table="applications", row=row.key))
        elif fit.candidates:
            table[row.key] = [agreed(fit.candidates, j, "applications", row.key, form.APPLICANTS[j],
                                      f"applications.{row.key}[{j}]", out) for j in range(7)]
        else:
            table[row.key] = [None] * 7
            if row.key in unsettled:
                out.findings.append(ambiguous("applications", row.key, None, f"applications.{row.key}",
                                               "its label stands apart from its values (labels printed together, "
                                               "a row of values under no label): which row is whose is not settled"))
            elif fit.problem in ("ambiguous", "unsplittable"):
                out.findings.append(ambiguous("applications", row.key, None, f"applications.{row.key}",
                                               "fused digits cannot be split back into 7 cells"))
            else:
                missing.append(row.key)
    if missing:
        out.findings.append(finding(
            "applications_incomplete", f"table 3 rows missing or short: {', '.join(missing)}", table="applications",
            row=",".join(missing), expected=len(rows), actual=len(rows) - len(missing)))
    return table


# Table 3's applicant columns as the header prints them (the text before its first row, white space removed).
# The form: 自然人 | 法人或其他组织 (five) | 总计. Seen otherwise: 总计 first (总计 | 自然人 | 法人或其他组织…), and a
# report printing last year's table beside this year's (本年 … | 上年 …: 14 cells a row). Words naming this year's
# and last year's block:
CURRENT_YEAR_WORDS = ("本年", "今年", "本期")
PREVIOUS_YEAR_WORDS = ("上年", "去年", "上期", "同期")
_TABLE3_FIRST_ROW_RE = re.compile(r"本年新收|[一1][、.]?本年")


def applicant_columns(region: str) -> str:
    """"form", "total_first", "current_first" or "previous_first" (two years side by side, this year's block first
    or last), or "years_unsaid" (both or neither year word: the order is not told)."""
    head = "".join(region[:1500].split())
    m = _TABLE3_FIRST_ROW_RE.search(head)
    head = head[:m.start()] if m else head[:300]
    head = head[head.rfind("。") + 1:]  # the header, not the prose above it (较上年增加…。)
    if "总计" in head and "自然人" in head and head.index("总计") < head.index("自然人"):
        return "total_first"
    return year_order(head) or "form"


def year_order(head: str) -> str | None:
    """"current_first" / "previous_first" by the year words a header prints, "years_unsaid" where it prints only
    one kind, None where none."""
    cur = [head.find(w) for w in CURRENT_YEAR_WORDS if w in head]
    prev = [head.find(w) for w in PREVIOUS_YEAR_WORDS if w in head]
    if cur and prev:
        return "current_first" if min(cur) < min(prev) else "previous_first"
    return "years_unsaid" if cur or prev else None


def _total_back_in_place(fits: dict[str, Fit], found: dict[str, list[Cell]]) -> None:
    """A header printing 总计 first (总计 | 自然人 | 法人或其他组织…): each row's first cell moved back to the form's
    last place, unless a row keeps its sum only as printed (a PDF's text putting a tall header cell first while the
    values stay in form order). Rows keeping it both ways (5 0 0 0 0 0 5) follow the header."""
    moved: dict[str, Fit] = {}
    for key, cells in found.items():
        fit = fit_cells(cells, 7)
        if fit.cells is None or fit.problem:  # fused or extra cells: their reading assumed the form's order
            moved[key] = Fit(None, problem="incomplete")
            continue
        if all(c.kind == "number" for c in fit.cells):
            v = [c.value for c in fit.cells]
            if sum(v[:6]) == v[6] and sum(v[1:]) != v[0]:
                return
        moved[key] = Fit(fit.cells[1:] + fit.cells[:1])
    fits.update(moved)


def _two_years(found: dict[int, list[Cell]], rows: tuple[form.Row, ...], columns: str) -> dict[int, list[Cell] | None]:
    """Rows printing two years' figures side by side (14 number cells, each block of 7 keeping its sum): {row index:
    this year's 7 cells, or None where the header does not say which block is this year's}. Empty where no row is
    laid out so: then any extra cells are what fit_cells makes of them."""
    rule = sums_rule(2, 6)
    both = {}
    for i, cells in found.items():
        vals = [c for c in cells if not c.pad and c.kind != "blank"]
        if len(vals) == 14 and all(c.kind == "number" for c in vals) and rule(tuple(c.value for c in vals)):
            both[i] = vals
    if not both:
        return {}
    half = {"current_first": 0, "previous_first": 1}.get(columns)
    return {i: vals[:7] if half is None and [c.value for c in vals[:7]] == [c.value for c in vals[7:]] else None if half is None
            else vals[7 * half:7 * half + 7] for i, vals in both.items()}


_OTHER_SUB_ROWS = ("other_no_correction", "other_unpaid_fee", "other_misc")


def _split_merged_other(table: dict[str, list[Any]], out: Extracted) -> dict[str, list[Any]]:
    merged = table.pop("other")
    split: list[list[Any]]
    if merged is not None and all(v == 0 for v in merged):
        split = [[0] * 7 for _ in _OTHER_SUB_ROWS]
    else:
        split = [[None] * 7 for _ in _OTHER_SUB_ROWS]
        if merged is not None and any(v is not None for v in merged):
            for key in _OTHER_SUB_ROWS:
                out.findings.append(finding(
                    "ambiguous_value", f"applications.{key}: (六)其他处理 printed as one row ({merged}); its total "
                    "is known, its split into the form's three sub-rows is not", table="applications", row=key,
                    field_=f"applications.{key}", actual=merged))
    rows = {}
    for key, values in table.items():
        if key == "total":
            rows.update(zip(_OTHER_SUB_ROWS, split, strict=True))
        rows[key] = values
    for f in out.findings:  # a merged row missing is its three sub-rows missing
        if f["rule"] == "applications_incomplete" and f["row"] and "other" in f["row"].split(","):
            parts: list[str] = []
            for r in f["row"].split(","):
                parts.extend(_OTHER_SUB_ROWS if r == "other" else (r,))
            f["row"] = ",".join(parts)
    return rows


# A damaged label (characters dropped or changed: 2.其他法律行政法禁公开) is accepted for the row between two matched
# neighbours when it is this close to the form's label (edits, at most, and at most a quarter of its length).
LABEL_EDITS_MAX = 3


def _damaged_labels(region: str, rows: tuple[form.Row, ...], patterns: list[str], found: dict[int, list[Cell]],
                    out: Extracted) -> None:
    """Rows whose label did not match, read under a damaged label: only between two matched neighbours (the rows
    before and after it found, with values), from the one value run between them, when the label text there is
    within LABEL_EDITS_MAX edits of the form's label (its item number the same) and the values satisfy the row's
    sum rule. Each is a label_variant warning naming the row and the text seen. Anything else stays missing."""
    runs = to_runs(line_cells(region))
    text = "".join(run.text for run in runs)
    spans = {k: (start, end) for k, start, end in label_spans(combine(patterns), text)}
    ends, at = [], 0
    for run in runs:
        at += len(run.text)
        ends.append(at)
    for i, row in enumerate(rows):
        if i in found or not found.get(i - 1) or not found.get(i + 1) or i - 1 not in spans or i + 1 not in spans:
            continue
        a, b = spans[i - 1][1], spans[i + 1][0]
        owned = [(run.values, e) for run, e in zip(runs, ends, strict=True)
                 if a < e <= b and run.values and not all(c.pad for c in run.values)]
        if len(owned) != 1:
            continue
        # the label before its values, or wrapped around them (a PDF prints them beside its first line); the text
        # after them may be the next group's header ((五)不予处理)
        seen = _label_seen(text[a:owned[0][1]], row.label) or _label_seen(text[a:b], row.label)
        if seen is None:
            continue
        owned = [owned[0][0]]
        fit = fit_cells(list(owned[0]), 7, sums=(1, 6))
        if fit.cells is None or fit.problem or not all(c.kind == "number" for c in fit.cells):
            continue
        values = [c.value for c in fit.cells]
        if sum(values[:6]) != values[6]:
            continue
        found[i] = list(owned[0])
        out.findings.append(finding(
            "label_variant", f"table 3 row {row.key} read under the label {seen!r} (the form prints {row.label!r}): "
            "its neighbours matched and its values keep the row's sum", severity="warning", table="applications",
            row=row.key, expected=row.label, actual=seen))


# Figures the prose gives for a whole group of table 3 (the total column): they can settle which row is whose where
# labels stand apart from their values. 2021 form and 2019 form alike.
NARRATIVE_GROUPS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"(?:同意公开|予以公开)(?:答复)?(?:的)?\s*(\d+)\s*件"), ("granted",)),
    (re.compile(r"不予公开(?:的)?\s*(\d+)\s*件"), tuple(r.key for r in form.APPLICATION_ROWS_2021 if r.key.startswith("denied_"))),
    (re.compile(r"无法提供(?:的)?\s*(\d+)\s*件"), tuple(r.key for r in form.APPLICATION_ROWS_2021 if r.key.startswith("unavailable_"))),
    (re.compile(r"不予处理(?:的)?\s*(\d+)\s*件"), tuple(r.key for r in form.APPLICATION_ROWS_2021 if r.key.startswith("not_processed_"))),
    (re.compile(r"其他处理(?:的)?\s*(\d+)\s*件"), ("other", "other_no_correction", "other_unpaid_fee", "other_misc")),
)


def _detached_labels(region: str, rows: tuple[form.Row, ...], patterns: list[str], found: dict[int, list[Cell]],
                     prose: str, out: Extracted) -> set[str]:
    """Labels printed apart from their values (a PDF-to-markdown conversion): two or more labels together followed by
    one row of values, and a row of values later under no label (after another row's own). Which values are whose
    is not told by their order: each way of giving the value rows to those labels is kept only where every row keeps
    its sum rule and the prose's figures for the groups (无法提供的10件, 其他处理14件 …) hold. One way left: the rows
    get it (a label_detached warning). Otherwise their keys are returned (null, ambiguous_value) — never the last
    label's guess."""
    import itertools as it

    runs = to_runs(line_cells(region))
    text = "".join(run.text for run in runs)
    spans = label_spans(combine(patterns), text)
    bounds, at = [], 0
    for run in runs:
        bounds.append((at, at + len(run.text)))
        at += len(run.text)
    for r, (run, (start, end)) in enumerate(zip(runs, bounds, strict=True)):
        values = [c for c in run.values if not c.pad]
        bare = [k for k, s0, e0 in spans if start <= s0 and e0 <= end]
        if len(bare) < 2 or len(values) != 7:
            continue
        later = [(q, [c for c in runs[q].values if not c.pad]) for q in range(r + 1, len(runs))]
        orphan = next(((q, vals) for q, vals in later if len(vals) == 14), None)
        if orphan is None:
            continue
        q, vals = orphan
        owner = next((k for k, s0, e0 in spans if bounds[q][0] <= s0 and e0 <= bounds[q][1]), None)
        if owner is None:
            continue
        pool = [values, vals[7:]]
        keys = [rows[k].key for k in bare[-2:]]

        def fits(assign: tuple[list[Cell], ...], keys: list[str] = keys) -> bool:
            for cells in assign:
                if any(c.kind != "number" for c in cells) or sum(c.value for c in cells[:6]) != cells[6].value:
                    return False
            given = dict(zip(keys, assign, strict=True))
            for rx, group in NARRATIVE_GROUPS:
                m = rx.search(prose)
                if m is None or not any(k in given for k in group):
                    continue
                known = [found.get(i) for i, row in enumerate(rows) if row.key in group and row.key not in given]
                if any(not cells or len(cells) < 7 or cells[6].kind != "number" for cells in known):
                    continue  # a row of the group unread: the figure cannot be checked
                total = sum(cells[6].value for cells in known) + sum(given[k][6].value for k in given if k in group)
                if total != int(m.group(1)):
                    return False
            return True

        ways = [assign for assign in it.permutations(pool) if fits(assign)]
        found[owner] = vals[:7]
        for k in bare[:-2]:
            found.pop(k, None)
        if len({tuple(c.value for cells in w for c in cells) for w in ways}) == 1:
            for k, cells in zip(bare[-2:], ways[0], strict=True):
                found[k] = list(cells)
            out.findings.append(finding(
                "label_detached", f"table 3 rows {', '.join(keys)}: labels printed apart from their values; the values "
                "placed by the rows' sum rules and the prose's figures", severity="warning", table="applications",
                row=",".join(keys)))
            return set()
        for k in bare[-2:]:
            found.pop(k, None)
        return set(keys)
    return set()


_LABEL_MARK_RE = re.compile(r"^(?:\d[.、]|\([一二三四五六七八九十]\)|[一二三四五六七八九十]、)")


def _label_seen(window: str, label: str) -> str | None:
    """The text in `window` (between two matched labels, white space removed) that is the damaged `label`, or None."""
    mark = _LABEL_MARK_RE.match(label)
    body = label[mark.end():] if mark else label
    if mark:
        digit = mark.group(0)[0]
        at = max(window.rfind(digit + "."), window.rfind(digit + "、")) if digit.isdigit() else window.rfind(mark.group(0))
        if at < 0:
            return None
        seen = window[at:]
        seen_body = seen[len(mark.group(0)):]
    else:
        seen = seen_body = _LABEL_MARK_RE.sub("", window)
    limit = min(LABEL_EDITS_MAX, len(body) // 4)
    if not seen_body or edits(seen_body, body, limit) > limit:
        return None
    return seen


def edits(a: str, b: str, limit: int) -> int:
    """Levenshtein distance between a and b, counted only up to limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > limit:
            return limit + 1
        prev = cur
    return prev[-1]


def _settle_by_columns(fits: dict[str, Fit], rows: tuple[form.Row, ...]) -> None:
    """Use the column rules to choose among fused-digit splits that each satisfy their own row rule."""
    outcome = [r.key for r in rows if r.group == "outcome"]
    identity = ["new_received", "carried_over", "total", "carried_forward"]

    def settled(key: str) -> tuple[int, ...] | None:
        f = fits.get(key)
        if f is None:
            return None
        if f.candidates and len(f.candidates) == 1:
            return f.candidates[0]
        if f.cells is not None and all(c.kind == "number" for c in f.cells):
            return tuple(int(c.value) for c in f.cells)  # type: ignore[arg-type]
        return None

    for _ in range(len(rows)):
        progress = False
        for key, f in fits.items():
            if not f.candidates or len(f.candidates) < 2:
                continue
            keep = list(f.candidates)
            if key in identity and all(settled(k) is not None for k in identity if k != key):
                v = {k: settled(k) for k in identity if k != key}

                def ok_identity(c, v=v, key=key):
                    vals = dict(v, **{key: c})
                    return all(vals["new_received"][j] + vals["carried_over"][j] == vals["total"][j] + vals["carried_forward"][j]
                               for j in range(7))
                keep = [c for c in keep if ok_identity(c)] or keep
            if (key in outcome or key == "total") and all(settled(k) is not None for k in [*outcome, "total"] if k != key):
                v = {k: settled(k) for k in [*outcome, "total"] if k != key}

                def ok_detail(c, v=v, key=key):
                    vals = dict(v, **{key: c})
                    return all(sum(vals[k][j] for k in outcome) == vals["total"][j] for j in range(7))
                keep = [c for c in keep if ok_detail(c)] or keep
            if len(keep) < len(f.candidates):
                fits[key] = Fit([Cell("number", str(x), x) for x in keep[0]], candidates=keep) if len(keep) == 1 \
                    else Fit(None, candidates=keep, problem="ambiguous")
                progress = True
        if not progress:
            break
