"""The printed form's tables 2, 3 and 4 as grids of cells with their spans, filled from a record in a report's
style, and the variants real reports print (issue 15). Every layout draws its tables from these grids."""

from __future__ import annotations

import random
import zlib
from functools import lru_cache
from typing import Any

from schemas.form import (
    ACTIVE_DISCLOSURE,
    APPLICANT_LABELS,
    APPLICATION_ROWS,
    MEASURE_LABELS,
    REVIEW_GROUP_LABELS,
    REVIEW_OUTCOME_LABELS,
)
from tasks.synth.style import _fw_punct, _header_words, _Style

# --------------------------------------------------------------------------------------------------------------
# Form text the schema does not carry (the printed form, 国办公开办函〔2021〕30号 / 〔2019〕60号).
# --------------------------------------------------------------------------------------------------------------

# Table 2 is printed in blocks, one per article item of 条例第二十条; each block shares its measures.
_T2_ARTICLES = {
    "2021": (("(一)", ("regulations", "normative_documents")), ("(五)", ("licensing",)),
             ("(六)", ("penalty", "enforcement")), ("(八)", ("administrative_fees",))),
    "2019": (("(一)", ("regulations", "normative_documents")), ("(五)", ("licensing", "other_services")),
             ("(六)", ("penalty", "enforcement")), ("(八)", ("administrative_fees",)),
             ("(九)", ("government_procurement",))),
}
for _v, _blocks in _T2_ARTICLES.items():  # guard against the schema drifting away from the printed blocks
    assert [k for _, ks in _blocks for k in ks] == [it.key for it in ACTIVE_DISCLOSURE[_v]], _v
_T2_CONTENT = "信息内容"
_T3_NOTE = "(本列数据的勾稽关系为:第一项加第二项之和,等于第三项加第四项之和)"
_T3_APPLICANT_HEAD = "申请人情况"
_T3_ORG_HEAD = "法人或其他组织"
_T3_RESULTS = "三、本年度办理结果"
# Labels of the merged cells grouping numbered sub-rows, in order of the runs of numbered rows.
_T3_GROUP_LABELS = ("(三)不予公开", "(四)无法提供", "(五)不予处理", "(六)其他处理")
_T4_SUIT_HEAD = "行政诉讼"


# --------------------------------------------------------------------------------------------------------------
# Tables as grids: one (texts, spans, fixed, is_header) per printed row. spans gives (rowspan, colspan) per cell
# starting in the row; cells from index `fixed` on are values. A '\n' in a header text marks a line break.
# --------------------------------------------------------------------------------------------------------------

Row = tuple[list[str], tuple[tuple[int, int], ...], int, bool]
_ONE = (1, 1)


@lru_cache(maxsize=16)
def _t2_plan(version: str, fw: bool) -> tuple[tuple[Any, ...], ...]:
    """Static rows of table 2: ("head", texts, spans) or ("item", key, label, measures, spans)."""
    p = _fw_punct if fw else (lambda t: t)
    items = {it.key: it for it in ACTIVE_DISCLOSURE[version]}
    plan: list[tuple[Any, ...]] = []
    for article, keys in _T2_ARTICLES[version]:
        plan.append(("head", (p(f"第二十条第{article}项"),), ((1, 4),)))
        measures = items[keys[0]].measures
        spans = (_ONE,) * len(measures) + ((1, 4 - len(measures)),)  # the last cell spans the unused columns
        plan.append(("head", (_T2_CONTENT, *(p(MEASURE_LABELS[m]) for m in measures)), spans))
        for key in keys:
            plan.append(("item", key, items[key].label, measures, spans))
    return tuple(plan)


def _t2_grid(rec: dict[str, Any], st: _Style) -> list[Row]:
    ad = rec["active_disclosure"]
    rows: list[Row] = []
    for entry in _t2_plan(rec["format_version"], st.fw_punct):
        if entry[0] == "head":
            rows.append((list(entry[1]), entry[2], len(entry[1]), True))
            continue
        _, key, label, measures, spans = entry
        vals = ad.get(key) or {}
        texts = [label]
        for m in measures:
            v = vals.get(m)
            unit = ""
            if v and st.money_unit:
                if m == "amount":  # seed 001: 251000元. The value is the printed number: a unit never rescales it.
                    unit = "元" if type(v) is int and v >= 1000 else "万元"
                elif m == "amount_10k_yuan" and st.rng.random() < 0.1:
                    unit = "万元"
            text = st.num(v, unit)
            if m == "change" and st.plus_sign and v and v > 0:
                text = "+" + text
            texts.append(text)
        rows.append((texts, spans, 1, False))
    return rows


def _t3_runs(version: str) -> list[tuple[str, int]]:
    """Per outcome/total row: (group label, run length) on the first numbered row of each run, else ('', 0)."""
    out: list[tuple[str, int]] = []
    rows = [r for r in APPLICATION_ROWS[version] if r.group in ("outcome", "total")]
    g = 0
    for i, r in enumerate(rows):
        if r.number == "1":
            n = 1
            while i + n < len(rows) and rows[i + n].number not in (None, "1"):
                n += 1
            out.append((_T3_GROUP_LABELS[g], n))
            g += 1
        else:
            out.append(("", 0))
    return out


@lru_cache(maxsize=8)
def _t3_layout(version: str) -> tuple[tuple[str, str, str, int, bool, bool], ...]:
    """Per table-3 row: (key, group label or '', item label, group run length, is first outcome row, in (六))."""
    runs = iter(_t3_runs(version))
    out = []
    first = True
    in_six = False
    for r in APPLICATION_ROWS[version]:
        if r.group in ("outcome", "total"):
            glabel, n = next(runs)
            if glabel:
                in_six = glabel == _T3_GROUP_LABELS[3]
            elif r.number is None:
                in_six = False
            out.append((r.key, glabel, r.label, n, first, in_six))
            first = False
        else:
            out.append((r.key, "", r.label, 0, False, False))
    return tuple(out)


def _six_label(label: str, sep: str, in_six: bool) -> str:
    """Huaian PDF numbers the (六) items 1、2、3、 where the form has 1. 2. 3."""
    if in_six and sep != "." and label[:1].isdigit() and label[1:2] == ".":
        return label[0] + sep + label[2:]
    return label


@lru_cache(maxsize=16)
def _t3_plan(version: str, fw: bool, six_sep: str) -> tuple[tuple[str, tuple[str, ...], tuple[tuple[int, int], ...]], ...]:
    """Static part of every table-3 data row: (key, label cells, spans)."""
    p = _fw_punct if fw else (lambda t: t)
    n_results = sum(1 for r in APPLICATION_ROWS[version] if r.group in ("outcome", "total"))
    plan = []
    for key, glabel, label, run, first, in_six in _t3_layout(version):
        texts: list[str] = []
        spans: list[tuple[int, int]] = []
        if first:
            texts.append(_T3_RESULTS)
            spans.append((n_results, 1))
        if glabel:
            texts.append(p(glabel))
            spans.append((run, 1))
        if label[:1].isdigit():
            texts.append(p(_six_label(label, six_sep, in_six)))
            spans.append(_ONE)
        else:
            texts.append(p(label))
            spans.append((1, 3 if key in ("new_received", "carried_over", "carried_forward") else 2))
        plan.append((key, tuple(texts), tuple(spans) + (_ONE,) * 7))
    return tuple(plan)


def _t3_grid(rec: dict[str, Any], st: _Style) -> list[Row]:
    apps = rec["applications"]
    rng = st.rng
    rows: list[Row] = [
        ([st.p(_T3_NOTE), _T3_APPLICANT_HEAD], ((3, 3), (1, 7)), 2, True),
        ([APPLICANT_LABELS[0], _T3_ORG_HEAD, APPLICANT_LABELS[6]], ((2, 1), (1, 5), (2, 1)), 3, True),
        (_header_words(rng, APPLICANT_LABELS[1:6]), (_ONE,) * 5, 5, True),
    ]
    nums = st.nums
    damaged = _damaged_key(rec, st)
    for key, labels, spans in _t3_plan(rec["format_version"], st.fw_punct, st.six_sep):
        if key in _OTHER_SUB_ROWS and _merged_six(rec, st):
            if key == _OTHER_SUB_ROWS[0]:
                rows.append(([st.p(_SIX_MERGED), *nums(_six_total(apps))], ((1, 2),) + (_ONE,) * 7, 1, False))
            continue
        if key == damaged:
            labels = (*labels[:-1], _drop_chars(labels[-1], st.rng))
        rows.append(([*labels, *nums(apps.get(key) or _BLANK7)], spans, len(labels), False))
    return rows


# Variants real reports print (issue 15), rendered on request (`render(..., variants=…)`): a table-3 label with two
# characters dropped, (六)其他处理 printed as one row in a 2021 table, titles with the year first or last.
VARIANTS = ("label_dropped", "merged_six", "year_first_title", "year_last_title")
_OTHER_SUB_ROWS = ("other_no_correction", "other_unpaid_fee", "other_misc")
_SIX_MERGED = "(六)其他处理"
# rows whose label may be damaged: numbered detail rows with a numbered neighbour on each side in both forms
_DAMAGEABLE = ("denied_prohibited_by_law", "denied_three_security_one_stability", "denied_third_party_rights",
               "denied_internal_affairs", "denied_process_information", "denied_law_enforcement_file",
               "not_processed_duplicate", "not_processed_publication", "not_processed_excessive")


def _merged_six(rec: dict[str, Any], st: _Style) -> bool:
    return "merged_six" in st.variants and rec["format_version"] == "2021"


def _six_total(apps: dict[str, Any]) -> list[Any]:
    rows = [apps.get(k) or _BLANK7 for k in _OTHER_SUB_ROWS]
    return [None if any(r[j] is None for r in rows) else sum(r[j] for r in rows) for j in range(7)]


def _damaged_key(rec: dict[str, Any], st: _Style) -> str | None:
    if "label_dropped" not in st.variants:
        return None
    return _DAMAGEABLE[zlib.crc32(repr(rec["applications"]).encode()) % len(_DAMAGEABLE)]


def _drop_chars(label: str, rng: random.Random) -> str:
    """The label with two of its characters dropped (never its item number, nor its first or last character)."""
    start = 2 if label[:1].isdigit() else 0
    body = list(range(start + 1, len(label) - 1))
    drop = set(random.Random(len(label) * 7919 + sum(map(ord, label))).sample(body, 2)) if len(body) >= 8 else set()
    return "".join(ch for i, ch in enumerate(label) if i not in drop)


def _t4_grid(rec: dict[str, Any], st: _Style) -> list[Row]:
    rng = st.rng
    heads = _header_words(rng, REVIEW_OUTCOME_LABELS * 3)
    first, second = heads[:5], heads[5:]
    return [
        ([REVIEW_GROUP_LABELS[0], _T4_SUIT_HEAD], ((1, 5), (1, 10)), 2, True),
        ([*first, REVIEW_GROUP_LABELS[1], REVIEW_GROUP_LABELS[2]], ((2, 1),) * 5 + ((1, 5), (1, 5)), 7, True),
        (second, (_ONE,) * 10, 10, True),
        (st.nums(rec.get("review_litigation") or _BLANK15), (_ONE,) * 15, 0, False),
    ]


_NCOLS = {"t2": 4, "t3": 10, "t4": 15}
_BLANK7 = (None,) * 7
_BLANK15 = (None,) * 15



def _tables(rec: dict[str, Any], st: _Style) -> dict[str, list[Row]]:
    return {"t2": _t2_grid(rec, st), "t3": _t3_grid(rec, st), "t4": _t4_grid(rec, st)}
