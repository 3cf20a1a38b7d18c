"""The national report form (国办公开办函〔2019〕60号 and 〔2021〕30号) as data: tables, rows, columns, labels."""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT_VERSIONS = ("2019", "2021")
ADMIN_LEVELS = ("central", "provincial", "prefectural", "county", "township", "unknown")
ORGAN_KINDS = ("government", "department", "zone", "other")


@dataclass(frozen=True)
class Item:
    """A row of table 2 (主动公开): its key, printed label and measures (columns)."""

    key: str
    label: str
    measures: tuple[str, ...]
    # Regex (Python `re`) matching the label in normalised (NFKC) text; spaces may sit between characters.
    pattern: str


# Table 2, 2021 format: 10 numbers.
ACTIVE_DISCLOSURE_2021 = (
    Item("regulations", "规章", ("issued", "repealed", "in_force"), r"(?<!行政)(?<!部门)规章"),
    Item("normative_documents", "行政规范性文件", ("issued", "repealed", "in_force"), r"(?:行政)?规范性文件"),
    Item("licensing", "行政许可", ("decisions",), r"行政许可"),
    Item("penalty", "行政处罚", ("decisions",), r"行政处罚"),
    Item("enforcement", "行政强制", ("decisions",), r"行政强制"),
    Item("administrative_fees", "行政事业性收费", ("amount_10k_yuan",), r"行政事业性收费"),
)
# Table 2, 2019 trial format: 22 numbers.
ACTIVE_DISCLOSURE_2019 = (
    Item("regulations", "规章", ("new_made", "new_published", "total_published"), r"(?<!行政)(?<!部门)规章"),
    Item("normative_documents", "规范性文件", ("new_made", "new_published", "total_published"), r"(?:行政)?规范性文件"),
    Item("licensing", "行政许可", ("previous_count", "change", "decisions"), r"行政许可"),
    Item("other_services", "其他对外管理服务事项", ("previous_count", "change", "decisions"), r"其他对外管理服务事项"),
    Item("penalty", "行政处罚", ("previous_count", "change", "decisions"), r"行政处罚"),
    Item("enforcement", "行政强制", ("previous_count", "change", "decisions"), r"行政强制"),
    Item("administrative_fees", "行政事业性收费", ("previous_count", "change"), r"行政事业性收费"),
    Item("government_procurement", "政府集中采购", ("projects", "amount"), r"政府集中采购"),
)
ACTIVE_DISCLOSURE = {"2019": ACTIVE_DISCLOSURE_2019, "2021": ACTIVE_DISCLOSURE_2021}

# Column headers of table 2, for the renderer and the data dictionary.
MEASURE_LABELS = {
    "issued": "本年制发件数",
    "repealed": "本年废止件数",
    "in_force": "现行有效件数",
    "decisions": "本年处理决定数量",
    "amount_10k_yuan": "本年收费金额(单位:万元)",
    "new_made": "本年新制作数量",
    "new_published": "本年新公开数量",
    "total_published": "对外公开总数量",
    "previous_count": "上一年项目数量",
    "change": "本年增/减",
    "projects": "采购项目数量",
    "amount": "采购总金额",
}

# Table 3: the seven value columns, in printed order.
APPLICANTS = ("natural_person", "commercial", "research", "nonprofit", "legal_service", "other", "total")
APPLICANT_LABELS = ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "总计")


@dataclass(frozen=True)
class Row:
    """A row of table 3: key, printed label, group (for detail sums) and the item number printed before it."""

    key: str
    label: str
    group: str  # "received", "outcome" (a detail row of 三), "total", "carried_forward"
    number: str | None  # "1".."8" for sub-items (printed "1." or "1、"), else None
    # Keyword pattern found inside the label; matched in order, so it need only be unique from the previous row on.
    pattern: str

    @property
    def label_pattern(self) -> str:
        """What finds the label in a table's label text: the keyword, with the label's own item number (`2.` or
        `2、`, `(一)`, `一、`) when it stands up to 30 characters before it. A wrapped label's numbers may sit beside
        its first line (`2.其他法律行政 30 1 0 …` / `法规禁止公开`); the match then starts before them, so they are its
        own. Labels are matched with their values left out, and item numbers are the only digits left there: the
        gap never reaches into the next numbered item."""
        item = _ITEM_NUMBER_RE.match(self.label)
        if item is None or self.pattern.startswith(item.group(0)[0]) or self.pattern.startswith("\\("):
            return self.pattern  # the pattern starts with the item number itself ((七)总计, 3.其他)
        mark = item.group(0)
        mark = f"{mark[0]}[.、]" if mark[0].isdigit() else re.escape(mark)
        return f"(?:{mark}[^\\d|]{{0,30}}?)?(?:{self.pattern})"


_ITEM_NUMBER_RE = re.compile(r"\d[.、]|\([一二三四五六七八九十]\)|[一二三四五六七八九十]、")


def _spaced(text: str) -> str:
    """A regex for `text`. Labels are matched in text with all white space removed (PDF wraps labels anywhere),
    so a plain literal suffices, and keeps the regex engine on its fast literal path."""
    import re

    return re.escape(text)


_ROWS_COMMON_HEAD = (
    Row("new_received", "一、本年新收政府信息公开申请数量", "received", None, _spaced("新收政府信息公开申请数量")),
    Row("carried_over", "二、上年结转政府信息公开申请数量", "received", None, _spaced("上年结转政府信息公开申请数量")),
    Row("granted", "(一)予以公开", "outcome", None, _spaced("予以公开")),
    Row("partially_granted", "(二)部分公开(区分处理的,只计这一情形,不计其他情形)", "outcome", None, _spaced("部分公开") + r"(?:[^\d|]{0,40}?" + _spaced("情形") + r"\))?"),
    Row("denied_state_secret", "1.属于国家秘密", "outcome", "1", _spaced("国家秘密")),
    Row("denied_prohibited_by_law", "2.其他法律行政法规禁止公开", "outcome", "2", _spaced("禁止公开")),
    Row("denied_three_security_one_stability", "3.危及“三安全一稳定”", "outcome", "3", _spaced("三安全一稳定") + r"[\s\"'”“」]*"),
    Row("denied_third_party_rights", "4.保护第三方合法权益", "outcome", "4", _spaced("第三方合法权益")),
    Row("denied_internal_affairs", "5.属于三类内部事务信息", "outcome", "5", _spaced("内部事务信息")),
    Row("denied_process_information", "6.属于四类过程性信息", "outcome", "6", _spaced("过程性信息")),
    Row("denied_law_enforcement_file", "7.属于行政执法案卷", "outcome", "7", _spaced("行政执法案卷")),
    Row("denied_administrative_query", "8.属于行政查询事项", "outcome", "8", _spaced("行政查询事项")),
    Row("unavailable_not_held", "1.本机关不掌握相关政府信息", "outcome", "1", _spaced("不掌握") + r"[^\d|]{0,8}?" + _spaced("信息")),
    Row("unavailable_needs_creation", "2.没有现成信息需要另行制作", "outcome", "2", _spaced("另行制作")),
    Row("unavailable_unclear_after_correction", "3.补正后申请内容仍不明确", "outcome", "3", _spaced("仍不明确")),
    Row("not_processed_petition", "1.信访举报投诉类申请", "outcome", "1", _spaced("投诉类申请")),
    Row("not_processed_duplicate", "2.重复申请", "outcome", "2", _spaced("重复申请")),
    Row("not_processed_publication", "3.要求提供公开出版物", "outcome", "3", _spaced("公开出版物")),
    Row("not_processed_excessive", "4.无正当理由大量反复申请", "outcome", "4", _spaced("大量反复申请")),
    Row("not_processed_confirmation", "5.要求行政机关确认或重新出具已获取信息", "outcome", "5", _spaced("已获取信息")),
)
_ROWS_COMMON_TAIL = (
    Row("total", "(七)总计", "total", None, r"\(七\)" + _spaced("总计")),
    Row("carried_forward", "四、结转下年度继续办理", "carried_forward", None, _spaced("结转下年度继续办理")),
)
APPLICATION_ROWS_2021 = (
    *_ROWS_COMMON_HEAD,
    Row("other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请", "outcome", "1",
        _spaced("逾期不补正") + r"[^\d|]{0,30}?" + _spaced("公开申请")),
    Row("other_unpaid_fee", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请", "outcome", "2",
        _spaced("缴纳费用") + r"[^\d|]{0,30}?" + _spaced("公开申请")),
    Row("other_misc", "3.其他", "outcome", "3", r"3[.、]其他"),
    *_ROWS_COMMON_TAIL,
)
APPLICATION_ROWS_2019 = (
    *_ROWS_COMMON_HEAD,
    Row("other", "(六)其他处理", "outcome", None, r"\(六\)" + _spaced("其他处理")),
    *_ROWS_COMMON_TAIL,
)
APPLICATION_ROWS = {"2019": APPLICATION_ROWS_2019, "2021": APPLICATION_ROWS_2021}

# Table 4: three groups of five.
REVIEW_GROUPS = ("review", "suit_direct", "suit_after_review")
REVIEW_GROUP_LABELS = ("行政复议", "未经复议直接起诉", "复议后起诉")
REVIEW_OUTCOMES = ("upheld", "corrected", "other", "pending", "total")
REVIEW_OUTCOME_LABELS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")

# Section headings, with the variants seen in the wild (spec "Six sections").
SECTION_TITLES = (
    "一、总体情况",
    "二、主动公开政府信息情况",
    "三、收到和处理政府信息公开申请情况",
    "四、政府信息公开行政复议、行政诉讼情况",
    "五、存在的主要问题及改进情况",
    "六、其他需要报告的事项",
)
