"""One normalised report text in, the canonical record out: metadata and sections (`prepare`), then the three tables,
prose checks and spam (`extract_tables`). The steps live in `sections`, `metadata`, `tables`, `applications` and
`review_litigation`; the names other modules use are importable from here."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from schemas import form
from tasks.parse.applications import applicant_columns, extract_applications
from tasks.parse.extracted import Extracted, finding
from tasks.parse.metadata import (
    CN_DIGITS,
    CN_YEAR_RE,
    OLD_REPORT_RE,
    PERIOD_RE,
    REPORT_WORD_RE,
    TITLE_RE,
    detect_index_number,
    detect_organ,
    detect_published_date,
    detect_title,
    detect_year,
    page_title,
    without_chrome_titles,
)
from tasks.parse.review_litigation import extract_review_litigation
from tasks.parse.sections import (
    SECTION_2_RE,
    SECTION_3_RE,
    SECTION_4_RE,
    at_least,
    detect_layout,
    find_sections,
    normalise,
    normalise_batch,
)
from tasks.parse.tables import extract_active_disclosure

# What the parse stage and the tests import from here (the steps' own modules hold the rest)
__all__ = ["SPAM_RE", "Extracted", "Prepared", "applicant_columns", "extract", "extract_tables", "find_sections",
           "finding", "normalise", "normalise_batch", "page_title", "prepare", "tail_number"]


# Table-2 headers that tell the form version.
def _words_re(*words: str) -> re.Pattern[str]:
    """Any of `words`, white space allowed between their characters (PDF text breaks header words anywhere)."""
    return re.compile("|".join(r"\s*".join(map(re.escape, w)) for w in words))


VERSION_2021_RE = _words_re("本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额")
VERSION_2019_RE = _words_re("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "政府集中采购", "采购项目数量")
APPLICATIONS_2021_RE = _words_re("逾期不补正", "缴纳费用", "收费通知")

FIGURE_RE = re.compile(r"(?<![\d.])\d+(?![\d.]*\s*[年月日号〕\]])")
HAS_TABLES_RE = re.compile(r"新收政府信息公开申请|本年制发件数|本年新制作数量|结果维持")
OTHER_HANDLING_2019_RE = re.compile(r"\(\s*六\s*\)\s*其\s*他\s*处\s*理")

# Injected advertising or gambling text (seed 001: the site name replaced by `赌博软件app`).
SPAM_RE = re.compile(r"赌博|博彩|百家乐|六合彩|时时彩|娱乐城|老虎机|真人视讯|棋牌(?:app|APP|游戏)|(?:体育|彩票|棋牌)(?:app|APP)|(?:app|APP)下载|澳门(?:新)?葡京|威尼斯人|足球投注|网赌|菠菜"
                     # betting brands planted on hacked government sites (开云体育, 九游会, 乐鱼体育 …)
                     r"|九游会|华体会|(?:开云|九游|乐鱼|半岛|米乐|爱游戏|亚博|BOB|OD)(?:体育|娱乐|会员|官网|app|APP)|彩金|北京赛车|电子游艺|真人娱乐|线上娱乐")

# Figures the prose restates, for narrative_table_mismatch (only unambiguous phrasings).
NARRATIVE_RULES: tuple[tuple[re.Pattern[str], str, int], ...] = (
    (re.compile(r"(?:本年|全年|共)?新收(?:到)?(?:政府信息公开)?(?:申请)?\s*(\d+)\s*件"), "new_received", 6),
    (re.compile(r"上年(?:度)?结转(?:的)?(?:政府信息公开)?(?:申请)?\s*(\d+)\s*件"), "carried_over", 6),
    (re.compile(r"结转下年度(?:继续)?办理(?:的)?(?:申请)?\s*(\d+)\s*件"), "carried_forward", 6),
)


def narrative_checks(text: str, spans: dict[str, tuple[int, int] | None], applications: dict | None, out: Extracted) -> None:
    if not applications:
        return
    first_table = min((s[0] for s in spans.values() if s), default=len(text))
    prose = text[:first_table]
    for rx, row, col in NARRATIVE_RULES:
        m = rx.search(prose)
        if not m:
            continue
        stated = int(m.group(1))
        vals = applications.get(row)
        printed = vals[col] if vals else None
        if printed is not None and printed != stated:
            out.findings.append(finding(
                "narrative_table_mismatch", f"the prose says {m.group(0)!r} but table 3 prints {printed}",
                severity="warning", table="applications", row=row, column=form.APPLICANTS[col],
                field_=f"applications.{row}[{col}]", expected=stated, actual=printed))


@dataclass
class Prepared:
    """A document after metadata and sections, before its tables: what the batch fast path needs to see."""

    out: Extracted
    text: str
    spans: dict[str, tuple[int, int] | None]
    regions: dict[str, str | None]
    version: str = "2021"
    app_version: str = "2021"
    flattened: bool = False
    done: bool = False  # unsupported: no tables to read
    cut_tail: str | None = None  # the number the file ends with, where it ends with one (it may be cut inside it)
    merged_other: bool = False  # a 2021-form table 3 printing (六)其他处理 as one row, not its three sub-rows


def _is_report(text: str) -> bool:
    """A report whose tables are missing (images, cut away) still has its title and section headings."""
    return bool(REPORT_WORD_RE.search(text[:3000])) and sum(
        1 for rx in (SECTION_2_RE, SECTION_3_RE, SECTION_4_RE) if rx.search(text)) >= 2


def _cut_in_tables(text: str, spans: dict[str, tuple[int, int] | None], tables_text: str) -> bool:
    """A report cut short inside its first table: titled as an annual report or stating its statistics period (seed
    004 has no title), section 二's heading (a notice quoting the form's labels has none) and a table's headers
    there, and the text ending inside that section (nothing after it, no section 五 or 六)."""
    return bool(REPORT_WORD_RE.search(text[:3000]) or PERIOD_RE.search(text[:3000])) and \
        bool(SECTION_2_RE.search(text)) and bool(HAS_TABLES_RE.search(tables_text)) and \
        any(s is not None and s[1] == len(text) for s in spans.values())


def prepare(text: str, *, is_html: bool = False, page_title: str | None = None) -> Prepared:
    """Metadata, sections, layout and form version of one normalised text."""
    if "二〇" in text or "二零" in text or "二○" in text:
        text = CN_YEAR_RE.sub(lambda m: m.group(0).translate(CN_DIGITS), text)  # 二〇二三年 → 2023年
    out = Extracted(record={})
    rec = out.record
    meta_text = without_chrome_titles(text)
    year, _how = detect_year(meta_text)
    title, title_prefix = detect_title(meta_text)
    if page_title:
        # an article fragment without its title line: the page's <title> says it. A full page whose body's first
        # title is not the page's own is a page with site chrome before the article (a sidebar listing other
        # organs' or years' reports, `2023年度南京市江宁区人民政府政府信息公开工作年度报告`): the <title> names the
        # report the page is, where it states an organ
        page, page_prefix = detect_title(page_title.replace("_", "\n").replace("|", "\n").replace("-", "\n"))
        if title is None or (page is not None and page_prefix and page != title
                             and not (title_prefix and page_prefix in title_prefix)):
            title, title_prefix = page, page_prefix
    out.title = title
    spans = find_sections(text)
    regions = {k: (text[s[0]:s[1]] if s else None) for k, s in spans.items()}
    tables_text = "".join(r for r in regions.values() if r)
    # tables: their labels and figures; a notice quoting the labels has no figures
    has_tables = bool(HAS_TABLES_RE.search(tables_text)) and at_least(FIGURE_RE.finditer(tables_text), 8)
    old = OLD_REPORT_RE.search(text[:5000])
    if not has_tables and len(set(TITLE_RE.findall(text[:20000]))) > 1:
        # a page of several years' report titles (a portal listing) is no one year's report
        year, old = None, None
    rec.update({
        "year": year, "format_version": None, "organ": None, "admin_level": None, "province": None,
        "published_date": detect_published_date(text), "index_number": detect_index_number(text),
        "active_disclosure": None, "applications": None, "review_litigation": None,
    })
    out.organ_context = text[:1500]
    rec["organ"] = detect_organ(meta_text, title_prefix)
    if rec["organ"] is None:
        out.organ_missing = True
    prepared = Prepared(out, text, spans, regions)
    if year is not None and year < 2019 or (year is None and old):
        out.supported = False
        out.findings.append(finding("unsupported_format", f"a {year or old.group(1)} report: the national format applies from 2019",
                                    table=None, actual=year or old.group(1)))
        prepared.done = True
        return prepared
    if not has_tables and not (year is not None and (_is_report(text) or _cut_in_tables(text, spans, tables_text))):
        out.supported = False
        why = "no report tables found" + ("" if REPORT_WORD_RE.search(text) else "; not an annual report")
        out.findings.append(finding("unsupported_format", f"not a parseable annual report: {why}"))
        prepared.done = True
        return prepared
    if year is None:
        out.findings.append(finding("report_year_missing", "no statistics period, title or body states the report year"))
    out.layout = detect_layout(text, tables_text, is_html)
    prepared.flattened = out.layout == "flattened"
    if not prepared.flattened:
        for key, region in regions.items():
            if region is not None and _one_line_of_cells(region):
                regions[key] = "\n".join(region.split())
    t2 = regions["active_disclosure"] or ""
    if VERSION_2021_RE.search(t2):
        version = "2021"
    elif VERSION_2019_RE.search(t2):
        version = "2019"
    else:
        version = "2019" if year is not None and year <= 2020 else "2021"
    app_version = "2021" if APPLICATIONS_2021_RE.search(regions["applications"] or "") else (
        "2019" if regions["applications"] and OTHER_HANDLING_2019_RE.search(regions["applications"]) else version)
    if version == "2021" and app_version == "2019":
        # (六)其他处理 is the only row where the forms' table 3 differ: a 2021-form report printing it as one row (its
        # three sub-rows merged, seen in a real 2021 report) is a 2021 table 3, not a mix of both forms
        app_version, prepared.merged_other = "2021", True
    if app_version != version:
        out.findings.append(finding("format_version_mixed", f"table 2 follows the {version} form, table 3 the {app_version} form",
                                    severity="warning", expected=version, actual=app_version))
    rec["format_version"] = version
    prepared.version, prepared.app_version = version, app_version
    prepared.cut_tail = tail_number(text)
    return prepared


_TAIL_NUMBER_RE = re.compile(r"\d[\d,]*(?:\.\d+)?$")


def tail_number(text: str) -> str | None:
    """The number a text ends with, with nothing after it (not even a line break), or None."""
    m = _TAIL_NUMBER_RE.search(text[-40:]) if text[-1:].isdigit() else None
    return m.group(0) if m else None


def _distrust_cut_number(p: Prepared, rec: dict[str, Any], out: Extracted) -> None:
    """A file that ends with a number inside a table may have been cut inside it (行政处罚 3985 of 3985758). When
    the last value read in the table it ends in is that number, it is kept only where a sum rule confirms it (the
    cut huaian fragment ends with a row whose 769 = 746 + 12 + 0 + 0 + 10 + 1); otherwise it is null, and the
    table incomplete."""
    table = next((k for k, s in p.spans.items() if s and s[1] == len(p.text)), None)
    values = rec.get(table) if table else None
    if not values or p.cut_tail is None:
        return
    tail = float(p.cut_tail.replace(",", ""))
    if table == "review_litigation":
        row, key, confirm = values, None, (10, 14)
    else:
        key = next((k for k in reversed(list(values)) if any(
            v is not None for v in (values[k].values() if isinstance(values[k], dict) else values[k]))), None)
        if key is None:
            return
        row, confirm = values[key], (0, 6) if table == "applications" else None
    cells = list(row.values()) if isinstance(row, dict) else row
    j = max((i for i, v in enumerate(cells) if v is not None), default=None)
    if j is None or cells[j] != tail:  # (table 4 read as 15 blanks has no last value)
        return
    if confirm and j == confirm[1] and None not in cells[confirm[0]:j + 1] and sum(cells[confirm[0]:j]) == cells[j]:
        return
    slot = list(row)[j] if isinstance(row, dict) else j
    row[slot] = None
    out.findings.append(finding(
        f"{table}_incomplete", f"the file ends inside or right after this number ({p.cut_tail}): it may have been cut "
        "there, and no rule confirms it", table=table, row=key, actual=p.cut_tail,
        column=form.APPLICANTS[j] if table == "applications" else slot if isinstance(row, dict) else None,
        field_=f"{table}.{key}.{slot}" if isinstance(row, dict) else f"{table}{'.' + key if key else ''}[{j}]"))


_NOT_GIVEN: Any = object()
_NUMBER_TOKEN_RE = re.compile(r"(?:^|\s)[+\-]?\d[\d,]*(?:\.\d+)?(?=\s|$)")


def _one_line_of_cells(region: str) -> bool:
    """A table region whose line breaks were all lost but not its spaces (a crawler's get_text(" ")): one long
    line holding the numbers of many rows. Read a cell a line (the labels match with white space removed)."""
    return region.count("\n", 0, len(region) - 1) <= 1 and len(region) > 100 and \
        sum(1 for _ in itertools.islice(_NUMBER_TOKEN_RE.finditer(region), 8)) >= 8


def extract_tables(p: Prepared, fast: dict[str, Any] | None = None, spam: str | None = _NOT_GIVEN) -> Extracted:
    """The three tables (those the batch fast path read are taken as given), prose checks and spam."""
    out, rec = p.out, p.out.record
    if p.done:
        return out
    fast = fast or {}
    regions = p.regions
    rec["active_disclosure"] = fast["active_disclosure"] if "active_disclosure" in fast else \
        extract_active_disclosure(regions["active_disclosure"], p.version, p.flattened, out)
    rec["applications"] = fast["applications"] if "applications" in fast else \
        extract_applications(regions["applications"], p.app_version, p.flattened, out, merged_other=p.merged_other,
                             prose=p.text[:min((sp[0] for sp in p.spans.values() if sp), default=len(p.text))])
    rec["review_litigation"] = fast["review_litigation"] if "review_litigation" in fast else \
        extract_review_litigation(regions["review_litigation"], p.flattened, out)
    if p.cut_tail is not None and not p.flattened:
        _distrust_cut_number(p, rec, out)
    narrative_checks(p.text, p.spans, rec["applications"], out)
    if spam is _NOT_GIVEN:
        m = SPAM_RE.search(p.text)
        spam = m.group(0) if m else None
    if spam:
        out.findings.append(finding("spam_injection", f"injected advertising or gambling text: {spam!r}",
                                    severity="warning", actual=spam))
    return out


def extract(text: str, *, is_html: bool = False, normalised: bool = False) -> Extracted:
    """Extract one report from decoded text (HTML already turned into pipe rows)."""
    if not normalised:
        text = normalise(text)
    return extract_tables(prepare(text, is_html=is_html))
