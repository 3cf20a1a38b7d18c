"""Who publishes a report: organ names to administrative divisions (spec: "Who publishes: administrative level").

Places come only from the administrative-division table shipped with this package as data (``data/adcodes.csv``:
12-digit adcode, name, longitude, latitude; province, prefecture and county rows; ``data/README.md`` gives its
source, licence and vintage), loaded once (``_table``, cached) by the parser and the corpus generator alike.
Membership is read from the code digits: the first 2 name the province, the first 4 the prefecture, the first 6 the
county.  Table quirks:

* the four municipalities (北京市 …) are province rows whose districts sit under a ``市辖区``/``县`` placeholder
  (1101, 5002): the municipality is provincial, its districts are counties with no prefecture;
* 省直辖县级行政区划 (4290 仙桃市, 4190 济源市 …) are placeholders too: those cities are counties with no prefecture;
* 东莞市/中山市/儋州市 are prefectures without counties (nothing special is needed);
* names repeat across the country (朝阳区, 鼓楼区, 城区 …): another place named in the organ string, then the
  context, picks one; if neither does, only what all the candidates share is filled in and the county stays null.

What is written by hand here is grammar only: suffixes (省/自治区/市/州/盟/县/区/旗, 镇/乡/街道/苏木), department
words, zone words, and a short list of ministries for the corpus generator.  The ethnic-group names used to shorten
自治州/自治县 names (黔东南苗族侗族自治州 → 黔东南) come from ``data/56_nations.csv`` (shipped with the table).

Matching runs one Aho-Corasick automaton (pyahocorasick) over full names (淮安市, 清江浦区) and short forms (淮安,
内蒙古, 黔东南州); contexts longer than a title are scanned for full names only, with a second automaton over
reversed names (much faster on running text).  The table shows the divisions of mid-2016 (DIVISION_TABLE_VINTAGE):
counties renamed since (海门市 → 海门区) are still found through their short form, and a division it does not list at
all (郫都区人民政府) still gets its level from its suffix, with the place left at the parent the organ names.

Caching: calls are cached on the raw (organ, context) when the context is short (a sidecar region, a title), and on
(normalised organ, places the context names) otherwise, so a long context is never kept.

One module of ~900 lines, on purpose: a third of it is the grammar's word lists (data), and the matching, the corpus
generator (sample_divisions) and the expected publishers (governments) share the table's private structures
(_Table, _Div, _county_prefix), which must agree for resolve_organ to give every sampled organ back.
"""

from __future__ import annotations

import functools
import importlib.resources
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick
import polars as pl

__all__ = [
    "ADMIN_LEVELS",
    "Division",
    "UNKNOWN",
    "region_of",
    "resolve_organ",
    "resolve_region",
    "sample_divisions",
]

ADMIN_LEVELS = ("central", "provincial", "prefectural", "county", "township", "unknown")
_LEVEL_BY_DEPTH = ("provincial", "prefectural", "county")
CONTEXT_LIMIT = 4000  # characters of context scanned (a title, a sidecar region, the head of a report)
_SHORT_CONTEXT = 64  # contexts up to this long (regions, titles) also match short forms (淮安, 黔东南州)
_RAW_CACHE_CONTEXT = 256  # calls with contexts up to this long are cached as given (no normalising on a hit)


@dataclass(frozen=True)
class Division:
    admin_level: str  # central, provincial, prefectural, county, township, unknown
    organ_kind: str | None  # government, department, zone, other
    province: str | None  # full name, e.g. "江苏省"
    prefecture: str | None  # e.g. "淮安市"
    county: str | None  # e.g. "清江浦区"
    division_code: str | None  # 6 digits of the deepest resolved division (e.g. "320800" for 淮安市)


UNKNOWN = Division("unknown", None, None, None, None, None)

# ---------------------------------------------------------------------------------------------------------------
# Grammar (not places)

# Placeholder rows of the table: grouping codes, not places.
_PLACEHOLDER_RE = re.compile(r"^(?:市辖区|县|.*直辖县级行政区划)$")
# Suffixes stripped to get a short form (淮安市 → 淮安); longest first.
_NAME_SUFFIXES = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "地区",
    "林区",
    "省",
    "市",
    "州",
    "盟",
    "县",
    "区",
    "旗",
)
_AUTONOMOUS_SUFFIXES = ("自治区", "自治州", "自治县", "自治旗")
# Township-level units.
_TOWNSHIP_SUFFIXES = ("街道", "苏木", "镇", "乡")
# A division name followed by one of these is part of another name (新华街道, 城关镇, 中山路, 和平村).
_NOT_A_DIVISION_AFTER = re.compile(
    r"(?:街道|苏木|镇|乡(?!村|镇)|村(?!镇)|社区|路|街|大道|大街|巷|小区|大学|学院|中学|小学|医院|公园)"
)
# ... but a full county name followed by a township is that township's county (镇安县镇安镇, 东区街道 aside).
_NOT_A_FULL_NAME_AFTER = re.compile(r"(?:路|大道|大街|巷|小区|大学|学院|中学|小学|医院|公园)")
# A short form (黔东南) may be followed by a bare suffix (黔东南州).
_SHORT_SUFFIX_RE = re.compile(r"地区|州|盟|市|县|区|旗")
# A county's short form is used for its zones only (江宁经济技术开发区).
_ZONE_AFTER_RE = re.compile(r"经济|高新|工业|产业|开发|科技|保税|综合保税|临港|港区|新区|园区|度假区")
# ... or a county renamed since the table was made (海门市 → 海门区): the short form with another
# suffix, taken when a government follows or the organ has already named its city (淮安市洪泽区).
_RENAMED_SUFFIX_RE = re.compile(r"县|区|市|旗")
_GOVERNMENT_AFTER_RE = re.compile(r"人民政府|政府")
# Government bodies proper.
_GOVERNMENT_TAILS = frozenset({"", "人民政府", "政府", "行政公署", "公署", "办事处", "街道办事处", "街道办"})
# Zone words (development zones are county-level; spec).
_ZONE_WORD_RE = re.compile(
    r"(?:经济技术开发区|高新技术产业开发区|高新技术开发区|经济开发区|工业开发区|旅游度假区|综合保税区|保税区|"
    r"开发区|高新区|经开区|新区|工业园区|产业园区|园区|工业园|产业园|示范区|试验区|自贸区|合作区)"
)
_ZONE_BODY_RE = re.compile(r"(?:管理委员会|管委会|管理办公室|管理局)?$")
# Non-government organs (party, congress, courts): "other".
_OTHER_RE = re.compile(
    r"(?:中共|中国共产党|党委|党工委|纪委|人民代表大会|人大常委会|政协|人民法院|检察院|委员会办公室$)"
)
# Township names: <name><镇|乡|街道|苏木> then a government/office word or the end. The name holds no word that ends
# an organ (政府, 所, 站 …), but 府 or 站 right before the suffix is the name's own (东昌府镇, 中站镇, 天府街道): without
# it 聊城市东昌府区东昌府镇人民政府 was read as the county's.
_TOWNSHIP_RE = re.compile(
    r"(?P<name>(?:[^局委厅部办府室所站队处]|[府站](?=街道|苏木|镇|乡)){1,10}?(?:街道|苏木|镇|乡))"
    r"(?P<rest>人民政府|政府|街道办事处|办事处|街道办|党委|党工委|党政|综合|办公室|便民服务|为民服务|政务服务|"
    r"社会事务|经济发展|公共服务|人民代表大会|人大|纪委|[^局委厅部区乡村]{0,6}?(?:所|站|中心|办|队)|$)"
)
# Words that end a township-looking token but are ordinary vocabulary (住房和城乡建设局, 乡镇企业局, 乡村振兴局).
_NOT_TOWNSHIP_WORDS = frozenset({"城乡", "城镇", "乡镇", "村镇", "集镇", "县乡", "市乡", "区乡", "市镇", "县镇"})
_NOT_TOWNSHIP_END = ("和城乡", "和城镇", "与城乡", "的乡镇", "和乡镇")
# Relative prefixes: "市政务办" is the office of whichever city the context names.
_RELATIVE_RE = re.compile(
    r"^(?:本|我)?(?P<p>省|市|州|盟|地区|县|区|旗|镇|乡|街道)(?!场|容|民|区|县|级|域|属|内|外|委员|村|镇|直)"
)
_SELF_RE = re.compile(r"^(?:本|我)(?:局|委|办|厅|中心|单位|机关|部门|部|署|院|所|站|处|室|公司|会)")
# Central government.
_CENTRAL_PREFIX_RE = re.compile(r"^(?:国务院|中华人民共和国|中共中央|中央|全国)")
_CENTRAL_NOPLACE_RE = re.compile(
    r"^(?:国家.+(?:局|委员会|署|院|中心|办公室)$|中国(?!共产党).+|.{1,10}(?<!本|支|分|总|内|外|干)部$|.{1,10}总局$|.{1,8}署$)"
)

# Department names, for the corpus generator and to keep short forms from matching inside department words
# (荆州市公安局 must not become 公安县).
DEPARTMENTS = (
    "人民政府办公室",
    "发展和改革委员会",
    "教育局",
    "科学技术局",
    "工业和信息化局",
    "公安局",
    "民政局",
    "司法局",
    "财政局",
    "人力资源和社会保障局",
    "自然资源和规划局",
    "自然资源局",
    "生态环境局",
    "住房和城乡建设局",
    "交通运输局",
    "水利局",
    "水务局",
    "农业农村局",
    "商务局",
    "文化和旅游局",
    "卫生健康委员会",
    "退役军人事务局",
    "应急管理局",
    "审计局",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
    "林业局",
    "城市管理局",
    "政务服务管理办公室",
    "政务服务中心",
    "行政审批局",
    "数据局",
    "大数据管理局",
    "信访局",
    "机关事务管理局",
    "国有资产监督管理委员会",
    "乡村振兴局",
    "民族宗教事务局",
    "档案馆",
    "地方金融监督管理局",
    "粮食和物资储备局",
    "外事办公室",
    "人民防空办公室",
)
_PROVINCIAL_DEPARTMENTS = (
    "人民政府办公厅",
    "发展和改革委员会",
    "教育厅",
    "公安厅",
    "民政厅",
    "司法厅",
    "财政厅",
    "自然资源厅",
    "生态环境厅",
    "住房和城乡建设厅",
    "交通运输厅",
    "水利厅",
    "农业农村厅",
    "商务厅",
    "文化和旅游厅",
    "卫生健康委员会",
    "审计厅",
    "市场监督管理局",
    "统计局",
    "医疗保障局",
    "林业和草原局",
    "应急管理厅",
)
_TOWNSHIP_DEPARTMENTS = ("党政办公室", "便民服务中心", "财政所", "农业综合服务中心")
CENTRAL_ORGANS = (
    "国务院办公厅",
    "教育部",
    "科学技术部",
    "工业和信息化部",
    "公安部",
    "民政部",
    "司法部",
    "财政部",
    "人力资源和社会保障部",
    "自然资源部",
    "生态环境部",
    "住房和城乡建设部",
    "交通运输部",
    "水利部",
    "农业农村部",
    "商务部",
    "文化和旅游部",
    "国家卫生健康委员会",
    "退役军人事务部",
    "应急管理部",
    "审计署",
    "海关总署",
    "国家税务总局",
    "国家市场监督管理总局",
    "国家统计局",
    "国家医疗保障局",
    "国家林业和草原局",
    "国家发展和改革委员会",
    "国家知识产权局",
    "中国人民银行",
    "中国气象局",
    "中华人民共和国外交部",
)
_ZONE_NAMES = ("经济技术开发区", "高新技术产业开发区", "经济开发区", "高新区", "工业园区")
_TOWNSHIP_NAMES = (
    "城关镇",
    "城南街道",
    "城北街道",
    "城东街道",
    "新华街道",
    "东城街道",
    "西城街道",
    "人民路街道",
    "太平镇",
    "永安镇",
    "长安镇",
    "红旗乡",
    "和平乡",
    "新兴镇",
    "大河乡",
)
# Vocabulary a short form must not be part of (公安 ⊂ 公安局, 城关 ⊂ 城关镇 is handled by _NOT_A_DIVISION_AFTER).
_GRAMMAR_TEXT = "|".join(
    DEPARTMENTS
    + _PROVINCIAL_DEPARTMENTS
    + _TOWNSHIP_DEPARTMENTS
    + CENTRAL_ORGANS
    + _ZONE_NAMES
    + ("人民政府", "行政公署", "管理委员会", "管委会", "办事处", "政府信息公开", "工作年度报告", "中华人民共和国")
)
# A department name right after a renamed county (海门区教育局) vouches for it.
_DEPARTMENT_AFTER_RE = re.compile("|".join(sorted(set(DEPARTMENTS + _PROVINCIAL_DEPARTMENTS), key=len, reverse=True)))
# A division the table does not list (郫都区 is newer than it), known by its suffix and its government.
_UNLISTED_RE = re.compile(
    r"(?P<name>[^局委厅部办府室所站队处省]{1,8}?(?P<suf>自治县|自治旗|自治州|县|区|旗|市|州|盟|地区))"
    r"(?P<rest>人民政府|政府|行政公署|" + _DEPARTMENT_AFTER_RE.pattern + ")"
)

# ---------------------------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, slots=True)
class _Div:
    code: str  # 6 digits
    name: str
    depth: int  # 0 province (incl. municipality), 1 prefecture, 2 county
    province: str  # code
    prefecture: str | None  # code; None for municipality districts and 省直辖县级 cities

    @property
    def ancestors(self) -> tuple[str, ...]:
        return (self.province,) if self.prefecture is None else (self.province, self.prefecture)


@dataclass(frozen=True, slots=True)
class _Key:
    codes: frozenset[str]
    short: bool  # a short form (淮安), not a full name (淮安市)
    weak: bool  # too generic to seed a place from running text (城区, 和县, 县-level short forms)


class _Table:
    def __init__(self) -> None:
        res = importlib.resources.files("tasks.parse") / "data"
        with (res / "adcodes.csv").open("rb") as fh:
            df = pl.read_csv(fh, schema_overrides={"adcode": pl.Utf8}, columns=["adcode", "name"])
        with (res / "56_nations.csv").open("rb") as fh:
            nations = [line.strip() for line in fh.read().decode("utf-8").splitlines() if line.strip()]
        df = df.with_columns(code=pl.col("adcode").str.slice(0, 6)).unique("code").sort("code")
        rows = [
            (c, n)
            for c, n in zip(df["code"], df["name"], strict=True)
            if c[2:] == "0000" or not _PLACEHOLDER_RE.match(n)
        ]
        real = {c for c, _ in rows}
        self.divs: dict[str, _Div] = {}
        for code, name in rows:
            if code[2:] == "0000":
                depth, pref = 0, None
            elif code[4:] == "00":
                depth, pref = 1, None
            else:
                depth = 2
                pref = code[:4] + "00"
                if pref not in real:  # municipality districts, 省直辖县级行政区划
                    pref = None
            self.divs[code] = _Div(code, name, depth, code[:2] + "0000", pref)
        # Ethnic-group names (with and without 族), longest first, to shorten 自治州/自治县 names.
        ethnic = sorted({n for n in nations} | {n[:-1] for n in nations if len(n) > 2}, key=len, reverse=True)
        full: dict[str, set[str]] = {}
        short: dict[str, dict[int, set[str]]] = {}
        for d in self.divs.values():
            full.setdefault(d.name, set()).add(d.code)
            s = _short_form(d.name, ethnic)
            if s:
                short.setdefault(s, {}).setdefault(d.depth, set()).add(d.code)
        self.name_count = {k: len(v) for k, v in full.items()}
        self.keys: dict[str, _Key] = {}
        for name, codes in full.items():
            weak = len(name) <= 2
            self.keys[name] = _Key(frozenset(codes), False, weak)
        for s, by_depth in short.items():
            if s in self.keys or s in _GRAMMAR_TEXT:
                continue
            depth = min(by_depth)  # 吉林 is the province, 淮安 the city (not 淮安区)
            self.keys[s] = _Key(frozenset(by_depth[depth]), True, depth >= 2)
        self.automaton = ahocorasick.Automaton()
        for k, v in self.keys.items():
            self.automaton.add_word(k, (k, v))
        self.automaton.make_automaton()
        # Long contexts are scanned for full names only, reversed: reversed names all start with one of a dozen
        # suffix characters (市, 县, 区 …), so the automaton's root is small and the scan is ~20x faster.
        self.reversed_full = ahocorasick.Automaton()
        for k, v in self.keys.items():
            if not v.short and not v.weak:
                self.reversed_full.add_word(k[::-1], (k, v))
        self.reversed_full.make_automaton()
        self.provinces = [d for d in self.divs.values() if d.depth == 0 and d.code[:2] not in ("71", "81", "82")]
        self.prefectures = [d for d in self.divs.values() if d.depth == 1 and d.code[:2] not in ("71", "81", "82")]
        self.counties = [
            d
            for d in self.divs.values()
            if d.depth == 2 and d.code[:2] not in ("71", "81", "82") and d.name.endswith(("县", "区", "市", "旗"))
        ]

    def short_of(self, d: _Div) -> str | None:
        """The short form that resolves uniquely to d, if there is one (淮安 → 淮安市)."""
        for k in (d.name[: -len(s)] for s in _NAME_SUFFIXES if d.name.endswith(s)):
            key = self.keys.get(k)
            if key is not None and key.short and key.codes == frozenset({d.code}):
                return k
        return None


def _short_form(name: str, ethnic: list[str]) -> str | None:
    for suf in _NAME_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf):
            stem = name[: -len(suf)]
            break
    else:
        return None
    if suf in _AUTONOMOUS_SUFFIXES:
        changed = True
        while changed:
            changed = False
            for e in ethnic:
                if stem.endswith(e) and len(stem) - len(e) >= 2:
                    stem = stem[: -len(e)]
                    changed = True
                    break
    return stem if len(stem) >= 2 else None


@functools.cache
def _table() -> _Table:
    return _Table()


# ---------------------------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    key: _Key
    needs_parent: bool = False  # only counts after its prefecture (a renamed county without 人民政府 after it)


def _matches(text: str) -> list[_Match]:
    t = _table()
    out = []
    for last, (k, key) in t.automaton.iter_long(text):
        start, end = last - len(k) + 1, last + 1
        if key.short:
            if key.weak and not _ZONE_AFTER_RE.match(text, end):
                # county short forms name zones (江宁经济技术开发区) and renamed counties, not 雄安新区 (安新县)
                renamed = _RENAMED_SUFFIX_RE.match(text, end)
                if renamed is None:
                    continue
                needs_parent = not _GOVERNMENT_AFTER_RE.match(text, renamed.end()) and not _DEPARTMENT_AFTER_RE.match(
                    text, renamed.end()
                )
                out.append(_Match(start, renamed.end(), key, needs_parent))
                continue
            suffix = _SHORT_SUFFIX_RE.match(text, end)
            if suffix is not None:  # 黔东南州, 延边州, 广西区
                end = suffix.end()
        if (_NOT_A_DIVISION_AFTER if key.short or key.weak else _NOT_A_FULL_NAME_AFTER).match(text, end):
            continue
        out.append(_Match(start, end, key))
    return out


def _matches_long(text: str) -> list[_Match]:
    """Full names in running text (right-to-left longest match; names do not overlap in practice)."""
    rev = text[::-1]
    n = len(text)
    out = []
    for last, (k, key) in _table().reversed_full.iter_long(rev):
        start = n - 1 - last  # the name's first character in text
        end = start + len(k)
        if _NOT_A_FULL_NAME_AFTER.match(text, end):
            continue
        out.append(_Match(start, end, key))
    out.reverse()
    return out


def _compatible(a: _Div, b: _Div) -> _Div | None:
    """The deeper of a and b if one contains the other, else None."""
    if a.code == b.code:
        return a
    if a.depth < b.depth:
        return b if a.code in b.ancestors else None
    if b.depth < a.depth:
        return a if b.code in a.ancestors else None
    return None


def _combine(matches: Iterable[_Match], seed_weak: bool) -> tuple[frozenset[str] | None, int]:
    """Candidate deepest divisions for a run of place names read left to right, and the end of the last one used.

    Names that contradict what is already known (淮安市人民政府驻上海办事处) are skipped."""
    divs = _table().divs
    cands: frozenset[str] | None = None
    last_end = 0
    for m in matches:
        if m.needs_parent and (
            cands is None or not any(divs[d].prefecture in cands for d in m.key.codes if divs[d].prefecture)
        ):
            continue
        if cands is None:
            if m.key.weak and not seed_weak:
                continue
            cands = m.key.codes
            last_end = m.end
            continue
        new = set()
        for c in cands:
            for d in m.key.codes:
                r = _compatible(divs[c], divs[d])
                if r is not None:
                    new.add(r.code)
        if new:
            cands = frozenset(new)
            last_end = m.end
    return cands, last_end


def _narrow(cands: frozenset[str] | None, context: frozenset[str] | None) -> frozenset[str] | None:
    """Keep the candidates the context agrees with (when it agrees with any)."""
    if cands is None or len(cands) <= 1 or not context:
        return cands
    divs = _table().divs
    kept = frozenset(c for c in cands if any(_compatible(divs[c], divs[x]) is not None for x in context))
    return kept or cands


def _place(cands: frozenset[str] | None) -> tuple[int | None, str | None, str | None, str | None, str | None]:
    """(depth, province, prefecture, county, code) from candidates: what they all share when they disagree."""
    if not cands:
        return None, None, None, None, None
    divs = _table().divs
    ds = [divs[c] for c in cands]
    depth = min(d.depth for d in ds)
    if len(ds) == 1:
        d = ds[0]
        prov = divs[d.province].name
        pref = divs[d.prefecture].name if d.prefecture else (d.name if d.depth == 1 else None)
        county = d.name if d.depth == 2 else None
        return d.depth, prov, pref, county, d.code
    provs = {d.province for d in ds}
    prov_code = next(iter(provs)) if len(provs) == 1 else None
    prefs = {d.prefecture if d.depth == 2 else (d.code if d.depth == 1 else None) for d in ds}
    pref_code = next(iter(prefs)) if len(prefs) == 1 and prov_code else None
    code = pref_code or prov_code
    return (
        depth,
        divs[prov_code].name if prov_code else None,
        divs[pref_code].name if pref_code else None,
        None,
        code,
    )


def _township_at(text: str, pos: int) -> re.Match[str] | None:
    m = _TOWNSHIP_RE.match(text, pos)
    if m is None:
        return None
    name = m.group("name")
    if name in _NOT_TOWNSHIP_WORDS or name.endswith(_NOT_TOWNSHIP_END) or text.startswith(("村", "化"), m.end("name")):
        return None
    if len(name) - (2 if name.endswith(("街道", "苏木")) else 1) < 1:
        return None
    return m


# ---------------------------------------------------------------------------------------------------------------
# Public API

_PAREN_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕")
_BRACKETS_RE = re.compile(r"[()\[\]【】〔〕]")


def _normalise(s: str | None) -> str:
    """An organ name: NFKC (full-width brackets), no whitespace, no bracketed asides (淮安市人民政府办公室（政务公开办）)
    unless the place is in the brackets (中国（上海）自由贸易试验区管理委员会)."""
    if not s:
        return ""
    s = "".join(unicodedata.normalize("NFKC", s).split())
    stripped = _PAREN_RE.sub("", s)
    if stripped != s and not _matches(stripped):
        unbracketed = _BRACKETS_RE.sub("", s)
        if _matches(unbracketed):
            return unbracketed
    return stripped


def _normalise_context(s: str | None) -> str:
    """Context: only whitespace goes (PDF text splits names: 淮安市 人民政府); place names are not width-folded."""
    if not s:
        return ""
    s = "".join(s[:CONTEXT_LIMIT].split())
    return _normalise(s) if len(s) <= _SHORT_CONTEXT else s


def _kind(tail: str) -> str:
    if tail in _GOVERNMENT_TAILS:
        return "government"
    if _OTHER_RE.search(tail):
        return "other"
    return "department"


def _division(level: str, kind: str | None, cands: frozenset[str] | None) -> Division:
    _, prov, pref, county, code = _place(cands)
    return Division(level, kind, prov, pref, county, code)


_Places = tuple[frozenset[str] | None, bool]


def _context(context: str) -> _Places:
    """Places named by (normalised) context, and whether it ends in a township name (a sidecar region).
    Short contexts (regions, titles) repeat across reports and are cached; long ones are not kept."""
    if not context:
        return None, False
    if len(context) <= _SHORT_CONTEXT:
        return _context_cached(context)
    return _context_scan(context)


@functools.lru_cache(maxsize=16384)
def _context_cached(context: str) -> _Places:
    return _context_scan(context)


def _context_scan(context: str) -> _Places:
    short = len(context) <= _SHORT_CONTEXT
    ms = _matches(context) if short else _matches_long(context)
    cands, last = _combine(ms, seed_weak=len(context) <= 40)
    township = False
    if len(context) <= 40:
        tail = context[last:]
        township = bool(tail) and tail.endswith(_TOWNSHIP_SUFFIXES) and _township_at(tail, 0) is not None
    return cands, township


@functools.lru_cache(maxsize=65536)
def _resolve(organ: str, ctx: frozenset[str] | None, ctx_township: bool) -> Division:
    if not organ:
        return UNKNOWN
    ms = _matches(organ)
    cands, last = _combine(ms, seed_weak=True)
    if cands is None:
        return _resolve_placeless(organ, ctx, ctx_township)
    if _CENTRAL_PREFIX_RE.match(organ):  # 中华人民共和国南京海关: a central organ's own office
        return Division("central", "other" if _OTHER_RE.search(organ) else "department", None, None, None, None)
    cands = _narrow(cands, ctx)
    party = bool(_OTHER_RE.search(organ[: ms[0].start]))  # 中共淮安市委
    tail = organ[last:]
    depth = _place(cands)[0]
    assert depth is not None
    level, kind = _level_of_tail(tail, depth)
    if level == "unknown":
        level = None
    if level is None:
        level = _LEVEL_BY_DEPTH[depth]
    return _division(level, "other" if party else kind, cands)


def _level_of_tail(tail: str, depth: int | None) -> tuple[str | None, str]:
    """What the words after the place names say: a township, a zone, a division the table does not list, or (None)
    a government/department of the place itself.  depth: how deep the place named before the tail is."""
    un = _UNLISTED_RE.match(tail)
    if un is not None:
        suf, rest = un.group("suf"), un.group("rest")
        if suf in ("自治县", "自治旗", "县", "区", "旗"):
            level: str | None = "county"
        elif suf in ("自治州", "州", "盟", "地区"):
            level = "prefectural"
        else:  # 市: a prefecture under a province, a county-level city under a prefecture
            level = {None: "unknown", 0: "prefectural", 1: "county"}.get(depth)
        if level is not None:
            return level, _kind(tail[un.end("name") :])
    gov = _GOVERNMENT_AFTER_RE.match(tail)
    tw = _township_at(tail, 0) or (_township_at(tail, gov.end()) if gov else None)  # 清江浦区人民政府城南街道办事处
    if tw is not None:
        rest = tw.group("rest")
        return "township", ("government" if rest in _GOVERNMENT_TAILS else _kind(rest))
    zone = _ZONE_WORD_RE.search(tail)
    if zone is not None:
        after = tail[zone.end() :]
        return "county", ("zone" if _ZONE_BODY_RE.fullmatch(after) else _kind(after))
    return None, _kind(tail)


def _resolve_placeless(organ: str, ctx: frozenset[str] | None, ctx_township: bool) -> Division:
    level, kind = _level_of_tail(organ, _place(ctx)[0])
    if level == "unknown":  # 彬州市人民政府 and nothing to say whether it is a prefecture
        return Division("unknown", kind, None, None, None, None)
    if level is not None:  # 紫溪镇人民政府, 高新区管委会: the words tell the level; the context, if anything, where
        return _division(level, kind, ctx)
    if _CENTRAL_PREFIX_RE.match(organ) or _CENTRAL_NOPLACE_RE.match(organ):
        if not _RELATIVE_RE.match(organ) and not _SELF_RE.match(organ):
            kind = (
                "government"
                if organ in ("国务院", "中华人民共和国国务院")
                else ("other" if _OTHER_RE.search(organ) else "department")
            )
            return Division("central", kind, None, None, None, None)
    rel = _RELATIVE_RE.match(organ)
    if rel is not None:
        kind = _kind(organ[rel.end() :])
        if not ctx or len(ctx) != 1:
            return Division("unknown", kind, None, None, None, None)
        return _relative(rel.group("p"), kind, next(iter(ctx)), ctx_township)
    kind = "other" if _OTHER_RE.search(organ) else "department"
    if not ctx:
        return Division("unknown", kind, None, None, None, None)
    if ctx_township:
        return _division("township", kind, ctx)
    depth = _place(ctx)[0]
    assert depth is not None
    return _division(_LEVEL_BY_DEPTH[depth], kind, ctx)


def _relative(prefix: str, kind: str, code: str, ctx_township: bool) -> Division:
    """市政务办 + context 江苏省淮安市 → 淮安市's office."""
    divs = _table().divs
    d = divs[code]
    chain = [divs[a] for a in d.ancestors] + [d]
    if prefix in ("镇", "乡", "街道"):
        return (
            _division("township", kind, frozenset({code}))
            if ctx_township
            else Division("unknown", kind, None, None, None, None)
        )
    if prefix == "省":
        pick = [x for x in chain if x.depth == 0]
    elif prefix in ("州", "盟", "地区"):
        pick = [x for x in chain if x.depth == 1]
    elif prefix == "市":
        pick = [x for x in chain if x.name.endswith("市")][-1:]
    else:  # 县, 区, 旗
        pick = [x for x in chain if x.depth == 2]
    if not pick:
        return Division("unknown", kind, None, None, None, None)
    x = pick[-1]
    return _division(_LEVEL_BY_DEPTH[x.depth], kind, frozenset({x.code}))


def resolve_organ(organ: str | None, context: str | None = None) -> Division:
    """The administrative division of an issuing organ.

    ``organ`` is the organ's name as printed (淮安市人民政府办公室, 庆阳市政府, 紫溪镇人民政府, 教育部, 我局);
    ``context`` is optional text that may name the place (a sidecar region such as 江苏省淮安市, a title, the head
    of the report; only the first CONTEXT_LIMIT characters are read).  The organ string decides; the context only
    picks between same-named places, fills in where a township or an unnamed office (市政务办, 我局) sits, and
    never overrides a place the organ names.
    """
    if context is None or len(context) <= _RAW_CACHE_CONTEXT:
        return _resolve_raw(organ, context)
    return _resolve(_normalise(organ), *_context(_normalise_context(context)))


@functools.lru_cache(maxsize=65536)
def _resolve_raw(organ: str | None, context: str | None) -> Division:
    return _resolve(_normalise(organ), *_context(_normalise_context(context)))


def resolve_region(region: str | None) -> Division:
    """A crawler's region string (江苏省淮安市, 北京市朝阳区, 江苏省淮安市清江浦区城南街道) to a division: the level is
    that of the deepest division named.  organ_kind is None."""
    text = _normalise_context(region)
    if not text:
        return UNKNOWN
    cands, township = _context(text)
    if township:
        return _division("township", None, cands)
    if cands is None:
        return UNKNOWN
    depth = _place(cands)[0]
    assert depth is not None
    return _division(_LEVEL_BY_DEPTH[depth], None, cands)


def region_of(division: Division, township: str | None = None) -> str:
    """The sidecar-style region string of a division (江苏省淮安市清江浦区), optionally ending in a township."""
    parts = [division.province, division.prefecture, division.county, township]
    out: list[str] = []
    for p in parts:
        if p and p not in out:
            out.append(p)
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------------
# Corpus generator


def _div_of(d: _Div, level: str, kind: str) -> Division:
    return _division(level, kind, frozenset({d.code}))


def _county_prefix(t: _Table, d: _Div) -> str:
    """The county's name as an organ would print it: with its city (or province) in front when the bare name is
    ambiguous or generic (南京市鼓楼区, 长治市城区)."""
    if t.name_count.get(d.name, 0) > 1 or len(d.name) <= 2:
        parent = t.divs[d.prefecture] if d.prefecture else t.divs[d.province]
        return parent.name + d.name
    return d.name


# What sample_divisions draws, and how often; a zone is county-level.
_SAMPLE_KINDS = ("central", "provincial", "prefectural", "county", "township", "zone")
_SAMPLE_WEIGHTS = (4, 12, 30, 32, 12, 10)


def sample_divisions(
    rng: random.Random, n: int, *, level: str | None = None, province: str | None = None
) -> list[tuple[str, str, Division]]:
    """n realistic (organ name, admin_level, Division) triples at every level, places from the table.

    resolve_organ(organ) gives the Division back, and so does resolve_organ(organ, region_of(division)).
    ``level``: only organs of that admin level (central … township). ``province``: places in that province only
    (its full name, 江苏省), or anywhere when it has none at the level drawn (a municipality has no prefectures).
    Without either, the draws are those of the corpus generator (the same organs for the same rng)."""
    t = _table()
    out: list[tuple[str, str, Division]] = []
    kinds, weights = _SAMPLE_KINDS, _SAMPLE_WEIGHTS
    if level is not None:
        kept = [(k, w) for k, w in zip(kinds, weights, strict=True) if ("county" if k == "zone" else k) == level]
        if not kept:
            raise ValueError(f"no organs of level {level!r}; expected one of {ADMIN_LEVELS[:5]}")
        kinds, weights = tuple(k for k, _ in kept), tuple(w for _, w in kept)
    provinces, prefectures, counties = t.provinces, t.prefectures, t.counties
    if province is not None:
        codes = {d.code for d in t.provinces if d.name == province}
        provinces = [d for d in provinces if d.code in codes] or provinces
        prefectures = [d for d in prefectures if d.province in codes] or prefectures
        counties = [d for d in counties if d.province in codes] or counties
    for _ in range(n):
        what = rng.choices(kinds, weights)[0]
        if what == "central":
            organ = rng.choice(CENTRAL_ORGANS)
            div = Division("central", "department", None, None, None, None)
        elif what == "provincial":
            p = rng.choice(provinces)
            if rng.random() < 0.4:
                organ, kind = p.name + "人民政府", "government"
            else:
                depts = DEPARTMENTS if p.name.endswith("市") else _PROVINCIAL_DEPARTMENTS
                organ, kind = p.name + rng.choice(depts), "department"
            div = _div_of(p, "provincial", kind)
        elif what == "prefectural":
            p = rng.choice(prefectures)
            gov = "行政公署" if p.name.endswith(("地区", "盟")) else "人民政府"
            r = rng.random()
            if r < 0.35:
                organ, kind = p.name + gov, "government"
            elif r < 0.45:
                organ, kind = p.name + "政府", "government"
            else:
                organ, kind = p.name + rng.choice(DEPARTMENTS), "department"
            div = _div_of(p, "prefectural", kind)
        elif what == "county":
            c = rng.choice(counties)
            name = _county_prefix(t, c)
            if rng.random() < 0.4:
                organ, kind = name + "人民政府", "government"
            else:
                organ, kind = name + rng.choice(DEPARTMENTS), "department"
            div = _div_of(c, "county", kind)
        elif what == "township":
            c = rng.choice(counties)
            stem = t.short_of(c)
            town = rng.choice(_TOWNSHIP_NAMES + ((stem + "镇",) if stem else ()))
            r = rng.random()
            if r < 0.7:
                organ = _county_prefix(t, c) + town + ("办事处" if town.endswith("街道") else "人民政府")
                kind = "government"
            else:
                organ, kind = _county_prefix(t, c) + town + rng.choice(_TOWNSHIP_DEPARTMENTS), "department"
            div = _div_of(c, "township", kind)
        else:  # zone, in a prefecture
            p = rng.choice(prefectures)
            stem = t.short_of(p)
            place = stem if stem and rng.random() < 0.5 else p.name
            zone = rng.choice(_ZONE_NAMES)
            if rng.random() < 0.7:
                organ, kind = place + zone + rng.choice(("管理委员会", "管委会")), "zone"
            else:
                organ, kind = place + zone + rng.choice(("党政办公室", "财政局", "经济发展局")), "department"
            div = _div_of(p, "county", kind)
        out.append((organ, div.admin_level, div))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Expected publishers (the transparency indicators' denominator)

# The division table's vintage, as its own rows show it (data/README.md): 郫县 (郫都区 since November 2016) and
# 海门市 (海门区 since 2020) are still listed, and there are no township rows. Written on every expected_publishers row.
DIVISION_TABLE_VINTAGE = (
    "tasks/parse/data/adcodes.csv (cpca 0.5.5's), divisions of mid-2016 (崇明区 2016-07 listed; 郫县 before 郫都区 2016-11,"
    " 海门市 before 海门区 2020); no townships"
)


def governments() -> list[tuple[Division, str, str]]:
    """Every government the table says must publish an annual report, as (Division, division name, the government's
    name as it signs): provinces (municipalities and autonomous regions), prefectures, counties; Taiwan, Hong Kong
    and Macau aside (the 条例 does not bind them), and no townships (the table has none). The same names the corpus
    generator uses for governments, so resolve_organ(name) gives the Division back."""
    t = _table()
    out: list[tuple[Division, str, str]] = []
    for p in t.provinces:
        out.append((_div_of(p, "provincial", "government"), p.name, p.name + "人民政府"))
    for p in t.prefectures:
        gov = "行政公署" if p.name.endswith(("地区", "盟")) else "人民政府"
        out.append((_div_of(p, "prefectural", "government"), p.name, p.name + gov))
    for c in t.counties:
        out.append((_div_of(c, "county", "government"), c.name, _county_prefix(t, c) + "人民政府"))
    return sorted(out, key=lambda g: g[0].division_code or "")
