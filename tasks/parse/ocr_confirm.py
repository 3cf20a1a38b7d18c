"""Numbers read by OCR kept only where the form's own sum rules confirm them (pure functions over one record).

The rules are the ones `tasks/rules/within_report.py` checks over a batch (`tests/test_ocr_confirm.py` holds the two to the
same verdicts), written here cell by cell so that a failure can be pinned on cells:

- table 3, every row: 总计 = the six applicant columns;
- table 3, every column: 一 + 二 = (七)总计 + 四, and (七)总计 = the sum of the detail rows of 三;
- table 4, every group: 总计 = 维持 + 纠正 + 其他 + 尚未审结.

Failing rules are explained by the fewest misread cells that account for all of them at once (a linear system
over the corrections: a misread digit fails its row and its column by the same amount); every cell of every such
smallest explanation is *suspect*, so of two equally good explanations neither is chosen (two 9s read as 6 in one
row keep the row's sum: the columns fail, and every row that could hold the pair is suspect). A kept cell must also
lie in a rule that holds over cells none of which is suspect; suspects spread until nothing changes. Suspect cells with other readings (the cell read again alone: `tasks.parse.ocr.OcrCell.candidates`) are
tried, and a set of readings is taken only when it is the one set that leaves no suspect in the rules it touches.
What stays suspect is null with an `ocr_unconfirmed` finding naming the cell — never a guess. Table 2 has no sum
rule, so OCR keeps none of its numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas import form
from tasks.parse.extracted import Extracted, finding

Cell = tuple[str, str, int]  # ("applications", row_key, column index) or ("review_litigation", "", index)
MAX_TRIES = 256  # combinations of other readings tried at most per document


@dataclass(frozen=True)
class Rule:
    name: str
    lhs: tuple[Cell, ...]
    rhs: tuple[Cell, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self.lhs + self.rhs


def rules(version: str | None) -> list[Rule]:
    """Every within-report sum rule of the form, cell by cell (table 3 of `version`, table 4)."""
    out: list[Rule] = []
    rows = form.APPLICATION_ROWS.get(version or "", ())
    for r in rows:
        out.append(Rule(f"applications_row_total:{r.key}", tuple(("applications", r.key, j) for j in range(6)),
                        (("applications", r.key, 6),)))
    keys = {r.key for r in rows}
    if {"new_received", "carried_over", "total", "carried_forward"} <= keys:
        details = [r.key for r in rows if r.group == "outcome"]
        for j in range(len(form.APPLICANTS)):
            out.append(Rule(f"applications_column_identity:{j}",
                            (("applications", "new_received", j), ("applications", "carried_over", j)),
                            (("applications", "total", j), ("applications", "carried_forward", j))))
            out.append(Rule(f"applications_detail_sum:{j}", tuple(("applications", k, j) for k in details),
                            (("applications", "total", j),)))
    for g in range(len(form.REVIEW_GROUPS)):
        out.append(Rule(f"review_litigation_total:{g}", tuple(("review_litigation", "", g * 5 + i) for i in range(4)),
                        (("review_litigation", "", g * 5 + 4),)))
    return out


def _holds(rule: Rule, values: dict[Cell, Any]) -> bool | None:
    """True/False when every cell of the rule has a value, None when it cannot be judged."""
    vals = [values.get(c) for c in rule.cells]
    if any(v is None for v in vals):
        return None
    return sum(values[c] for c in rule.lhs) == sum(values[c] for c in rule.rhs)


MAX_ERRORS = 3  # misread cells explained at most per table (more: every cell of a failing rule is suspect)


def _solvable(errors: Sequence[Cell], rule_list: Sequence[Rule], gap: dict[Rule, int]) -> bool:
    """Can corrections of `errors` alone make every judged rule hold? (A linear system over the corrections: one
    equation per rule touching them, solved exactly by elimination over fractions.)"""
    from fractions import Fraction

    index = {c: i for i, c in enumerate(errors)}
    rows: list[list[Fraction]] = []
    for r in rule_list:
        if r not in gap:
            continue
        coeffs = [Fraction(0)] * len(errors)
        touched = False
        for c in r.lhs:
            if c in index:
                coeffs[index[c]] += 1
                touched = True
        for c in r.rhs:
            if c in index:
                coeffs[index[c]] -= 1
                touched = True
        if not touched:
            if gap[r]:
                return False
            continue
        rows.append([*coeffs, Fraction(-gap[r])])
    n = len(errors)
    rank = 0
    for col in range(n):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                f = rows[i][col] / rows[rank][col]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return all(any(v != 0 for v in row[:n]) or row[n] == 0 for row in rows)


def _error_sets(failing: list[Rule], rule_list: Sequence[Rule], gap: dict[Rule, int]) -> set[Cell] | None:
    """Every cell of every smallest set of cells whose misreading explains all failing rules (None: more than
    MAX_ERRORS would be needed). Sets are built as hitting sets of the failing rules, each checked for a
    correction that leaves every other judged rule holding."""
    for k in range(1, MAX_ERRORS + 1):
        found = _hitting(failing, rule_list, gap, k)
        if found:
            return found
    return None


def _hitting(failing: list[Rule], rule_list: Sequence[Rule], gap: dict[Rule, int], k: int) -> set[Cell]:
    """The cells of every set of at most k cells that hits every failing rule and can explain the failures."""
    found: set[Cell] = set()
    seen: set[frozenset[Cell]] = set()
    stack: list[tuple[Cell, ...]] = [()]
    while stack:
        chosen = stack.pop()
        open_rules = [r for r in failing if not any(c in chosen for c in r.cells)]
        if not open_rules:
            key = frozenset(chosen)
            if key not in seen:
                seen.add(key)
                if _solvable(chosen, rule_list, gap):
                    found.update(chosen)
            continue
        if len(chosen) < k:
            stack.extend((*chosen, c) for c in min(open_rules, key=lambda r: len(r.cells)).cells)
    return found


def suspects(values: dict[Cell, Any], rule_list: Sequence[Rule]) -> set[Cell]:
    """The cells the rules do not confirm (see the module's docstring); cells without a value are not listed.

    Failing rules are explained by the fewest misread cells that can account for all of them at once (a wrong
    digit fails its row and its column by the same amount): every cell of every such smallest explanation is
    suspect — two readings of equal standing are never chosen between. Then a kept cell must lie in a rule that
    holds over cells none of which is suspect."""
    gap: dict[Rule, int] = {}
    for r in rule_list:
        vals = [values.get(c) for c in r.cells]
        if all(v is not None for v in vals):
            gap[r] = sum(values[c] for c in r.lhs) - sum(values[c] for c in r.rhs)
    failing = [r for r, g in gap.items() if g]
    bad: set[Cell] = set()
    if failing:
        explained = _error_sets(failing, rule_list, gap)
        bad = explained if explained is not None else {c for r in failing for c in r.cells}
    holding = [r for r, g in gap.items() if not g]
    by_cell: dict[Cell, list[Rule]] = {}
    for r in holding:
        for c in r.cells:
            by_cell.setdefault(c, []).append(r)
    bad |= {c for c, v in values.items() if v is not None and c not in by_cell}
    while True:
        grown = set(bad)
        for c, rs in by_cell.items():
            if c not in grown and not any(all(x not in grown for x in r.cells) for r in rs):
                grown.add(c)
        if grown == bad:
            return {c for c in bad if values.get(c) is not None}
        bad = grown


def _as_int(text: str) -> int | None:
    t = text.replace(",", "")
    return int(t) if t.isdigit() else None


def _field(cell: Cell) -> str:
    table, row, j = cell
    return f"applications.{row}[{j}]" if table == "applications" else f"review_litigation[{j}]"


def record_values(record: dict[str, Any]) -> dict[Cell, Any]:
    values: dict[Cell, Any] = {}
    for key, row in (record.get("applications") or {}).items():
        for j, v in enumerate(row or ()):
            values[("applications", key, j)] = v
    for j, v in enumerate(record.get("review_litigation") or ()):
        values[("review_litigation", "", j)] = v
    return values


def ocr_cells(record: dict[str, Any], lines) -> dict[Cell, Any]:
    """The OCR cell behind each value: the ruled OCR lines whose value cells read exactly as a table's row, in
    order (a row the parser read from elsewhere, or differently, has none)."""
    out: dict[Cell, Any] = {}
    ruled = [line.cells for line in lines if line.cells]

    def reading(c) -> Any:
        return _as_int(c.text) if c.text not in ("", "-") else None

    at = 0
    for key, row in (record.get("applications") or {}).items():
        if not row or all(v is None for v in row):
            continue
        for i in range(at, len(ruled)):
            cells = ruled[i]
            if len(cells) == len(row) and [reading(c) for c in cells] == list(row):
                out.update({("applications", key, j): c for j, c in enumerate(cells)})
                at = i + 1
                break
    rl = record.get("review_litigation")
    if rl:
        for cells in ruled:
            if len(cells) == len(rl) and [reading(c) for c in cells] == list(rl):
                out.update({("review_litigation", "", j): c for j, c in enumerate(cells)})
                break
    return out


def _alternatives(cell, value: Any) -> list[int]:
    return [v for v in (_as_int(t) for t in cell.candidates) if v is not None and v != value]


def settle(values: dict[Cell, Any], rule_list: Sequence[Rule], candidates: dict[Cell, list[int]]
           ) -> tuple[dict[Cell, Any], set[Cell]]:
    """Other readings tried on the suspect cells: the one set of readings that leaves the fewest suspects, when it
    leaves fewer than the first reading and no other set does as well. Returns (values, suspects)."""
    bad = suspects(values, rule_list)
    open_cells = sorted(c for c in bad if c in candidates)
    if not bad or not open_cells:
        return values, bad
    options = [[values[c], *candidates[c]] for c in open_cells]
    best: list[tuple[dict[Cell, Any], set[Cell]]] = []
    best_n = len(bad)
    for tries, combo in enumerate(itertools.product(*options)):
        if tries >= MAX_TRIES:
            return values, bad
        trial = dict(values)
        trial.update(zip(open_cells, combo, strict=True))
        left = suspects(trial, rule_list)
        if len(left) < best_n:
            best, best_n = [(trial, left)], len(left)
        elif len(left) == best_n and best and len(left) < len(bad):
            best.append((trial, left))
    if len(best) != 1:
        return values, bad
    return best[0]


def confirm(out: Extracted, doc) -> None:
    """Keep in `out.record` only the numbers the rules confirm; null the rest with `ocr_unconfirmed` findings.
    `doc`: the scan as read (`tasks.parse.ocr.OcrDocument`); a disputed cell is read again from it."""
    rec = out.record
    version = "2021" if "other_misc" in (rec.get("applications") or {}) else (
        "2019" if rec.get("applications") else None)
    values = record_values(rec)
    rule_list = rules(version)
    cells = ocr_cells(rec, doc.lines)
    candidates = {c: alts for c, cell in cells.items() if (alts := _alternatives(cell, values.get(c)))}
    bad = suspects(values, rule_list)
    if bad:  # the disputed cells read again alone (another scale, binarised), then every reading tried
        for c in bad:
            if c in cells and (alts := _alternatives(cell := cells[c], values.get(c)) or
                               [v for v in (_as_int(t) for t in doc.read_again(cell)) if v is not None and v != values.get(c)]):
                candidates[c] = alts
        values, bad = settle(values, rule_list, candidates)
    # table 4 is one row of 15 cells whose groups' rules hold under a shift within a group (2 0 0 0 2 read as
    # 0 0 0 2 2: seed 004 at ±1.5° skew, both before and after the seal fix): its numbers are kept only when a ruled
    # line of the scan reads exactly as them, cell by cell
    rl_cells = [c for c in values if c[0] == "review_litigation"]
    if (any(values[c] is not None for c in rl_cells) and any(line.cells for line in doc.lines)
            and not any(c in cells for c in rl_cells)):
        bad |= {c for c in rl_cells if values[c] is not None}
    unread = {c for c, v in values.items() if v is None}
    for c, v in values.items():
        table, row, j = c
        v = None if c in bad else v
        if table == "applications":
            rec["applications"][row][j] = v
        else:
            rec["review_litigation"][j] = v
    nulled = {_field(c) for c in bad}
    # a cell OCR could not read at all (`?`) is this finding's, not a non-numeric value's
    unread_fields = {_field(c) for c in unread}
    out.findings[:] = [f for f in out.findings if f.get("field") not in nulled | unread_fields
                       or not str(f.get("rule", "")).endswith(("_non_numeric_value", "_implausible_value"))]
    for c in sorted(bad | unread):
        table, row, j = c
        col = form.APPLICANTS[j] if table == "applications" else form.REVIEW_OUTCOMES[j % 5]
        why = ("read by OCR, but no sum rule confirms it" if c in bad else "not readable in the scan")
        out.findings.append(finding("ocr_unconfirmed", f"{_field(c)}: {why}; left null", table=table,
                                    row=row or form.REVIEW_GROUPS[j // 5], column=col, field_=_field(c),
                                    actual=None if c in unread else _printed(c, values)))
    ad = rec.get("active_disclosure") or {}
    for item, measures in ad.items():
        for measure, v in (measures or {}).items():
            if v is None:
                continue
            measures[measure] = None
            path = f"active_disclosure.{item}.{measure}"
            out.findings.append(finding("ocr_unconfirmed", f"{path}: read by OCR; table 2 has no sum rule to confirm "
                                        "it; left null", table="active_disclosure", row=item, column=measure,
                                        field_=path, actual=v))


def _printed(c: Cell, values: dict[Cell, Any]) -> Any:
    return values.get(c)
