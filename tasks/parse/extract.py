"""One normalised report text in, the canonical record out: sections, the three tables, metadata, extraction findings."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from schemas import form
from tasks.parse.cells import (
    Cell,
    Fit,
    Run,
    combine,
    fit_cells,
    fused_cells,
    label_spans,
    line_cells,
    match_rows,
    review_total_first,
    sums_rule,
    to_runs,
)

# ---------------------------------------------------------------------------------------------------------------
# Messy-text knowledge, as data.

# Page markers that PDF extractors leave inside tables (huaian_2024_pdftext: `- 4 -`).
PAGE_MARKER_RE = re.compile(r"(?m)^[ \t]*(?:[-—–][ \t]*\d{1,3}[ \t]*[-—–]|第[ \t]*\d{1,3}[ \t]*页(?:[ \t]*[,/][ \t]*共[ \t]*\d{1,3}[ \t]*页)?)[ \t]*$\n?")
# Characters that NFKC leaves alone but that only get in the way.

# Section headings, with the variants seen in the wild (spec: `三、依申请公开政府信息情况`, `四、行政复议、行政诉讼和举报投诉情况`,
# typos such as `行政法复议`, a trailing `。`). Searched in order, each after the previous one.
SECTION_2_RE = re.compile(r"二\s*[、.,]\s*(?:行政机关)?主动公开")
SECTION_3_RE = re.compile(r"三\s*[、.,]\s*(?:收到和处理|依申请|行政机关收到|[^\n|]{0,16}?申请)")
SECTION_4_RE = re.compile(r"四\s*[、.,]\s*[^\n|]{0,24}?(?:复\s*议|诉\s*讼)")
SECTION_5_RE = re.compile(r"五\s*[、.,]\s*[^\n|]{0,24}?(?:问题|改进|不足)")
SECTION_6_RE = re.compile(r"六\s*[、.,]\s*[^\n|]{0,16}?(?:其他|报告)")
# Anchors inside the tables, for reports whose headings were lost.
TABLE_2_ANCHOR_RE = re.compile(r"第\s*二\s*十\s*条\s*第?\s*\(\s*[一五六八九]\s*\)\s*项|本年制发件数|本年新制作数量")
TABLE_3_ANCHOR_RE = re.compile(r"本列数据的勾稽关系|申请人情况|本年新收政府信息公开申请")
TABLE_4_ANCHOR_RE = re.compile(r"行政复议[^\n]{0,40}?行政诉讼|结\s*果\s*维\s*持")
CARRIED_FORWARD_RE = re.compile(form.APPLICATION_ROWS_2021[-1].pattern)

# Table-2 headers that tell the form version.
def _words_re(*words: str) -> re.Pattern[str]:
    """Any of `words`, white space allowed between their characters (PDF text breaks header words anywhere)."""
    return re.compile("|".join(r"\s*".join(map(re.escape, w)) for w in words))


VERSION_2021_RE = _words_re("本年制发件数", "本年废止件数", "现行有效件数", "本年收费金额")
VERSION_2019_RE = _words_re("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "政府集中采购", "采购项目数量")
APPLICATIONS_2021_RE = _words_re("逾期不补正", "缴纳费用", "收费通知")

FIGURE_RE = re.compile(r"(?<![\d.])\d+(?![\d.]*\s*[年月日号〕\]])")
CN_YEAR_RE = re.compile(r"(?:二[〇○零]|一九)[〇○零一二三四五六七八九]{2}(?=\s*年)")
_CN_DIGITS = str.maketrans("〇○零一二三四五六七八九", "00012345678" + "9")
HAS_TABLES_RE = re.compile(r"新收政府信息公开申请|本年制发件数|本年新制作数量|结果维持")
OTHER_HANDLING_2019_RE = re.compile(r"\(\s*六\s*\)\s*其\s*他\s*处\s*理")

# Flattened text: a row label glued to its numbers.
FLATTENED_RE = re.compile(r"(?:规章|规范性文件|申请数量|予以公开|国家秘密|结果维持|总计)[+\-]?\d")

# Report year: statistics period first, then the title, then the body (never the publish date).
PERIOD_RE = re.compile(r"统计(?:期限|时限|期间|区间|时间|周期)[^0-9]{0,12}?(\d{4})\s*"
                       r"(?:年\s*0?1\s*月\s*0?1\s*日|[.\-/]\s*0?1\s*[.\-/]\s*0?1(?!\d)|年度)")
# …年度报告, or …工作报告 ending its line (a title; the prose's 现将…年度政府信息公开工作情况报告如下 is not one)
TITLE_RE = re.compile(r"(\d{4})\s*年度?\s*(?:政府信息公开|政务公开|信息公开)[^\n。]{0,12}?"
                      r"(?:年度?\s*报\s*告|报\s*告(?=[ \t|]*(?:\n|$)))")
# The year first, the organ between it and the report words (an office's title; 庆阳市人民政府办公室, seen 2021), on
# one line or broken after the organ: 2021年庆阳市人民政府办公室政府信息公开工作年度报告
TITLE_YEAR_FIRST_RE = re.compile(r"(?m)^[ \t|]*(?:(?:首页|当前位置|政府信息公开|政务公开|信息公开)[ \t]*[>»/]?[ \t]*)*(\d{4})\s*年度?\s*"
                                 r"([\u4e00-\u9fff()]{2,40}?)\s*(?:关于)?\s*(?:政府信息公开|政务公开|信息公开)[^\n。]{0,12}?"
                                 r"(?:年度?\s*报\s*告|报\s*告(?=[ \t|]*(?:\n|$)))")
# The year after the title: 政府信息公开工作年度报告（2024年）
TITLE_YEAR_AFTER_RE = re.compile(r"(?:政府信息公开|政务公开)[^\n。(]{0,12}?报\s*告\s*\(\s*(\d{4})\s*年?度?\s*\)")
# 关于 and the verb of a notice or a request about the report (关于, 关于报送, 关于印发, 关于做好 …), ending a title's
# prefix: seen in the corpus's notice 关于报送2023年政府信息公开工作年度报告的通知
ABOUT_RE = re.compile(r"关于[\u4e00-\u9fff]{0,4}$")
TITLE_PREFIX_CUT_RE = re.compile(r".*[\n。，,:：|>»]")
# Site navigation before a title on its line (a page whose line breaks were lost): 首页 > 政府信息公开 > …
TITLE_BREADCRUMB_RE = re.compile(r"^(?:\s*(?:首页|当前位置|政府信息公开|政务公开|信息公开|年度报告|政府信息公开年报|法定主动公开内容))+\s*")
BODY_YEAR_RE = re.compile(r"(\d{4})\s*年度?\s*(?:政府信息公开|政务公开)")
YEAR_MENTION_RE = re.compile(r"(?<!\d)(20[0-3]\d|199\d)\s*年(?!\s*\d{1,2}\s*月)")
# (the literal "20" first keeps the regex engine on its fast prefix scan; the look-behind after it says the same as
# a (?<!\d) before the year would)
OLD_REPORT_RE = re.compile(r"(20(?:0\d|1[0-8]))(?<!\d{5})\s*年度?\s*(?:政府信息公开|政务公开)")
REPORT_WORD_RE = re.compile(r"政府信息公开[^\n。]{0,10}?(?:年度报告|工作报告|年报)")

# Metadata in the header grid and the text.
INDEX_RE = re.compile(r"索\s*引\s*号\s*[:|]?\s*\|?\s*([0-9A-Za-z][0-9A-Za-z\-_/.]{5,60})")
PUBLISHER_RE = re.compile(r"(?:发布机构|发文机关|发布单位|公开主体|信息来源)\s*[:|]\s*\|?\s*([\u4e00-\u9fff()]{2,40})")
DATE_LABEL_RE = re.compile(
    r"(?:成文日期|发布日期|公开日期|发文日期|发布时间|生成日期|印发日期)\s*[:|]?\s*\|?\s*(\d{4})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
CN_DATE_RE = re.compile(r"(?<!\d)(\d{4})\s*(?:年|[-/.])\s*(\d{1,2})\s*(?:月|[-/.])\s*(\d{1,2})(?!\d)")
# The date under the closing signature: `2024年3月1日`, or `2024-03-01` / `2024.3.1` on a line of its own.
CN_DATE_LINE_RE = re.compile(
    r"(?m)^[ \t]*(\d{4})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日|[-/.](\d{1,2})[-/.](\d{1,2}))[ \t]*$")
# The same written in Chinese numerals, as official documents sign: 二〇二五年一月二十二日 (the year already 2025 here)
CN_NUMERAL_DATE_LINE_RE = re.compile(
    r"(?m)^[ \t]*([〇○零一二三四五六七八九]{4}|\d{4})\s*年\s*([一二三四五六七八九十]{1,2})\s*月\s*([一二三四五六七八九十]{1,3})\s*日[ \t]*$")
BY_ORGAN_RE = re.compile(
    r"(?:本(?:次)?(?:年度)?报告(?:是)?由|本报告系|现将|特向社会公布)\s*([\u4e00-\u9fff()]{2,40}?)\s*(?:\(以下简称|根据|依据|按照|依照|编制|结合|\d{4}\s*年度?政府信息公开)")
_ORGAN_SUFFIX = r"(?:人民政府(?:办公室|办公厅)?|政府办公室|政府|行政公署|管理委员会|管委会|办事处|委员会|办公室|办公厅|局|厅|委|办|署|中心|院|所|站|部|馆|银行)"
ORGAN_SUFFIX_RE = re.compile(_ORGAN_SUFFIX + "$")
# The longest start of a text that ends as an organ's name does
ORGAN_NAME_END_RE = re.compile(".*" + _ORGAN_SUFFIX)
# A place as the subject of a sentence in the body (紫溪镇始终坚持…); as the organ only where it also names its own
# government (紫溪镇政府信息和政务公开工作)
PLACE_RE = re.compile(r"(?:^|[,，。;:、\n\s(“\"|])([\u4e00-\u9fff]{1,8}?(?:自治区|自治州|自治县|省|市|州|盟|县|区|旗|镇|乡|街道|苏木))(?:人民政府|政府|党委|始终|坚持|认真|高度|以|按照|围绕|紧紧|全面|深入|积极|进一步)")
GOVERNMENT_PLACE_RE = re.compile(r"(?:^|[,，。;:、\n\s(“\"|])([\u4e00-\u9fff]{1,8}?(?:自治区|自治州|自治县|省|市|州|盟|县|区|旗|镇|乡|街道|苏木))(?:人民政府|政府)")
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


@dataclass
class Extracted:
    """What one document yields before validation; `record` has the shape of shared/samples/expected/*.json."""

    record: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)
    layout: str | None = None
    title: str | None = None
    organ_context: str = ""
    supported: bool = True
    organ_missing: bool = False  # no title, page metadata, signature or compiler's sentence names the organ


def finding(rule: str, message: str, *, severity: str = "error", table: str | None = None, row: str | None = None,
            column: str | None = None, field_: str | None = None, expected: Any = None, actual: Any = None) -> dict[str, Any]:
    return {
        "rule": rule, "severity": severity, "table": table, "row": row, "column": column, "field": field_,
        "expected": None if expected is None else str(expected), "actual": None if actual is None else str(actual),
        "message": message,
    }


# Full-width forms (digits, letters, punctuation), ideographic and no-break spaces: what NFKC changes in reports.
_FULLWIDTH_SRC = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000", "\u00a0", "\u2002", "\u2003", "\u200b", "\u200c", "\u200d",
                                                          "\ufeff", "\r\n", "\r", "\u2028"]
_FULLWIDTH_DST = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" ", " ", " ", " ", "", "", "", "", "\n", "\n", "\n"]


def _box_drawing() -> dict[str, str]:
    """Box-drawing characters (U+2500–U+257F: tables drawn in text, `│ 规章 │ 0 │`) as the ASCII grid they stand for:
    vertical lines `|`, horizontal lines `-`, corners and junctions `+`. (A lone `─` in a cell is then a dash.)"""
    out = {}
    for code in range(0x2500, 0x2580):
        name = unicodedata.name(chr(code), "")
        if not name.startswith("BOX DRAWINGS"):
            continue
        words = set(name.split())
        if "VERTICAL" in words and not words & {"AND", "HORIZONTAL", "LEFT", "RIGHT"}:
            out[chr(code)] = "|"
        elif "HORIZONTAL" in words and not words & {"AND", "VERTICAL", "UP", "DOWN"}:
            out[chr(code)] = "-"
        else:
            out[chr(code)] = "+"
    return out


_BOX = _box_drawing()
_FULLWIDTH_SRC += list(_BOX)
_FULLWIDTH_DST += list(_BOX.values())


def normalise_batch(texts: list[str]) -> list[str]:
    """Vectorised normalisation of a whole batch (Polars, Aho-Corasick): the full-width block and spaces, page markers."""
    import polars as pl

    s = pl.Series("text", texts, dtype=pl.String).str.replace_many(_FULLWIDTH_SRC, _FULLWIDTH_DST)
    s = s.str.replace_all(PAGE_MARKER_RE.pattern, "")
    return s.to_list()


def normalise(text: str) -> str:
    """One document through the same normalisation as a batch (so a file parses the same alone or in a batch)."""
    return normalise_batch([text])[0]


# ---------------------------------------------------------------------------------------------------------------

def find_sections(text: str) -> dict[str, tuple[int, int] | None]:
    """Spans of the table-bearing sections 二, 三, 四 (start of heading, start of the next)."""
    def first(rx: re.Pattern[str], start: int) -> int | None:
        m = rx.search(text, start)
        return m.start() if m else None

    s2 = first(SECTION_2_RE, 0)
    if s2 is None:
        s2 = first(TABLE_2_ANCHOR_RE, 0)
    s3 = first(SECTION_3_RE, s2 or 0)
    if s3 is None:
        s3 = first(TABLE_3_ANCHOR_RE, s2 or 0)
    after3 = s3 if s3 is not None else (s2 or 0)
    cf = CARRIED_FORWARD_RE.search(text, after3)
    s4 = first(SECTION_4_RE, cf.end() if cf else after3)
    if s4 is None:
        s4 = first(TABLE_4_ANCHOR_RE, cf.end() if cf else after3)
    if s4 is None and s3 is not None:
        # table 4 printed before table 3: its heading between 二 and 三
        s4 = first(SECTION_4_RE, s2 or 0)
        if s4 is not None and s4 > s3:
            s4 = None
    after4 = max(b for b in (s4, s3, s2, 0) if b is not None)
    s5 = first(SECTION_5_RE, after4 + 2)
    if s5 is None:
        s5 = first(SECTION_6_RE, after4 + 2)
    end = len(text)
    bounds = [b for b in (s2, s3, s4, s5) if b is not None]

    def span(start: int | None) -> tuple[int, int] | None:
        if start is None:
            return None
        later = [b for b in bounds if b > start]
        return (start, min(later) if later else end)

    return {"active_disclosure": span(s2), "applications": span(s3), "review_litigation": span(s4)}


_MULTI_PIPE_NUMBER_LINE_RE = re.compile(r"(?m)^(?=(?:[^\n|]*\|){3})[^\n]*?\|[^\S\n]*\d")
# A PDF text row: a label, then three or more numbers on its line, as printed: 1,000 (thousands separators), +3 / -3
# (table 2's change column), 12.5 — a row of such numbers read as plain digits only was missed, and a report whose
# rows mostly carry them came out whitespace_cell_per_line.
_NUMERIC_ROW_RE = re.compile(r"(?m)[\u4e00-\u9fff)）”][^\S\n]+(?:[+\-]?\d[\d,，]*(?:\.\d+)?[^\S\n]+){2,}[+\-]?\d[\d,，]*(?:\.\d+)?[^\S\n]*$")


def detect_layout(text: str, tables_text: str, is_html: bool) -> str:
    if is_html:
        return "html"
    if FLATTENED_RE.search(tables_text):
        return "flattened"
    # (str methods over the lines are cheaper than a multi-line regex scan of CJK text; counts stop at 6)
    lines = [ln for ln in tables_text.split("\n") if not ln.isspace() and ln]
    if not lines:
        return "unknown"
    piped = sum(1 for ln in lines if "|" in ln)
    if piped > len(lines) * 0.5:
        return "pipe" if _at_least(_MULTI_PIPE_NUMBER_LINE_RE.finditer(tables_text), 6) else "cell_per_line"
    if _at_least(_NUMERIC_ROW_RE.finditer(tables_text), 6):
        return "pdf_text"
    return "whitespace_cell_per_line"


_IS_PAD = attrgetter("pad")


def cells_for(region: str, flattened: bool) -> list[Cell]:
    return fused_cells(region) if flattened else line_cells(region)


def find_rows(region: str, flattened: bool, patterns: list[str]) -> dict[int, list[Cell]]:
    """A table region's value cells by row index, rows found by their label patterns in form order."""
    return match_rows(to_runs(cells_for(region, flattened)), combine(patterns), _IS_PAD)


def _value_of(c: Cell) -> int | float | None:
    return c.value if c.kind == "number" else None


# ---------------------------------------------------------------------------------------------------------------
# Table 2

def extract_active_disclosure(region: str | None, version: str, flattened: bool, out: Extracted) -> dict | None:
    items = form.ACTIVE_DISCLOSURE[version]
    if region is None:
        out.findings.append(finding("active_disclosure_incomplete", "table 2 (主动公开) not found", table="active_disclosure"))
        return None
    found = find_rows(region, flattened, [it.pattern for it in items])
    if not found:  # a heading with no table under it (the table is an image, or was cut away)
        out.findings.append(finding("active_disclosure_incomplete", "table 2 (主动公开) has no rows", table="active_disclosure"))
        return None
    table: dict[str, dict[str, Any]] = {}
    missing = []
    for i, item in enumerate(items):
        n = len(item.measures)
        fit = fit_cells(found.get(i, []), n) if i in found else Fit(None, problem="incomplete")
        table[item.key] = _cells_to_dict(fit, item.key, item.measures, "active_disclosure", out, integer=False)
        if fit.cells is None and fit.problem == "incomplete":
            missing.append(item.key)
    if missing:
        out.findings.append(finding(
            "active_disclosure_incomplete", f"table 2 rows missing or short: {', '.join(missing)}",
            table="active_disclosure", row=",".join(missing), expected=sum(len(it.measures) for it in items)))
    return table


def _cells_to_dict(fit: Fit, key: str, measures: tuple[str, ...], table: str, out: Extracted, *, integer: bool) -> dict:
    if fit.cells is not None:
        vals = {}
        for m, c in zip(measures, fit.cells, strict=True):
            vals[m] = _checked(c, table, key, m, f"{table}.{key}.{m}", out, allow_negative=(m == "change"))
        if fit.problem == "extra_cells":
            out.findings.append(finding(f"{table}_extra_cells", f"row {key} has more cells than the form; the first {len(measures)} kept",
                                        severity="warning", table=table, row=key))
        return vals
    if fit.candidates:
        return {m: _agreed(fit.candidates, j, table, key, m, f"{table}.{key}.{m}", out) for j, m in enumerate(measures)}
    if fit.problem in ("ambiguous", "unsplittable"):
        for m in measures:
            out.findings.append(_ambiguous(table, key, m, f"{table}.{key}.{m}", "fused digits cannot be split back into cells"))
    return dict.fromkeys(measures)


def _agreed(cands: list[tuple[int, ...]], j: int, table: str, row: str, col: str, path: str, out: Extracted) -> int | None:
    values = {c[j] for c in cands}
    if len(values) == 1:
        v = next(iter(values))
        if abs(v) > INT64_MAX:
            out.findings.append(finding(f"{table}_implausible_value", f"{path}: {v} is too large to store; kept null",
                                        severity="warning", table=table, row=row, column=col, field_=path, actual=v))
            return None
        return v
    out.findings.append(_ambiguous(table, row, col, path, f"{len(cands)} splits of the fused digits fit; candidates for this cell: "
                                   + ", ".join(str(v) for v in sorted(values)[:6])))
    return None


def _ambiguous(table: str, row: str, col: str | None, path: str, why: str) -> dict:
    return finding("ambiguous_value", f"{path}: {why}", table=table, row=row, column=col, field_=path)


INT64_MAX = 2**63 - 1


def _checked(c: Cell, table: str, row: str, col: str, path: str, out: Extracted, *, allow_negative: bool = False,
             integer: bool = False):
    if c.kind == "non_numeric":
        out.findings.append(finding(f"{table}_non_numeric_value", f"{path}: cell {c.text!r} is not a number; kept null",
                                    severity="warning", table=table, row=row, column=col, field_=path, actual=c.text))
        return None
    v = _value_of(c)
    if v is None:
        return None
    if integer and isinstance(v, float):
        if not v.is_integer():
            out.findings.append(finding(f"{table}_non_numeric_value", f"{path}: {c.text!r} is not a whole count; kept null",
                                        severity="warning", table=table, row=row, column=col, field_=path, actual=c.text))
            return None
        v = int(v)
    if v < 0 and not allow_negative:
        out.findings.append(finding(f"{table}_negative_value", f"{path}: a count cannot be negative ({v})",
                                    table=table, row=row, column=col, field_=path, expected=">= 0", actual=v))
    if abs(v) >= 1_000_000_000:
        storable = not integer or abs(v) <= INT64_MAX
        out.findings.append(finding(f"{table}_implausible_value", f"{path}: {v} is beyond any plausible count"
                                    + ("" if storable else "; too large to store, kept null"),
                                    severity="warning", table=table, row=row, column=col, field_=path, actual=v))
        if not storable:
            return None
    return v


# ---------------------------------------------------------------------------------------------------------------
# Table 3

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
                out.findings.append(_ambiguous("applications", row.key, None, f"applications.{row.key}",
                                               "two years' figures side by side (14 cells keeping both years' sums) "
                                               "under a header that does not say which block is this year's"))
                continue
            fit = Fit(years[i])
        if fit.cells is not None:
            table[row.key] = [
                _checked(c, "applications", row.key, form.APPLICANTS[j], f"applications.{row.key}[{j}]", out, integer=True)
                for j, c in enumerate(fit.cells)]
            if fit.problem == "extra_cells":
                out.findings.append(finding("applications_extra_cells", f"row {row.key} has more than 7 cells; the first 7 kept",
                                            severity="warning", table="applications", row=row.key))
        elif fit.candidates:
            table[row.key] = [_agreed(fit.candidates, j, "applications", row.key, form.APPLICANTS[j],
                                      f"applications.{row.key}[{j}]", out) for j in range(7)]
        else:
            table[row.key] = [None] * 7
            if row.key in unsettled:
                out.findings.append(_ambiguous("applications", row.key, None, f"applications.{row.key}",
                                               "its label stands apart from its values (labels printed together, "
                                               "a row of values under no label): which row is whose is not settled"))
            elif fit.problem in ("ambiguous", "unsplittable"):
                out.findings.append(_ambiguous("applications", row.key, None, f"applications.{row.key}",
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
    return _year_order(head) or "form"


def _year_order(head: str) -> str | None:
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
    if not seen_body or _edits(seen_body, body, limit) > limit:
        return None
    return seen


def _edits(a: str, b: str, limit: int) -> int:
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


# ---------------------------------------------------------------------------------------------------------------
# Table 4

_RL_HEADER_END_RE = re.compile(r"(?:审\s*结|总\s*计|起\s*诉)\s*$")


def extract_review_litigation(region: str | None, flattened: bool, out: Extracted) -> list | None:
    if region is None:
        out.findings.append(finding("review_litigation_incomplete", "table 4 (行政复议、行政诉讼) not found", table="review_litigation"))
        return None
    runs = to_runs(cells_for(region, flattened))
    # The numbers follow the header (…尚未审结 总计); prose before the table may also hold numbers.
    chosen: list[Cell] | None = None
    header_seen = False
    for run in runs:
        header_seen = header_seen or bool(_RL_HEADER_END_RE.search(run.text) or "维持" in run.text)
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
            out.findings.append(_ambiguous("review_litigation", None, None, "review_litigation",
                                           "two years' figures (two blocks of 15 keeping their totals) and no header "
                                           "or row label saying which is this year's"))
            return [None] * 15
        return [_checked(c, "review_litigation", form.REVIEW_GROUPS[j // 5], form.REVIEW_OUTCOMES[j % 5],
                         f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(years)]
    fit = fit_cells(chosen, 15, sums=(3, 4))
    if fit.cells is None and not fit.candidates and not flattened:
        fit = _review_by_group(runs, out) or fit
    if fit.cells is None and not fit.candidates:
        if fit.problem in ("ambiguous", "unsplittable"):
            out.findings.append(_ambiguous("review_litigation", None, None, "review_litigation",
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
        return [_checked(c, "review_litigation", labels[j].split(".")[0], labels[j].split(".")[1],
                         f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(fit.cells)]
    assert fit.candidates is not None
    return [_agreed(fit.candidates, j, "review_litigation", labels[j].split(".")[0], labels[j].split(".")[1],
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
            return [_checked(c, "review_litigation", form.REVIEW_GROUPS[j // 5], form.REVIEW_OUTCOMES[j % 5],
                             f"review_litigation[{j}]", out, integer=True) for j, c in enumerate(moved)]
    out.findings.append(_ambiguous("review_litigation", None, None, "review_litigation",
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
        blocks, order = [v[:15], v[15:]], _year_order(header)
    else:
        first = block(chosen)
        second = next((r for r in runs[at + 1:] if block(r.values)), None) if first else None
        if first is None or second is None:
            return None
        blocks = [first, block(second.values)]  # type: ignore[list-item]
        order = _year_order(header[-6:] + "|" + second.text[-6:])  # the rows' own labels
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
    seen = [(_edits(tail[-n:], label, limit), -n, tail[-n:]) for n in range(len(label) - limit, len(label) + limit + 1)
            if 0 < n <= len(tail)]
    best = min(seen, default=None)
    return best[2] if best is not None and 0 < best[0] <= limit else None


# ---------------------------------------------------------------------------------------------------------------
# Metadata

def detect_year(text: str) -> tuple[int | None, str | None]:
    m = PERIOD_RE.search(text)
    if m:
        return int(m.group(1)), "period"
    m = _first(TITLE_RE.search(text, 0, 3000), _year_first_title(text[:3000])) or TITLE_YEAR_AFTER_RE.search(text, 0, 3000)
    if m:
        return int(m.group(1)), "title"
    m = BODY_YEAR_RE.search(text[:5000])
    if m:
        return int(m.group(1)), "body"
    years = Counter(int(y) for y in YEAR_MENTION_RE.findall(text[:20000]))
    if years:
        top = max(years.values())
        return min(y for y, c in years.items() if c == top), "mentions"
    return None, None


def _first(*matches: re.Match[str] | None) -> re.Match[str] | None:
    found = [m for m in matches if m is not None]
    return min(found, key=lambda m: m.start()) if found else None


_PLACE_END_RE = re.compile(r"(?:省|市|州|盟|县|区|旗|镇|乡|街道|自治区|自治州|自治县)$")
_NOT_AN_ORGAN = ("我", "本", "全", "各", "该")


def _pronoun(organ: str) -> bool:
    """本局, 我委, 全市, 该局: no organ's name — but 本溪市…, 全椒县… are (the division table knows them)."""
    if not organ.startswith(_NOT_AN_ORGAN):
        return False
    from tasks.parse.divisions import resolve_organ

    return resolve_organ(organ).division_code is None


def _year_first_title(head: str) -> re.Match[str] | None:
    """A title with its year first and the organ after it, the organ ending as organs and places do."""
    for m in TITLE_YEAR_FIRST_RE.finditer(head):
        organ = m.group(2)
        if (ORGAN_SUFFIX_RE.search(organ) or _PLACE_END_RE.search(organ)) and not _pronoun(organ):
            return m
    return None


def detect_title(text: str) -> tuple[str | None, str | None]:
    """(title, organ prefix of the title) from the first lines: the organ before the year (淮安市人民政府2024年…), on
    the line above (a PDF's title), or after the year (2021年庆阳市人民政府办公室政府信息公开工作年度报告)."""
    head = text[:3000]
    m = _first(TITLE_RE.search(head), _year_first_title(head)) or TITLE_YEAR_AFTER_RE.search(head)
    if not m:
        return None, None
    line_start = head.rfind("\n", 0, m.start()) + 1
    if m.re is TITLE_YEAR_FIRST_RE:
        return "".join(head[m.start(1):m.end()].split()), m.group(2)
    title = "".join(head[line_start:m.end()].split()).strip("|:")
    before = head[max(line_start, m.start() - 60):m.start()]
    before = TITLE_BREADCRUMB_RE.sub("", TITLE_PREFIX_CUT_RE.sub("", before))
    prefix = "".join(before.split()).strip("|:")
    # a document about the report, not the report (关于报送2023年…年度报告的通知: organ 关于报送 before): what stands
    # before 关于 is its sender, if anything
    prefix = ABOUT_RE.sub("", prefix)
    if not prefix:
        # PDF: the organ stands on the line above the title (`淮安市人民政府\n2024 年政府信息公开工作年度报告`)
        prev = head[:line_start].rstrip("\n").rsplit("\n", 1)[-1].strip()
        if prev and re.fullmatch(r"[\u4e00-\u9fff()]{2,40}", prev):
            prefix = prev
    return title, prefix or None


# The page's own <title> (an article page: `2021年…年度报告_庆阳市人民政府`): the title where the body has none
PAGE_TITLE_RE = re.compile(r"<title[^>]*>([^<]{4,200})</title>", re.IGNORECASE)


def page_title(html: str) -> str | None:
    m = PAGE_TITLE_RE.search(html, 0, 20000)
    return " ".join(m.group(1).split()) if m else None


def signature_organ(text: str) -> str | None:
    """The organ signing the report: the name on the line above the closing date (`庆阳市人民政府办公室\n2022年1月20日`)."""
    tail = text[-1500:]
    dates = list(CN_DATE_LINE_RE.finditer(tail)) or list(CN_NUMERAL_DATE_LINE_RE.finditer(tail))
    if not dates:
        return None
    above = tail[:dates[-1].start()].rstrip().rsplit("\n", 1)[-1].strip(" \t|")
    if re.fullmatch(r"[\u4e00-\u9fff()]{2,40}", above) and ORGAN_SUFFIX_RE.search(above) \
            and not _pronoun(above):
        return above
    return None


def detect_organ(text: str, title_prefix: str | None) -> str | None:
    """The organ as the report states it: its title, the page's metadata (发布机构), its signature, or the sentence
    naming who compiled it (本报告由…编制). Never a place cut out of prose (不断提升市政府公文 is no 提升市人民政府): a
    place from the body counts only where it is the subject at least twice, names its own government
    (紫溪镇政府信息和政务公开工作) and, above a township, is a division the division table knows."""
    head = text[:4000]
    publisher = None
    m = PUBLISHER_RE.search(head)
    if m:
        publisher = m.group(1)
        named = ORGAN_NAME_END_RE.match(publisher)  # text glued after the name (flattened: …办公室根据《条例》)
        if named and not ORGAN_SUFFIX_RE.search(publisher):
            publisher = named.group(0)
    by = BY_ORGAN_RE.search(head)
    by_organ = by.group(1) if by and ORGAN_SUFFIX_RE.search(by.group(1)) and not (
        by.group(1).startswith(("我", "本")) and _pronoun(by.group(1))) else None
    # the most complete name that agrees with the others wins (004: 发布机构 `党政办公室`, body `淮安经济技术开发区党政办公室`)
    if publisher and by_organ and publisher in by_organ:
        return by_organ
    if title_prefix:
        if _PLACE_END_RE.search(title_prefix):
            return title_prefix + "人民政府"
        return title_prefix
    signed = signature_organ(text)
    for candidate in (publisher, signed, by_organ):
        if candidate:
            return candidate
    places = Counter(PLACE_RE.findall(head))
    for place, count in list(places.items()):  # words glued before a place (flattened: 确保高位推进紫溪镇) count for it
        shorter = [p for p in places if p != place and place.endswith(p)]
        if shorter:
            places[min(shorter, key=len)] += count
            del places[place]
    if places:
        place, count = places.most_common(1)[0]
        governments = {g for g in GOVERNMENT_PLACE_RE.findall(head) if g.endswith(place)}
        if count >= 2 and governments and not place.startswith(_NOT_AN_ORGAN) and _known_place(place):
            return place + "人民政府" if _PLACE_END_RE.search(place) else place
    return None


def _known_place(place: str) -> bool:
    """A township is not in the division table (any 镇, 乡 or 街道 name stands); a county or above must be there."""
    if re.search(r"(?:镇|乡|街道|苏木)$", place):
        return True
    from tasks.parse.divisions import resolve_organ

    return resolve_organ(place + "人民政府").division_code is not None


def detect_published_date(text: str) -> str | None:
    m = DATE_LABEL_RE.search(text[:4000])
    if not m:
        tail = text[-1500:]
        dates = CN_DATE_LINE_RE.findall(tail)
        numeral = CN_NUMERAL_DATE_LINE_RE.findall(tail)
        if dates:
            y, mo, d, mo2, d2 = dates[-1]
            mo, d = mo or mo2, d or d2
        elif numeral:
            y, mo, d = numeral[-1]
            y, mo, d = y.translate(_CN_DIGITS), _cn_number(mo), _cn_number(d)
        else:
            # flattened text: the signature's date glued to the organ and the page footer (`…人民政府2024年2月25日分享到`),
            # the last date near the end with no sentence after it (a date in the prose is followed by `。`)
            glued = [m for m in CN_DATE_RE.finditer(text, max(0, len(text) - 150)) if "。" not in text[m.end():]]
            if not glued:
                return None
            y, mo, d = glued[-1].groups()
    else:
        y, mo, d = m.groups()
    try:
        import datetime as dt

        return dt.date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        return None


def _cn_number(text: str) -> int:
    """一 … 三十一 (a month or a day in Chinese numerals) as a number."""
    tens, _, units = text.rpartition("十")
    if "十" not in text:
        return int(text.translate(_CN_DIGITS))
    return (int(tens.translate(_CN_DIGITS)) if tens else 1) * 10 + (int(units.translate(_CN_DIGITS)) if units else 0)


def detect_index_number(text: str) -> str | None:
    m = INDEX_RE.search(text[:3000])
    return m.group(1) if m else None


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


# ---------------------------------------------------------------------------------------------------------------

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


def _at_least(matches: Iterator[Any], n: int) -> bool:
    """Whether an iterator of matches yields n of them (stops at the n-th: no need to find them all)."""
    return sum(1 for _ in itertools.islice(matches, n)) >= n


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


# Where a page lists other reports before or beside the article (a sidebar of 相关年报, a crawl keeping the site's
# chrome: `2023年度南京市江宁区人民政府政府信息公开工作年度报告` above 淮安市人民政府's report, seen on provincial
# portals), the first title is not the report's. A line that is one report title naming an organ is such a listing
# entry when the head holds titles of different organs or years and the rest of the text never names its organ
# (its place, 南京市江宁区, or its full name).
_ORGAN_PLACE_RE = re.compile(r"^.*?(?:自治区|自治州|自治县|省|市|州|盟|县|区|旗|镇|乡|街道)")


def _title_line(line: str) -> tuple[str, int] | None:
    """(organ, year) of a line that is one report title with its organ (either order), else None."""
    bare = TITLE_BREADCRUMB_RE.sub("", line.strip(" \t|-·•>»"))
    m = TITLE_RE.search(bare)
    if m is not None and m.start() > 0 and len(bare) - m.end() <= 2:
        organ = "".join(bare[:m.start()].split())
    else:
        m = _year_first_title(bare)
        if m is None or m.start() > 0 or len(bare) - m.end() > 2:
            return None
        organ = m.group(2)
    if not re.fullmatch(r"[\u4e00-\u9fff()]{2,40}", organ) or _pronoun(organ):
        return None
    return organ, int(m.group(1))


def without_chrome_titles(text: str) -> str:
    """`text` with the report-title lines of a listing blanked (see above): what metadata is read from."""
    head = text[:3000]
    if head.count("报") < 2:  # two titles at least (a quick test: most reports have one, the rest is not read)
        return text
    lines = head.split("\n")
    titles = {i: t for i, line in enumerate(lines)
              if "报" in line and len(line) <= 100 and (t := _title_line(line)) is not None}
    if len(set(titles.values())) < 2:
        return text
    rest = "\n".join(line for i, line in enumerate(lines) if i not in titles) + text[3000:20000]
    rest = "".join(rest.split())

    def named(organ: str) -> bool:
        place = _ORGAN_PLACE_RE.match(organ)
        return organ in rest or (place is not None and place.group(0) != organ and place.group(0) in rest)

    chrome = {i for i, (organ, _) in titles.items() if not named(organ)}
    kept = {t for i, t in titles.items() if i not in chrome}
    if len({y for _, y in kept}) > 1:  # titles of one organ's several years: which is this report's is not told
        chrome = set(titles)
    if not chrome:
        return text
    return "\n".join("" if i in chrome else line for i, line in enumerate(lines)) + text[3000:]


def prepare(text: str, *, is_html: bool = False, page_title: str | None = None) -> Prepared:
    """Metadata, sections, layout and form version of one normalised text."""
    if "二〇" in text or "二零" in text or "二○" in text:
        text = CN_YEAR_RE.sub(lambda m: m.group(0).translate(_CN_DIGITS), text)  # 二〇二三年 → 2023年
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
    has_tables = bool(HAS_TABLES_RE.search(tables_text)) and _at_least(FIGURE_RE.finditer(tables_text), 8)
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
