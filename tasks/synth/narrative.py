"""A report's prose and page furniture as a sequence of blocks, independent of layout: title, metadata grid, the six
sections' headings and paragraphs (sentences seen in published reports), tables by name, signature, breadcrumbs
and footers."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from typing import Any

from schemas.form import (
    SECTION_TITLES,
)
from tasks.synth.style import _Style

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


