"""A report's metadata from its text: the report year (statistics period, title, body), the title and the organ (title,
page metadata, signature, the compiler's sentence), the published date and the index number; titles of a site's
listing set aside."""

from __future__ import annotations

import re
from collections import Counter

CN_YEAR_RE = re.compile(r"(?:二[〇○零]|一九)[〇○零一二三四五六七八九]{2}(?=\s*年)")
CN_DIGITS = str.maketrans("〇○零一二三四五六七八九", "00012345678" + "9")

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
            y, mo, d = y.translate(CN_DIGITS), _cn_number(mo), _cn_number(d)
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
        return int(text.translate(CN_DIGITS))
    return (int(tens.translate(CN_DIGITS)) if tens else 1) * 10 + (int(units.translate(CN_DIGITS)) if units else 0)


def detect_index_number(text: str) -> str | None:
    m = INDEX_RE.search(text[:3000])
    return m.group(1) if m else None


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
