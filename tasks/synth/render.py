"""Canonical report record -> raw report text in every layout seen in the wild, with seeded, meaning-preserving noise."""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from schemas.form import (
    ACTIVE_DISCLOSURE,
    APPLICANT_LABELS,
    APPLICATION_ROWS,
    FORMAT_VERSIONS,
    MEASURE_LABELS,
    REVIEW_GROUP_LABELS,
    REVIEW_GROUPS,
    REVIEW_OUTCOME_LABELS,
    SECTION_TITLES,
)

LAYOUTS = ("pipe", "cell_per_line", "whitespace_cell_per_line", "pdf_text", "html", "flattened")
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16")
# Injected advertising that replaces the site name (seed 001: 赌博软件app). Every phrase carries 赌博/博彩/百家乐.
NOISE_SPAM = ("赌博软件app", "赌博软件app", "网上赌博平台", "博彩网站入口", "真人百家乐赌博app")

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

# Section headings: index 0 is SECTION_TITLES; the others were seen in published reports.
_HEADING_VARIANTS = (
    (SECTION_TITLES[0],),
    (SECTION_TITLES[1],),
    (SECTION_TITLES[2], "三、依申请公开政府信息情况"),                               # seed-like variants
    (SECTION_TITLES[3], "四、行政复议、行政诉讼和举报投诉情况", "四、政府信息公开行政法复议、行政诉讼情况"),  # seed 002; typo seen
    (SECTION_TITLES[4], "五、政府信息公开工作存在的主要问题及改进情况"),                   # seed 002
    (SECTION_TITLES[5],),
)
_HEADING_WEIGHTS = ((1,), (1,), (6, 2), (6, 3, 1), (5, 2), (1,))
_HEADING_CUM = tuple(tuple(itertools.accumulate(w)) for w in _HEADING_WEIGHTS)

# --------------------------------------------------------------------------------------------------------------
# Character tables.
# --------------------------------------------------------------------------------------------------------------



def _fw_punct(text: str) -> str:
    """ASCII punctuation as full-width (PDFs, most HTML): chained replace beats str.translate on CJK text."""
    return text.replace("(", "（").replace(")", "）").replace(",", "，").replace(":", "：").replace(";", "；")


_FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
_CJK_DIGIT = re.compile(r"(?<=[\u4e00-\u9fff])(?=\d)|(?<=\d)(?=[\u4e00-\u9fff])")
_META_CHARSET = '<meta charset="utf-8">'

# --------------------------------------------------------------------------------------------------------------
# Organs: real division names from cpca's adcodes.csv (the table the parser resolves against), else a tiny pool.
# --------------------------------------------------------------------------------------------------------------

_CENTRAL_ORGANS = ("自然资源部", "生态环境部", "交通运输部", "水利部", "农业农村部", "商务部", "文化和旅游部",
                   "国家卫生健康委员会", "应急管理部", "国家税务总局", "国家市场监督管理总局", "国家统计局",
                   "国家医疗保障局", "海关总署", "国家林业和草原局", "国家知识产权局")
_PROVINCIAL_DEPTS = ("发展和改革委员会", "教育厅", "公安厅", "民政厅", "司法厅", "财政厅", "人力资源和社会保障厅",
                     "自然资源厅", "生态环境厅", "住房和城乡建设厅", "交通运输厅", "水利厅", "农业农村厅", "商务厅",
                     "文化和旅游厅", "卫生健康委员会", "应急管理厅", "审计厅", "市场监督管理局", "统计局")
_LOCAL_DEPTS = ("发展和改革委员会", "教育局", "公安局", "民政局", "司法局", "财政局", "人力资源和社会保障局",
                "自然资源和规划局", "生态环境局", "住房和城乡建设局", "交通运输局", "水利局", "农业农村局", "商务局",
                "文化广电和旅游局", "卫生健康委员会", "应急管理局", "审计局", "市场监督管理局", "统计局",
                "医疗保障局", "行政审批局", "政务服务管理办公室", "人民政府办公室")
_TOWN_CHARS = "紫溪青石桥河东西南北安平宁丰和兴龙凤山阳城新华长乐永清白沙马王李柳梅花林泉湖港金银"
_FALLBACK_DIVISIONS = (  # (province, prefecture, county)
    ("江苏省", "淮安市", "淮安区"), ("江苏省", "淮安市", "涟水县"), ("浙江省", "湖州市", "吴兴区"),
    ("甘肃省", "庆阳市", "西峰区"), ("云南省", "楚雄彝族自治州", "楚雄市"), ("四川省", "成都市", "武侯区"),
    ("广东省", "佛山市", "南海区"), ("河南省", "周口市", "商水县"), ("北京市", None, "东城区"),
)
_EXCLUDED_PROVINCES = ("71", "81", "82")  # 台湾, 香港, 澳门: no reports under the mainland regulation


@lru_cache(maxsize=1)
def _divisions() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str | None, str], ...]]:
    """(provinces, (province, prefecture) pairs, (province, prefecture, county) triples)."""
    rows: list[tuple[str, str]] = []
    try:
        import importlib.util

        spec = importlib.util.find_spec("cpca")
        if spec and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"
            for line in path.read_text(encoding="utf-8").splitlines()[1:]:
                code, name = line.split(",", 2)[:2]
                if len(code) >= 6 and code[:2] not in _EXCLUDED_PROVINCES:
                    rows.append((code[:6], name))
    except (OSError, ValueError, ImportError):
        rows = []
    if not rows:
        provs = tuple(dict.fromkeys(p for p, _, _ in _FALLBACK_DIVISIONS))
        prefs = tuple(dict.fromkeys((p, f) for p, f, _ in _FALLBACK_DIVISIONS if f))
        return provs, prefs, _FALLBACK_DIVISIONS  # type: ignore[return-value]
    rows.sort()
    by_code = dict(rows)
    provinces = tuple(n for c, n in rows if c[2:] == "0000")
    prefectures = tuple((by_code[c[:2] + "0000"], n) for c, n in rows
                        if c[2:4] != "00" and c[4:] == "00" and n[-1] in "市州盟" and c[:2] + "0000" in by_code)
    counties = tuple((by_code[c[:2] + "0000"], by_code.get(c[:4] + "00"), n) for c, n in rows
                     if c[4:] != "00" and n[-1] in "县区市旗" and c[:2] + "0000" in by_code)
    return provinces, prefectures, counties


def _infer_kind(organ: str | None) -> str:
    if not organ:
        return "other"
    if "开发区" in organ or "高新区" in organ or "新区" in organ:
        return "zone"
    if organ.endswith(("人民政府", "街道办事处", "公署")):
        return "government"
    return "department"


def _infer_level(organ: str | None) -> str:
    if not organ:
        return "unknown"
    if organ in _CENTRAL_ORGANS:
        return "central"
    if re.search(r"(镇|乡|街道)(人民政府|办事处)", organ):
        return "township"
    if "开发区" in organ or re.search(r"[县区旗]", organ.replace("自治区", "")):
        return "county"
    if organ.startswith(("北京市", "上海市", "天津市", "重庆市")):  # municipalities are province-level
        return "provincial"
    if re.search(r"[市州盟]", organ):
        return "prefectural"
    if re.search(r"(省|自治区)", organ):
        return "provincial"
    return "unknown"


_LEVEL_WEIGHTS = (("central", 2), ("provincial", 6), ("prefectural", 20), ("county", 42), ("township", 27),
                  ("unknown", 3))


def _random_organ(rng: random.Random, organ: str | None, level: str | None, province: str | None
                  ) -> tuple[str | None, str, str | None, str]:
    """(organ, admin_level, province, organ_kind)."""
    if organ is not None:
        level = level or _infer_level(organ)
        return organ, level, province, _infer_kind(organ)
    if level is None:
        level = rng.choices([lv for lv, _ in _LEVEL_WEIGHTS], [w for _, w in _LEVEL_WEIGHTS])[0]
    provinces, prefectures, counties = _divisions()
    if level == "central":
        return rng.choice(_CENTRAL_ORGANS), level, None, "department"
    if level == "unknown":  # seed 000: only "我局"
        return None, level, province, "department"
    if level == "provincial":
        prov = province or rng.choice(provinces)
        if rng.random() < 0.5:
            return prov + "人民政府", level, prov, "government"
        return prov + rng.choice(_PROVINCIAL_DEPTS), level, prov, "department"
    if level == "prefectural":
        pool = [p for p in prefectures if p[0] == province] if province else prefectures
        prov, pref = rng.choice(pool or prefectures)
        r = rng.random()
        if r < 0.45:
            return pref + "人民政府", level, prov, "government"
        return pref + rng.choice(_LOCAL_DEPTS), level, prov, "department"
    pool = [c for c in counties if c[0] == province] if province else counties
    prov, pref, county = rng.choice(pool or counties)
    if level == "county":
        r = rng.random()
        if r < 0.45:
            return county + "人民政府", level, prov, "government"
        if r < 0.52 and pref:
            return pref + rng.choice(("经济技术开发区管理委员会", "高新技术产业开发区管理委员会")), level, prov, "zone"
        return county + rng.choice(_LOCAL_DEPTS), level, prov, "department"
    name = rng.choice(_TOWN_CHARS) + rng.choice(_TOWN_CHARS)
    suffix = rng.choices(("镇人民政府", "乡人民政府", "街道办事处"), (6, 2, 3))[0]
    return name + suffix, "township", prov, "government"


# --------------------------------------------------------------------------------------------------------------
# Random records.
# --------------------------------------------------------------------------------------------------------------

# Share of requests by applicant column (natural persons dominate everywhere).
_APPLICANT_WEIGHTS = (0.86, 0.07, 0.004, 0.01, 0.03, 0.026)
# Share of handled requests by outcome row; 2019's single `other` row takes the three 2021 other_* shares.
_OUTCOME_WEIGHTS = {
    "granted": 0.40, "partially_granted": 0.11,
    "denied_state_secret": 0.002, "denied_prohibited_by_law": 0.008, "denied_three_security_one_stability": 0.003,
    "denied_third_party_rights": 0.005, "denied_internal_affairs": 0.005, "denied_process_information": 0.008,
    "denied_law_enforcement_file": 0.004, "denied_administrative_query": 0.02,
    "unavailable_not_held": 0.22, "unavailable_needs_creation": 0.02, "unavailable_unclear_after_correction": 0.01,
    "not_processed_petition": 0.03, "not_processed_duplicate": 0.015, "not_processed_publication": 0.002,
    "not_processed_excessive": 0.004, "not_processed_confirmation": 0.004,
    "other_no_correction": 0.03, "other_unpaid_fee": 0.004, "other_misc": 0.04, "other": 0.074,
}
_REVIEW_WEIGHTS = (0.40, 0.12, 0.35, 0.13)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    a = math.log(lo)
    return int(math.exp(a + (math.log(hi + 1) - a) * rng.random()))


def _count(rng: random.Random, p_zero: float, lo: float, hi: float) -> int:
    return 0 if rng.random() < p_zero else _log_uniform(rng, lo, hi)


@lru_cache(maxsize=64)
def _weights_plan(weights: tuple[float, ...]) -> tuple[list[float], tuple[tuple[int, float, bool], ...]]:
    """Cumulative weights (small n) and (bin, share, is_minor) for bins 1.. (large n)."""
    total = sum(weights)
    return (list(itertools.accumulate(weights)),
            tuple((i, w / total, w / total < 0.02) for i, w in enumerate(weights) if i))


def _split(rng: random.Random, n: int, weights: tuple[float, ...]) -> list[int]:
    """n items spread over len(weights) bins roughly by weight (index 0 takes the remainder)."""
    k = len(weights)
    out = [0] * k
    if n <= 0:
        return out
    cum, shares = _weights_plan(weights)
    if n <= 16:
        for i in rng.choices(range(k), cum_weights=cum, k=n):
            out[i] += 1
        return out
    r = rng.random
    rem = n
    for i, share, minor in shares:
        if minor and r() < 0.5:
            continue
        x = int(n * share * (0.2 + 1.6 * r()))
        if x > rem:
            x = rem
        out[i] = x
        rem -= x
    out[0] += rem
    return out


def _money(rng: random.Random, p_zero: float, lo: float, hi: float) -> int | float:
    if rng.random() < p_zero:
        return 0
    v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    digits = rng.choice((0, 0, 1, 2, 2, 4))
    v = round(v, digits)
    return int(v) if digits == 0 or float(v).is_integer() else v


def _active_disclosure(rng: random.Random, version: str, level: str, kind: str) -> dict[str, dict[str, Any]]:
    big = level in ("central", "provincial", "prefectural") or (level == "county" and kind == "government")
    makes_rules = level == "central" or (kind == "government" and level in ("provincial", "prefectural"))
    small = level in ("township", "unknown") or kind == "department"
    doc_hi = 4 if level == "township" else 40
    act_hi = 2000 if small else (500_000 if big else 20_000)
    if version == "2021":
        issued = _count(rng, 0.5, 1, doc_hi)
        return {
            "regulations": ({"issued": _count(rng, 0.4, 1, 4), "repealed": _count(rng, 0.6, 1, 3),
                             "in_force": _count(rng, 0.05, 3, 150)} if makes_rules
                            else {"issued": 0, "repealed": 0, "in_force": 0}),
            "normative_documents": {"issued": issued, "repealed": _count(rng, 0.6, 1, doc_hi),
                                    "in_force": issued + _count(rng, 0.3, 1, doc_hi * 8)},
            "licensing": {"decisions": _count(rng, 0.45, 1, act_hi)},
            "penalty": {"decisions": _count(rng, 0.45, 1, act_hi * 4)},
            "enforcement": {"decisions": _count(rng, 0.6, 1, act_hi // 4 + 1)},
            "administrative_fees": {"amount_10k_yuan": _money(rng, 0.55, 0.05, 200_000 if big else 2_000)},
        }
    out: dict[str, dict[str, Any]] = {}
    for key in ("regulations", "normative_documents"):
        hi = 4 if key == "regulations" else doc_hi
        made = _count(rng, 0.2 if key == "normative_documents" or makes_rules else 1.0, 1, hi)
        published = made - (rng.randint(0, made) if made and rng.random() < 0.2 else 0)
        out[key] = {"new_made": made, "new_published": published,
                    "total_published": published + _count(rng, 0.3, 1, hi * 10)}
    for key, hi in (("licensing", act_hi), ("other_services", act_hi // 10 + 1), ("penalty", act_hi * 4),
                    ("enforcement", act_hi // 4 + 1)):
        prev = _count(rng, 0.4, 1, 300 if big else 40)
        change = rng.randint(-prev, max(3, prev // 3)) if rng.random() < 0.5 else 0
        out[key] = {"previous_count": prev, "change": change, "decisions": _count(rng, 0.45, 1, hi)}
    prev = _count(rng, 0.5, 1, 60 if big else 8)
    out["administrative_fees"] = {"previous_count": prev,
                                  "change": rng.randint(-prev, 3) if rng.random() < 0.3 else 0}
    projects = _count(rng, 0.5, 1, 300 if big else 20)
    if projects == 0:
        amount: int | float = 0
    elif rng.random() < 0.5:  # yuan, printed as an integer (seed: 251000元)
        amount = _log_uniform(rng, 5_000, 50_000_000)
    else:  # ten-thousand yuan, decimal
        amount = _money(rng, 0.0, 0.5, 5_000)
    out["government_procurement"] = {"projects": projects, "amount": amount}
    return out


def _applications(rng: random.Random, version: str, level: str, kind: str) -> tuple[dict[str, list], list[int]]:
    if level == "township":
        n = _count(rng, 0.72, 1, 6)
    elif level == "central":
        n = _count(rng, 0.05, 10, 3000)
    elif level == "provincial":
        n = _count(rng, 0.03, 50 if kind == "government" else 5, 5000 if kind == "government" else 800)
    elif level == "prefectural":
        n = _count(rng, 0.03, 20, 4000) if kind == "government" else _count(rng, 0.35, 1, 150)
    elif level == "county":
        n = _count(rng, 0.2, 1, 300) if kind != "department" else _count(rng, 0.55, 1, 30)
    else:
        n = _count(rng, 0.55, 1, 30)
    row_keys, outcome_keys, weights = _outcome_plan(version)
    carried_over_n = 0 if rng.random() < 0.55 or n == 0 else int(n * rng.uniform(0.0, 0.1)) + rng.randint(0, 2)
    if n == 0 and carried_over_n == 0:  # most small organs: nothing received, nothing handled
        out = {k: [0] * 7 for k in row_keys}
    else:
        out = _request_table(rng, n, carried_over_n, row_keys, outcome_keys, weights)
    # Table 4 scales with requests: a few reviews for active organs, none for most small ones.
    review: list[int] = []
    for g in range(3):
        base = n * (0.08, 0.012, 0.008)[g]
        m = 0 if base < 1 and rng.random() > base else _log_uniform(rng, 1, max(1.0, base * 1.5))
        parts = _split(rng, m, _REVIEW_WEIGHTS)
        review += [*parts, sum(parts)]
    return out, review


@lru_cache(maxsize=4)
def _outcome_plan(version: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]:
    rows = APPLICATION_ROWS[version]
    outcome_keys = tuple(r.key for r in rows if r.group == "outcome")
    return tuple(r.key for r in rows), outcome_keys, tuple(_OUTCOME_WEIGHTS[k] for k in outcome_keys)


def _request_table(rng: random.Random, n: int, carried_over_n: int, row_keys: tuple[str, ...],
                   outcome_keys: tuple[str, ...], weights: tuple[float, ...]) -> dict[str, list]:
    new = _split(rng, n, _APPLICANT_WEIGHTS)
    carried_over = _split(rng, carried_over_n, _APPLICANT_WEIGHTS)
    per_column: list[list[int]] = []  # per applicant column, the outcome counts
    forward: list[int] = []
    for c in range(6):
        avail = new[c] + carried_over[c]
        cf = 0 if avail == 0 or rng.random() < 0.55 else min(avail, int(avail * rng.uniform(0, 0.12)) + rng.randint(0, 1))
        forward.append(cf)
        per_column.append(_split(rng, avail - cf, weights))
    by_row = dict(zip(outcome_keys, (list(r) for r in zip(*per_column, strict=True)), strict=True))
    fixed = {"new_received": new, "carried_over": carried_over, "carried_forward": forward,
             "total": [sum(col) for col in per_column]}
    out: dict[str, list] = {}
    for key in row_keys:
        vals = fixed[key] if key in fixed else by_row[key]
        out[key] = [*vals, sum(vals)]
    return out


def _break_rules(rng: random.Random, rec: dict[str, Any]) -> None:
    """Make 1-3 sum rules fail (as real reports do), keeping every value >= 0."""
    apps = rec["applications"]
    keys = list(apps)
    for _ in range(rng.randint(1, 3)):
        what = rng.randrange(4)
        delta = rng.randint(1, 5)
        if what == 0:  # a row total
            apps[rng.choice(keys)][6] += delta
        elif what == 1:  # a total-row cell (breaks detail sum and the column identity)
            apps["total"][rng.randrange(7)] += delta
        elif what == 2:  # carried_forward (breaks the column identity)
            col = rng.randrange(6)
            apps["carried_forward"][col] += delta
            apps["carried_forward"][6] += delta
        else:  # a table-4 group total
            rec["review_litigation"][5 * rng.randrange(3) + 4] += delta


def _apply_blanks(rng: random.Random, rec: dict[str, Any]) -> None:
    """Blank cells as published: stray blanks in table 2, blank zeros or a blank 总计 column in table 3, blank zeros in 4."""
    style = rng.randrange(4)
    if style in (0, 3):
        for vals in rec["active_disclosure"].values():
            for m in vals:
                if rng.random() < 0.12:
                    vals[m] = None
    if style in (1, 3):
        for vals in rec["applications"].values():
            for i, v in enumerate(vals):
                if v == 0 and rng.random() < 0.5:
                    vals[i] = None
        rec["review_litigation"] = [None if v == 0 and rng.random() < 0.5 else v for v in rec["review_litigation"]]
    if style == 2:  # some reports leave the 总计 column blank on detail rows
        for r in APPLICATION_ROWS[rec["format_version"]]:
            if r.group == "outcome":
                rec["applications"][r.key][6] = None


def random_record(rng: random.Random, *, year: int | None = None, format_version: str | None = None,
                  organ: str | None = None, admin_level: str | None = None, province: str | None = None,
                  consistent: bool = True, blanks: bool = False) -> dict[str, Any]:
    """A plausible canonical record. consistent: every table-3/table-4 sum rule holds exactly. blanks: some None cells
    (only zeros become blank in tables 3-4, or the 总计 column of detail rows, so sums still hold where printed)."""
    if year is None:
        year = {"2019": lambda: rng.choice((2019, 2020)), "2021": lambda: rng.randint(2021, 2024)}.get(
            format_version or "", lambda: rng.randint(2019, 2024))()
    if format_version is None:
        format_version = "2019" if year < 2021 else "2021"
    if format_version not in FORMAT_VERSIONS:
        raise ValueError(f"unknown format_version {format_version!r}")
    organ, level, province, kind = _random_organ(rng, organ, admin_level, province)
    published = None
    if rng.random() < 0.75:
        month = rng.choice((1, 1, 1, 2, 3, 3))
        published = f"{year + 1}-{month:02d}-{rng.randint(1, 28 if month == 2 else 31):02d}"
    index_number = None
    if rng.random() < 0.5:
        prefix = (f"{rng.randrange(10**8, 10**9):09d}" if rng.random() < 0.4
                  else f"11{rng.randrange(110000, 660000)}{rng.randrange(10**9, 10**10)}")
        index_number = f"{prefix}/{year + 1}-{rng.randint(1, 300):05d}"
    applications, review = _applications(rng, format_version, level, kind)
    rec: dict[str, Any] = {
        "year": year, "format_version": format_version, "organ": organ, "admin_level": level, "province": province,
        "published_date": published, "index_number": index_number,
        "active_disclosure": _active_disclosure(rng, format_version, level, kind),
        "applications": applications, "review_litigation": review,
    }
    if not consistent:
        _break_rules(rng, rec)
    if blanks:
        _apply_blanks(rng, rec)
    return rec


# --------------------------------------------------------------------------------------------------------------
# Hypothesis strategies (imported lazily: the corpus generator should not pay for hypothesis).
# --------------------------------------------------------------------------------------------------------------


def records(format_version: str | None = None, *, blanks: bool = False):  # noqa: ANN201 - hypothesis SearchStrategy
    """Valid, consistent records whose numbers shrink towards zero (metadata comes from random_record)."""
    from hypothesis import strategies as st

    small = st.one_of(st.just(0), st.integers(0, 9), st.integers(0, 3000))
    big = st.one_of(st.just(0), st.integers(0, 99), st.integers(0, 5_000_000))
    money = st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, 10**10).map(
        lambda x: x // 10**4 if x % 10**4 == 0 else x / 10**4))

    @st.composite
    def build(draw: Callable) -> dict[str, Any]:
        fv = format_version or draw(st.sampled_from(FORMAT_VERSIONS))
        year = draw(st.integers(2019, 2020) if fv == "2019" else st.integers(2021, 2025))
        rec = random_record(random.Random(draw(st.integers(0, 2**32 - 1))), year=year, format_version=fv)
        for item in ACTIVE_DISCLOSURE[fv]:
            vals = rec["active_disclosure"][item.key]
            for m in item.measures:
                if m == "change":
                    vals[m] = draw(st.integers(-5000, 5000))
                elif m in ("amount_10k_yuan", "amount"):
                    vals[m] = draw(money)
                else:
                    vals[m] = draw(big if m == "decisions" else small)
        rows = APPLICATION_ROWS[fv]
        outcome_keys = [r.key for r in rows if r.group == "outcome"]
        cols: dict[str, list[int]] = {r.key: [] for r in rows}
        for _ in range(6):
            outs = [draw(small) for _ in outcome_keys]
            forward = draw(small)
            avail = sum(outs) + forward
            carried = draw(st.integers(0, avail))
            for k, x in zip(outcome_keys, outs, strict=True):
                cols[k].append(x)
            cols["total"].append(sum(outs))
            cols["carried_forward"].append(forward)
            cols["carried_over"].append(carried)
            cols["new_received"].append(avail - carried)
        rec["applications"] = {k: [*v, sum(v)] for k, v in cols.items()}
        review: list[int] = []
        for _ in REVIEW_GROUPS:
            parts = [draw(small) for _ in range(4)]
            review += [*parts, sum(parts)]
        rec["review_litigation"] = review
        if blanks and draw(st.booleans()):
            _apply_blanks(random.Random(draw(st.integers(0, 2**32 - 1))), rec)
        return rec

    return build()


def layouts():  # noqa: ANN201 - hypothesis SearchStrategy
    from hypothesis import strategies as st

    return st.sampled_from(LAYOUTS)


# --------------------------------------------------------------------------------------------------------------
# Per-report style: every random choice about how the text looks, drawn once in a fixed order.
# --------------------------------------------------------------------------------------------------------------

class _Style:
    __slots__ = ("rng", "noise", "fw_punct", "fw_digit_rate", "thousands", "plus_sign", "money_unit", "brk",
                 "own_pad_line", "version", "spam", "six_sep", "nbsp_pad", "variants")

    def __init__(self, rng: random.Random, layout: str, version: str, noise: bool, spam: str | None,
                 variants: frozenset[str] = frozenset()) -> None:
        self.rng = rng
        self.variants = variants
        self.noise = noise
        self.version = version
        self.spam = spam
        r = rng.random
        if layout == "pdf_text":
            self.fw_punct = r() < 0.9
        elif layout == "html":
            self.fw_punct = r() < 0.6
        else:
            self.fw_punct = r() < 0.15
        self.fw_digit_rate = (0.15 if r() < 0.12 else 0.0) if noise else 0.0
        self.thousands = noise and r() < 0.15
        self.plus_sign = noise and r() < 0.3
        self.money_unit = noise and r() < 0.6
        self.brk = " " if r() < 0.7 else ""  # how a header word broken over lines comes out in pipe text (商业 企业)
        self.own_pad_line = r() < 0.3  # cell_per_line: colspan padding on its own line (seed 001)
        self.six_sep = "、" if layout == "pdf_text" else "."  # huaian PDF: 1、申请人无正当理由…
        self.nbsp_pad = noise and r() < 0.15  # &nbsp; left in value cells by an HTML-to-text conversion

    def p(self, text: str) -> str:
        return _fw_punct(text) if self.fw_punct else text

    def num(self, v: Any, unit: str = "") -> str:
        if v is None:
            return ""
        if type(v) is int:
            s = f"{v:,}" if self.thousands and (v >= 1000 or v <= -1000) else str(v)
        elif isinstance(v, float) and not v.is_integer():
            s = (f"{v:,.4f}" if self.thousands else f"{v:.4f}").rstrip("0").rstrip(".")
        else:
            iv = int(v)
            s = f"{iv:,}" if self.thousands and abs(iv) >= 1000 else str(iv)
        if self.fw_digit_rate and self.rng.random() < self.fw_digit_rate:
            s = s.translate(_FW_DIGITS)
        return s + unit

    def nums(self, values: Sequence[Any]) -> list[str]:
        if not (self.thousands or self.fw_digit_rate):
            return ["" if v is None else str(v) if type(v) is int else self.num(v) for v in values]
        out = []
        rate = self.fw_digit_rate
        rnd = self.rng.random
        big = self.thousands
        for v in values:
            if type(v) is not int:
                out.append(self.num(v))
                continue
            s = f"{v:,}" if big and (v >= 1000 or v <= -1000) else str(v)
            out.append(s.translate(_FW_DIGITS) if rate and rnd() < rate else s)
        return out


def _break_word(rng: random.Random, text: str) -> str:
    """A header word split over two lines at a random point ('\n' marks the break)."""
    if len(text) < 3 or rng.random() < 0.35:
        return text
    cut = len(text) // 2 if rng.random() < 0.7 else rng.randint(1, len(text) - 1)
    return text[:cut] + "\n" + text[cut:]


def _header_words(rng: random.Random, words: Sequence[str]) -> list[str]:
    """Header words of one table, broken the way that table's cells were sized: not at all, evenly, or ragged."""
    mode = rng.random()
    if mode < 0.3:
        return list(words)
    if mode < 0.75:  # 商业/企业, 结果/维持 (seed 004)
        return [w if len(w) < 3 else w[:len(w) // 2] + "\n" + w[len(w) // 2:] for w in words]
    return [_break_word(rng, w) for w in words]  # 科研机/构, 其 他 结/果 (huaian PDF)


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

# --------------------------------------------------------------------------------------------------------------
# Narrative.
# --------------------------------------------------------------------------------------------------------------

_PERIOD_SENTENCES = (  # the brief's form first; the others from seeds 003/004 and the huaian PDF
    "本报告中所列数据统计期限为{y}年1月1日至{y}年12月31日。",
    "本报告中所列数据统计期限为{y}年1月1日至{y}年12月31日。",
    "本报告中所列数据统计期限为{y}年1月1日至{y}年12月31日。",
    "数据统计时限为{y}年1月1日至{y}年12月31日。",
    "报告所列统计期限自{y}年1月1日至{y}年12月31日。",
)
_INTRO_HEADS = (
    "本报告由{organ}根据《中华人民共和国政府信息公开条例》(以下简称《条例》)规定编制。",
    "根据《中华人民共和国政府信息公开条例》规定编制本报告。",
    "本报告根据《中华人民共和国政府信息公开条例》(国令第711号)和《国务院办公厅政府信息与政务公开办公室关于印发〈中华人民共和国政府信息公开工作年度报告格式〉的通知》要求编制。",
)
_INTRO_TAILS = (
    "本报告的电子版可在{site}下载。如对本报告有任何疑问,请与{organ}联系。",
    "如对本报告有疑问,请与{organ}办公室联系(电话:0{tel})。",
    "",
)
_GENERAL = (
    "{y}年,{we}坚持以习近平新时代中国特色社会主义思想为指导,认真贯彻落实《中华人民共和国政府信息公开条例》,坚持以公开为常态、不公开为例外,不断完善公开制度,健全工作机制,拓展公开内容。",
    "{y}年,{we}认真贯彻落实上级关于政务公开工作的决策部署,紧紧围绕中心工作,持续深化政务公开,切实保障人民群众的知情权、参与权、表达权和监督权。",
    "一年来,{we}把政府信息公开工作纳入重要工作议事日程,主要负责同志亲自抓,分管负责同志具体抓,做到一级抓一级,层层抓落实。",
)
_SUB_ACTIVE = (
    "(一)主动公开。{y}年,通过{site}主动公开政府信息{n}条,及时发布工作动态、通知公告、政策文件和解读材料,做到应公开尽公开。",
    "(一)主动公开情况。围绕群众关切,及时公开财政预决算、重大建设项目、公共资源配置等重点领域信息,全年在{site}发布信息{n}条。",
)
_SUB_REQUEST = (
    "(二)依申请公开。{y}年,共收到政府信息公开申请{new}件,上年结转{co}件,均在法定期限内予以答复,结转下年度继续办理{cf}件。",
    "(二)依申请公开情况。全年共收到政府信息公开申请{new}件,已全部按照相关流程规范进行了答复。",
    "(二)依申请公开。进一步规范依申请公开登记、审核、办理、答复、归档等环节,全年共收到政府信息公开申请{new}件。",
)
_SUB_REQUEST_NONE = (
    "(二)依申请公开。{y}年,{we}未收到政府信息公开申请。",
    "(二)依申请公开情况。本年度未收到依申请公开事项。",
)
_SUB_MANAGE = (
    "(三)政府信息管理。严格落实“先审查、后公开”和“一事一审”制度,规范信息发布审核流程,确保发布信息准确、及时、规范。",
    "(三)政府信息管理。建立健全政府信息公开属性源头认定机制,定期对已公开信息进行梳理,及时更新政府信息公开目录。",
)
_SUB_PLATFORM = (
    "(四)政府信息公开平台建设。持续优化{site}政府信息公开专栏,规范栏目设置,做好日常维护和读网巡查,确保平台运行安全稳定。",
    "(四)平台建设。充分发挥政府网站、政务新媒体和政务公开栏等平台作用,拓宽公开渠道,方便群众获取信息。",
)
_SUB_SUPERVISE = (
    "(五)监督保障。将政务公开工作纳入年度绩效考核,定期开展业务培训和自查自纠,全年组织培训{k}次。",
    "(五)监督保障情况。明确专人负责政府信息公开工作,加强指导监督,全年未发生因政府信息公开引发的责任追究。",
)
_REVIEW_NONE = (
    "{y}年未收到政府信息公开行政复议案件,无因政府信息公开提起的行政诉讼。",
    "本年度未发生因政府信息公开引起的行政复议、行政诉讼案件。",
)
_REVIEW_SOME = "{y}年,发生政府信息公开行政复议{r}件、行政诉讼{s}件。"
_PROBLEMS = (
    "{we}政府信息公开工作取得了一定成效,但也存在一些问题:一是公开内容的全面性和及时性有待提高;二是政策解读形式较为单一;三是工作人员业务水平有待进一步提升。",
    "对照上级要求和群众期待,还存在一些不足:个别栏目更新不够及时,政策解读的针对性和通俗性还需加强。",
    "虽然政府信息公开工作取得了一定成绩,但仍存在监督机制有待完善、专业工作人员不足等问题。",
)
_IMPROVE = (
    "下一步,{we}将进一步加强组织领导,完善工作机制,丰富公开形式,提升公开质量,推动政府信息公开工作再上新台阶。",
    "{y1}年,{we}将重点抓好三个方面工作:一是全面加强政府信息主动公开;二是全面提升依申请公开办理质效;三是持续加强业务培训。",
    "针对存在问题,{we}将加强学习培训,健全审核机制,及时回应社会关切,不断提升政府信息公开工作水平。",
)
_OTHER = (
    "{y}年,{we}未收取政府信息公开信息处理费。",
    "本年度未收取信息处理费,无其他需要报告的事项。",
    "无其他需要报告的事项。",
    "(无)",
    "{y}年,{we}严格落实《政府信息公开信息处理费管理办法》,全年收取信息处理费{fee}元。",
)
_CRUMBS = ("首页 > 政务公开 > 年度报告", "首页 > 政府信息公开 > 政府信息公开年报", "当前位置:首页 > 信息公开 > 年报",
           "政府信息公开")
_FOOTERS = (("文件下载:", "关联文件:"), ("分享到:", "【打印正文】"), ("分享到:", "【打印正文】【关闭窗口】"), ("【打印正文】",))


def _we(organ: str | None) -> str:
    if not organ:
        return "我局"
    if organ.endswith("人民政府"):
        for suffix, we in (("省人民政府", "我省"), ("自治区人民政府", "我区"), ("市人民政府", "我市"),
                           ("县人民政府", "我县"), ("区人民政府", "我区"), ("镇人民政府", "我镇"), ("乡人民政府", "我乡"),
                           ("州人民政府", "我州"), ("旗人民政府", "我旗"), ("盟人民政府", "我盟")):
            if organ.endswith(suffix):
                return we
        return "本机关"
    if organ.endswith("街道办事处"):
        return "我街道"
    for tail, we in (("局", "我局"), ("委员会", "我委"), ("办公室", "我办"), ("厅", "我厅"), ("部", "我部")):
        if organ.endswith(tail):
            return we
    return "本机关"


def _site_name(organ: str | None) -> str:
    if not organ:
        return "门户网站"
    base = re.sub(r"(人民政府|街道办事处)$", "", organ)
    return f"{base}政府门户网站" if base != organ else f"{organ}门户网站"


def _date_text(iso: str, pdf: bool = False) -> str:
    y, m, d = iso.split("-")
    if pdf:
        return f"{y} 年 {int(m)} 月 {int(d)} 日"
    return f"{y}年{int(m)}月{int(d)}日"


Block = tuple[str, Any]


def _blocks(rec: dict[str, Any], st: _Style, layout: str) -> list[Block]:
    """The report as a sequence of blocks, independent of layout."""
    rng = st.rng
    r = rng.random

    def pick(seq: Sequence[Any]) -> Any:  # rng.choice without its overhead (this runs 100,000 times)
        return seq[int(r() * len(seq))]

    def randint(lo: int, hi: int) -> int:
        return lo + int(r() * (hi - lo + 1))

    year = rec["year"]
    organ = rec.get("organ")
    published = rec.get("published_date")
    we = _we(organ)
    site = st.spam or _site_name(organ)
    fmt = {"y": year, "y1": year + 1, "we": we, "organ": organ or we, "site": site,
           "tel": f"{randint(10, 999)}-{randint(2000000, 89999999)}", "n": randint(20, 20000),
           "k": randint(1, 6), "fee": randint(10, 5000)}
    apps = rec.get("applications") or {}
    blocks: list[Block] = []
    noisy = st.noise and layout not in ("pdf_text",)
    if noisy and r() < 0.5:
        blocks.append(("crumb", pick(_CRUMBS)))
    # Header grid before the title on many portals (seed 003/004), 来源/发布时间 line after it (seed 002).
    # Every metadata value the record holds is printed somewhere, so a parser can read it back: the index number
    # only lives in a header grid (a PDF printed from the portal keeps it as its first line), the date in the grid,
    # the 来源/发布时间 line or the closing signature.
    index_number = rec.get("index_number")
    if layout == "pdf_text":
        meta_style = "pdf" if index_number else "none"
    elif index_number:
        meta_style = "grid"
    else:
        meta_style = pick(("grid", "grid", "source", "none"))
    if meta_style == "pdf":
        blocks.append(("pdfmeta", index_number))
    if meta_style == "grid" and (index_number or published or organ):
        blocks.append(("meta", (index_number, organ, published)))
    if organ is not None and st.variants & {"year_first_title", "year_last_title"}:
        title = (f"{year}年{organ}政府信息公开工作年度报告" if "year_first_title" in st.variants
                 else f"{organ}政府信息公开工作年度报告（{year}年）")
        blocks.append(("title", (organ, title[len(organ):]) if title.startswith(organ) else ("", title)))
    elif organ is not None:
        if r() < 0.8:
            title = f"{organ}{year}年政府信息公开工作年度报告"
        elif r() < 0.5:
            title = f"{organ}关于{year}年度政府信息公开工作的年度报告"
        else:
            variant = r()
            if variant < 0.4:
                title = f"{organ}{year}年度政府信息公开工作年度报告"
            elif variant < 0.75:  # the year first, the organ after it (an office: 2021年庆阳市人民政府办公室…)
                title = f"{year}年{organ}政府信息公开工作年度报告"
            else:  # the year last: …政府信息公开工作年度报告（2021年）
                title = f"{organ}政府信息公开工作年度报告（{year}年）"
        blocks.append(("title", (organ, title[len(organ):]) if title.startswith(organ) else ("", title)))
    if meta_style == "source" and published:
        blocks.append(("source", (organ or "", published)))
    head = pick(_INTRO_HEADS) if organ else _INTRO_HEADS[1]
    intro = head + pick(_PERIOD_SENTENCES) + pick(_INTRO_TAILS)
    if organ is None:
        intro = f"现将{we}{year}年度政府信息公开工作情况报告如下。" + intro
    blocks.append(("para", intro.format(**fmt)))

    def heading(i: int) -> None:
        variants = _HEADING_VARIANTS[i]
        text = variants[bisect.bisect(_HEADING_CUM[i], r() * _HEADING_CUM[i][-1])] if len(variants) > 1 else variants[0]
        if r() < 0.08:
            text += "。"
        blocks.append(("heading", text))

    def image() -> None:
        if noisy and r() < 0.12:
            blocks.append(("image", f"{rng.getrandbits(128):032x}.jpg"))

    heading(0)
    blocks.append(("para", pick(_GENERAL).format(**fmt)))
    image()
    blocks.append(("para", pick(_SUB_ACTIVE).format(**fmt)))
    new = (apps.get("new_received") or [None] * 7)[6]
    co = (apps.get("carried_over") or [None] * 7)[6]
    cf = (apps.get("carried_forward") or [None] * 7)[6]
    if new == 0:
        blocks.append(("para", pick(_SUB_REQUEST_NONE).format(**fmt)))
    elif new is not None:
        pool = _SUB_REQUEST if co is not None and cf is not None else _SUB_REQUEST[1:]
        blocks.append(("para", pick(pool).format(new=new, co=co, cf=cf, **fmt)))
    image()
    if r() < 0.8:
        blocks.append(("para", pick(_SUB_MANAGE).format(**fmt)))
    if r() < 0.7:
        blocks.append(("para", pick(_SUB_PLATFORM).format(**fmt)))
    if r() < 0.6:
        blocks.append(("para", pick(_SUB_SUPERVISE).format(**fmt)))
    heading(1)
    blocks.append(("table", "t2"))
    heading(2)
    blocks.append(("table", "t3"))
    heading(3)
    review = rec.get("review_litigation") or []
    if len(review) == 15 and r() < 0.3:
        totals = [review[4], review[9], review[14]]
        if all(v == 0 for v in totals):
            blocks.append(("para", pick(_REVIEW_NONE).format(**fmt)))
        elif all(v is not None for v in totals):
            blocks.append(("para", _REVIEW_SOME.format(r=totals[0], s=totals[1] + totals[2], **fmt)))
    blocks.append(("table", "t4"))
    heading(4)
    blocks.append(("para", pick(_PROBLEMS).format(**fmt)))
    if r() < 0.7:
        blocks.append(("para", pick(_IMPROVE).format(**fmt)))
    heading(5)
    blocks.append(("para", pick(_OTHER).format(**fmt)))
    # Closing signature: the date must be the published date, so only print one when the record has one.
    sign: list[str] = []
    date_shown = published and meta_style in ("grid", "source")
    if r() < 0.5 or (published and not date_shown):
        if organ and r() < 0.7:
            sign.append(organ)
        if published:
            sign.append(published if r() < 0.2 else _date_text(published, layout == "pdf_text"))
    if sign:
        blocks.append(("sign", sign))
    if noisy and (r() < 0.6 or layout == "html"):
        foot = pick(_FOOTERS)
        if layout == "html" and "分享到:" not in foot:  # portal pages end with a share bar
            foot = ("分享到:", *foot)
        blocks.append(("foot", foot))
    return blocks


# --------------------------------------------------------------------------------------------------------------
# Layouts.
# --------------------------------------------------------------------------------------------------------------


def _tables(rec: dict[str, Any], st: _Style) -> dict[str, list[Row]]:
    return {"t2": _t2_grid(rec, st), "t3": _t3_grid(rec, st), "t4": _t4_grid(rec, st)}


def _pipe_table(grid: list[Row], ncols: int, st: _Style) -> list[str]:
    lines = []
    last = len(grid) - 1
    brk = st.brk
    for i, (texts, _spans, fixed, head) in enumerate(grid):
        if st.nbsp_pad and not head:
            texts = texts[:fixed] + ["\xa0" + t if t else t for t in texts[fixed:]]
        s = " | ".join(texts) + " |"
        if head:
            s = s.replace("\n", brk)
        miss = ncols - len(texts)
        if miss > 0 and i != last:  # seeds 003/004: the last row carries no padding
            s += " " + "|" * miss
        lines.append(s)
    return lines


def _cell_table(grid: list[Row], ncols: int, st: _Style) -> list[str]:
    lines = []
    last = len(grid) - 1
    brk = st.brk
    for i, (texts, _spans, fixed, head) in enumerate(grid):
        if head:
            texts = [t.replace("\n", brk) for t in texts]
        elif st.nbsp_pad:
            texts = texts[:fixed] + ["\xa0" + t if t else t for t in texts[fixed:]]
        s = " |\n".join(texts) + " |"
        miss = ncols - len(texts)
        if miss > 0 and i != last:
            s += ("\n" if st.own_pad_line else " ") + "|" * miss  # seed 001 / seed 000
        lines.append(s)
    return lines


_WS_INDENTS = ("", " ", "\xa0", "\xa0 ", " \xa0 ", "\xa0 \xa0 \xa0 ", "\xa0 \xa0 \xa0 \xa0 \xa0 \xa0 ")


def _ws_table(grid: list[Row], st: _Style) -> list[str]:
    """Seed 002: a cell per line, blank lines between, NBSP indentation, header words broken over lines."""
    rnd = st.rng.random
    lines = []
    noisy = st.noise
    for texts, _spans, fixed, head in grid:
        if head:
            for t in texts:
                lines.append(("\xa0 " * int(rnd() * 12) if noisy else "") + t.replace("\n", "\n\n"))
            continue
        lines.extend(texts[:fixed])
        for t in texts[fixed:]:
            if not t:
                lines.append("\xa0")  # a blank cell: a whitespace-only line
            elif noisy:
                i = int(rnd() * 14)
                lines.append((_WS_INDENTS[i] if i < 7 else "") + t + ("\xa0" if i & 1 else ""))
            else:
                lines.append(t)
    return lines


def _flat_table(grid: list[Row]) -> str:
    return "".join("".join(row[0]) for row in grid).replace("\n", "")


def _meta_pipe(meta: tuple[str | None, str | None, str | None], st: _Style) -> list[str]:
    idx, organ, date = meta
    cells = []
    if idx:
        cells += ["索引号:", idx]
    if organ:
        cells += ["发布机构:", organ]
    if date:
        cells += [st.rng.choice(("成文日期:", "发布日期:", "公开日期:")), date]
    return [" | ".join(cells) + " |", "公开方式: | 主动公开 | 公开时限: | 长期公开 |"] if st.rng.random() < 0.5 else [
        " | ".join(cells) + " |"]


def _source_line(data: tuple[str, str], st: _Style) -> str:
    organ, date = data
    rng = st.rng
    return f"来源:{organ} 发布时间:{date} {rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} 【字体:大 中 小】"


def _render_text(rec: dict[str, Any], st: _Style, layout: str) -> str:
    """pipe, cell_per_line, whitespace_cell_per_line and flattened."""
    blocks = _blocks(rec, st, layout)
    tables = _tables(rec, st)
    rng = st.rng
    ws = layout == "whitespace_cell_per_line"
    flat = layout == "flattened"
    fuse = rng.choice(("tables", "tables", "paragraphs", "all")) if flat else ""
    out: list[str] = []
    p = st.p
    prev = ""
    for kind, data in blocks:
        fuse_para = fuse == "paragraphs" and kind == "para" and prev == "para"
        prev = kind
        if kind == "table":
            grid = tables[data]
            if flat:
                out.append(_flat_table(grid))
            elif layout == "pipe":
                out.extend(_pipe_table(grid, _NCOLS[data], st))
            elif layout == "cell_per_line":
                out.extend(_cell_table(grid, _NCOLS[data], st))
            else:
                out.extend(_ws_table(grid, st))
        elif kind == "para":
            text = p(data)
            if ws and st.noise and rng.random() < 0.3:
                text += " \xa0"
            if fuse_para:
                out[-1] += text
            else:
                out.append(text)
        elif kind == "heading":
            out.append(data)
        elif kind == "title":
            out.append(data[0] + data[1])
        elif kind == "meta":
            if flat:
                out.append("".join(x.replace(" | ", "").rstrip(" |") for x in _meta_pipe(data, st)))
            else:
                out.extend(_meta_pipe(data, st))
        elif kind == "source":
            out.append(_source_line(data, st))
        elif kind == "image":
            out.append(data)
        elif kind in ("sign", "foot", "crumb"):
            out.extend([data] if isinstance(data, str) else data)
    if fuse == "all":
        head = 0
        while head < len(out) and not out[head].startswith(SECTION_TITLES[0][:2]):
            head += 1
        return "\n".join(out[:head] + ["".join(out[head:])]) + "\n"
    sep = "\n\n" if ws else "\n"
    return sep.join(out) + "\n"


# --- pdf_text ------------------------------------------------------------------------------------------------


def _pdf_wrap(text: str, width: int) -> list[str]:
    """Fixed-width lines as a PDF extractor gives them, never splitting a run of digits; no edge spaces."""
    out = []
    i = 0
    n = len(text)
    while n - i > width:
        j = i + width
        while j > i + 1 and text[j - 1].isdigit() and text[j].isdigit():
            j -= 1
        out.append(text[i:j].strip())
        i = j
    if i < n:
        out.append(text[i:].strip())
    return [line for line in out if line]


def _spaced_chars(rng: random.Random, text: str) -> str:
    return " ".join(text) if rng.random() < 0.4 else text


def _pdf_t3(rec: dict[str, Any], st: _Style) -> list[str]:
    rng = st.rng
    version = rec["format_version"]
    apps = rec["applications"]
    note = st.p(_T3_NOTE)
    cut = note.find("," if not st.fw_punct else "，", len(note) // 2) + 1 or len(note) // 2
    lines = [note[:cut], note[cut:], _T3_APPLICANT_HEAD, APPLICANT_LABELS[0], _T3_ORG_HEAD]
    org = []
    for lab in APPLICANT_LABELS[1:5]:
        k = rng.randint(2, len(lab) - 1)
        org += [_spaced_chars(rng, lab[:k]), lab[k:]]
    if rng.random() < 0.6:  # huaian: 总计 fused with the first org header
        org[0] = APPLICANT_LABELS[6] + org[0]
        lines += org + [APPLICANT_LABELS[5]]
    else:
        lines += org + [APPLICANT_LABELS[5], APPLICANT_LABELS[6]]
    label_w = rng.randint(13, 16)
    wide_w = label_w + 6
    damaged = _damaged_key(rec, st)
    pending_group: list[str] = []
    close = "）" if st.fw_punct else ")"
    nums_of = st.nums
    for (key, glabel, label, _run, first, _six), (_, labels, _spans) in zip(
            _t3_layout(version), _t3_plan(version, st.fw_punct, st.six_sep), strict=True):
        nums = " ".join(filter(None, nums_of(apps.get(key) or ())))
        if key in _OTHER_SUB_ROWS and _merged_six(rec, st):
            if key == _OTHER_SUB_ROWS[0]:
                lines.append(st.p(_SIX_MERGED) + " " + " ".join(filter(None, nums_of(_six_total(apps)))))
            continue
        if key == damaged:
            labels = (*labels[:-1], _drop_chars(labels[-1], rng))
        if first:
            lines.append(_T3_RESULTS[:2])
            lines.extend(_T3_RESULTS[2:])
        prefix = ""
        if glabel:
            g = labels[-2]
            k = g.index(close) + 2
            if rng.random() < 0.5:
                lines += [g[:k], g[k:]]
            else:  # huaian: (四)无 1.本机关… / 法提供 2.没有…
                prefix = g[:k] + " "
                pending_group = [g[k:] + " "]
        elif pending_group:
            prefix = pending_group.pop()
        text = labels[-1]
        if key in ("new_received", "carried_over", "carried_forward", "total") or len(text) <= label_w:
            parts = [text]
        else:
            parts = _pdf_wrap(text, label_w if label[:1].isdigit() else wide_w)
        parts[0] = prefix + parts[0]
        # a wrapped label's numbers: on a line of their own, or beside its first line (a cell aligned to the top),
        # a middle line (centred: pdftotext -layout) or its last line
        at = len(parts) - 1
        if len(parts) > 1:
            r = rng.random()
            at = None if r < 0.4 else 0 if r < 0.55 else len(parts) // 2 if r < 0.7 else at
        if not nums:
            lines += parts
        elif at is None:
            lines += parts + [nums]
        else:
            lines += parts[:at] + [parts[at] + " " + nums] + parts[at + 1:]
    return lines


def _pdf_t4(rec: dict[str, Any], st: _Style) -> list[str]:
    rng = st.rng
    lines = [f"{REVIEW_GROUP_LABELS[0]} {_T4_SUIT_HEAD}"]

    def outcome_heads() -> list[str]:
        out = []
        for lab in REVIEW_OUTCOME_LABELS:
            if len(lab) > 2 and rng.random() < 0.8:
                k = rng.randint(2, len(lab) - 1)
                out += [_spaced_chars(rng, lab[:k]), lab[k:]]
            else:
                out.append(lab)
        return out

    lines += outcome_heads()
    lines.append(f"{REVIEW_GROUP_LABELS[1]} {REVIEW_GROUP_LABELS[2]}")
    lines += outcome_heads() + outcome_heads()
    vals = " ".join(filter(None, st.nums(rec.get("review_litigation") or ())))
    if vals:
        lines.append(vals)
    return lines


def _pdf_t2(rec: dict[str, Any], st: _Style) -> list[str]:
    lines = []
    for texts, _spans, _fixed, _head in _t2_grid(rec, st):
        if len(texts) == 1:  # 第二十条第(一)项 -> 第二十条 第（一）项
            lines.append(texts[0].replace("条第", "条 第"))
        else:
            lines.append(" ".join(t for t in texts if t))
    return lines


def _render_pdf(rec: dict[str, Any], st: _Style) -> str:
    rng = st.rng
    width = rng.randint(28, 33)
    lines: list[str] = []
    for kind, data in _blocks(rec, st, "pdf_text"):
        if kind == "para":
            lines += _pdf_wrap(_CJK_DIGIT.sub(" ", st.p(data)), width)
        elif kind == "heading":
            lines.append(st.p(data))
        elif kind == "title":
            organ, rest = data
            rest = _CJK_DIGIT.sub(" ", rest)
            if not organ:  # the year first: broken after the organ, or on one line
                k = rest.rfind("政府信息公开")
                lines += [rest[:k], rest[k:]] if rng.random() < 0.5 else [rest]
            else:
                lines += [organ, rest] if rng.random() < 0.7 else [organ + rest]
        elif kind == "table":
            lines += {"t2": _pdf_t2, "t3": _pdf_t3, "t4": _pdf_t4}[data](rec, st)
        elif kind == "sign":
            lines += data
        elif kind == "pdfmeta":
            lines.append(f"索引号：{data}" if st.fw_punct else f"索引号:{data}")
    # Page markers on their own line at each page top, inside tables too (huaian: "- 4 -").
    out = []
    page = 1
    per_page = rng.randint(32, 38)
    for i, line in enumerate(lines):
        if i % per_page == 0:
            out.append(f"- {page} -")
            page += 1
        out.append(line)
    return "\n".join(out) + "\n"


# --- html ----------------------------------------------------------------------------------------------------

_HTML_SCRIPTS = (
    "var _hmt = _hmt || [];(function() {var hm = document.createElement('script');hm.src = 'https://hm.baidu.com/hm.js?{h}';var s = document.getElementsByTagName('script')[0];s.parentNode.insertBefore(hm, s);})();",
    "$(function(){ $('.share a').on('click', function(){ return false; }); var id = '{h}'; });",
)


@lru_cache(maxsize=512)
def _td_opens(spans: tuple[tuple[int, int], ...], fixed: int, pre: str) -> tuple[tuple[str, ...], bool]:
    """Opening tags per cell, and whether every value cell is a plain 1x1 cell (joined in one go)."""
    opens = tuple("<td" + (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "") + ">" + pre
                  for rs, cs in spans)
    return opens, all(sp == _ONE for sp in spans[fixed:])


def _html_table(grid: list[Row], st: _Style) -> str:
    rng = st.rng
    nbsp = st.noise and rng.random() < 0.3
    blank = "&nbsp;" if rng.random() < 0.3 else ""
    pre, post = ('<p style="text-align:center"><span>', "</span></p>") if rng.random() < 0.4 else ("", "")
    br = "<br>" if rng.random() < 0.7 else "<br/>"
    close = post + "</td>"
    open1 = "<td>" + pre
    parts = ['<table border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse;width:100%"><tbody>']
    for texts, spans, fixed, _head in grid:
        opens, plain = _td_opens(spans, fixed, pre)
        row = "<tr>" + "".join([opens[j] + texts[j].replace("\n", br) + close for j in range(fixed)])
        vals = texts[fixed:]
        if nbsp:
            vals = [("&nbsp;" + t if rng.random() < 0.2 else t) if t else blank for t in vals]
        elif blank and "" in vals:
            vals = [t or blank for t in vals]
        if not vals:
            pass
        elif plain:
            row += open1 + (close + open1).join(vals) + close
        else:
            row += "".join([o + t + close for o, t in zip(opens[fixed:], vals, strict=True)])
        parts.append(row + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _render_html(rec: dict[str, Any], st: _Style) -> str:
    rng = st.rng
    blocks = _blocks(rec, st, "html")
    tables = _tables(rec, st)
    title = next((d[0] + d[1] for k, d in blocks if k == "title"), "政府信息公开工作年度报告")
    script = rng.choice(_HTML_SCRIPTS).replace("{h}", f"{rng.getrandbits(64):016x}")
    body: list[str] = []
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" if st.noise and rng.random() < 0.4 else ""
    for kind, data in blocks:
        if kind == "crumb":
            body.append(f'<div class="position">{data.replace(">", "&gt;")}</div>')
        elif kind == "meta":
            idx, organ, date = data
            cells = []
            if idx:
                cells.append(f"<td>索引号:</td><td>{idx}</td>")
            if organ:
                cells.append(f"<td>发布机构:</td><td>{organ}</td>")
            if date:
                cells.append(f"<td>成文日期:</td><td>{date}</td>")
            body.append(f'<table class="xxgk-info"><tr>{"".join(cells)}</tr></table>')
        elif kind == "title":
            body.append(f'<h1 class="article-title">{data[0]}{data[1]}</h1>')
        elif kind == "source":
            body.append(f'<div class="info">{_source_line(data, st)}</div>')
        elif kind == "para":
            body.append(f'<p style="text-indent:2em;">{indent}{st.p(data)}</p>')
        elif kind == "heading":
            body.append(f"<p><strong>{data}</strong></p>")
        elif kind == "table":
            body.append(_html_table(tables[data], st))
        elif kind == "image":
            body.append(f'<p style="text-align:center"><img src="/uploadfiles/{rec["year"] + 1}/{data}" alt="{data}"></p>')
        elif kind == "sign":
            body.append("".join(f'<p style="text-align:right">{x}</p>' for x in data))
        elif kind == "foot":
            body.append("".join(f'<div class="share">{x}</div>' for x in data))
    return ("<!DOCTYPE html>\n<html>\n<head>\n" + _META_CHARSET + f"\n<title>{title}</title>\n<script>{script}</script>\n"
            "</head>\n<body>\n<div class=\"main\">\n" + "\n".join(body) + "\n</div>\n</body>\n</html>\n")


# --------------------------------------------------------------------------------------------------------------
# Public entry points.
# --------------------------------------------------------------------------------------------------------------


def _as_rng(rng: random.Random | int | None, record: dict[str, Any], layout: str) -> random.Random:
    if isinstance(rng, random.Random):
        return rng
    if rng is None:  # deterministic per record and layout (a digest of the fields that tell records apart)
        apps = record.get("applications") or {}
        key = (f"{layout}|{record.get('organ')}|{record.get('year')}|{record.get('published_date')}|"
               f"{apps.get('new_received')}|{apps.get('total')}|{record.get('review_litigation')}|"
               f"{list((record.get('active_disclosure') or {}).values())}")
        rng = zlib.crc32(key.encode())
    return random.Random(rng)


def render(record: dict[str, Any], layout: str, *, rng: random.Random | int | None = None, noise: bool = True,
           spam: bool = False, variants: frozenset[str] | set[str] = frozenset()) -> str:
    """The report text for `record` in `layout` (one of LAYOUTS). rng: a Random, a seed, or None (seeded from the
    record). noise adds breadcrumbs, footers, images, full-width digits, thousands separators, units, NBSP — never
    changing a value. spam replaces the site name with injected gambling text (a spam_injection case)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    r = _as_rng(rng, record, layout)
    spam_text = r.choice(NOISE_SPAM) if spam else None
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; expected some of {VARIANTS}")
    st = _Style(r, layout, record["format_version"], noise, spam_text, frozenset(variants))
    if layout == "pdf_text":
        return _render_pdf(record, st)
    if layout == "html":
        return _render_html(record, st)
    return _render_text(record, st, layout)


def encode_text(text: str, encoding: str) -> bytes:
    """Encode rendered text; an HTML charset declaration follows the encoding, GBK gets plain spaces for NBSP."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    if _META_CHARSET in text:
        label = "utf-8" if encoding == "utf-8-sig" else encoding
        text = text.replace(_META_CHARSET, f'<meta charset="{label}">', 1)
    if encoding == "gbk":
        text = text.replace("\xa0", " ")
    return text.encode(encoding)


def render_bytes(record: dict[str, Any], layout: str, *, rng: random.Random | int | None = None,
                 encoding: str = "utf-8", noise: bool = True, spam: bool = False,
                 variants: frozenset[str] | set[str] = frozenset()) -> bytes:
    """render() encoded as a published file would be: utf-8, utf-8-sig, gb18030, gbk or utf-16 (with BOM)."""
    return encode_text(render(record, layout, rng=rng, noise=noise, spam=spam, variants=variants), encoding)


__all__ = ["ENCODINGS", "LAYOUTS", "NOISE_SPAM", "VARIANTS", "encode_text", "layouts", "random_record", "records", "render",
           "render_bytes"]
