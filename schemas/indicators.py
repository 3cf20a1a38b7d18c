"""The transparency indicators as views over the lake's tables: declared once here (columns, meaning, SQL), generated
into deploy/bi/views.sql (tasks/report/bi.py) and the data dictionary (schemas/dictionary.py); the dashboards read them.

- Timeliness: departments must publish the report on the year before by 31 January, county-and-above governments
  by 31 March (条例, 国务院令第711号); the published date (page metadata or signature) says who was late and by how
  many days. Undated reports are counted apart, never as on time.
- Coverage: of the governments that must publish (`expected_publishers`, from the division table), which published
  a report for each report year the lake holds.
- Completeness and consistency: a report is complete when all three tables were read (no `*_incomplete` finding,
  not unsupported), consistent when it is complete and passes its own sum rules (SUM_RULES below).
- The numbers: requests and outcomes with Chinese labels, review and suit outcomes with the corrected share (纠错率),
  findings with the organ and source key.

The SQL reads only the views of tasks/report/bi.py (reports, applications, …, expected_publishers), so it runs over a
folder or S3 alike. Every view's columns and types are checked against these declarations (tests/test_indicators.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas import form
from schemas.tables import Column

# Table-3 and table-4 sum rules (tasks/rules/within_report.py): a report that fails none of them is consistent.
SUM_RULES = ("applications_row_total_mismatch", "applications_column_identity_mismatch",
             "applications_detail_sum_mismatch", "review_litigation_total_mismatch")
# 条例 (国务院令第711号) on the report of the year before: departments by 31 January, county-and-above governments
# (their report compiled by the disclosure office) by 31 March (shared/spec/format.md). Other organs (townships,
# zones, central organs) are held to 31 January.
DEADLINE_DEPARTMENTS = (1, 31)
DEADLINE_GOVERNMENTS = (3, 31)
GOVERNMENT_LEVELS = ("provincial", "prefectural", "county")
# Chinese names of the keys the dashboards group by (the data is Chinese; the keys stay English in the tables).
LEVEL_LABELS = {"central": "中央", "provincial": "省级", "prefectural": "地市级", "county": "县级", "township": "乡镇级",
                "unknown": "未识别"}
CATEGORY_LABELS = {"new_received": "本年新收", "carried_over": "上年结转", "granted": "予以公开",
                   "partially_granted": "部分公开", "denied": "不予公开", "unavailable": "无法提供",
                   "not_processed": "不予处理", "other": "其他处理", "total": "总计", "carried_forward": "结转下年度"}
TIMELINESS_LABELS = {"on_time": "按时", "late": "逾期", "undated": "未注明日期"}
SCOPE_LABELS = {"report": "本报告", "cross_year": "跨年度"}
assert set(LEVEL_LABELS) == set(form.ADMIN_LEVELS)
# What the indicators mean, for the data dictionary.
SUMMARY = (
    "**Timeliness** (`report_timeliness`): the 条例 wants each year's report published in the next year by 31 January "
    "(departments and other organs) or 31 March (county-or-higher governments, shared/spec/format.md); the published "
    "date read (page metadata or signature) says who was late and by how many days. "
    "Undated reports are counted apart, never as on time.",
    "**Coverage** (`publisher_coverage`, `coverage_by_province`): of the governments that must publish "
    "(`expected_publishers`, from the division table, whose vintage each row states), which published a report "
    "for each report year the lake holds.",
    "**Completeness and consistency** (`report_quality`, `indicators_by_province`): complete = all three tables "
    "read (no `*_incomplete` finding); consistent = complete and none of its sum rules failed (" +
    ", ".join(f"`{r}`" for r in SUM_RULES) + ").",
    "**The numbers** (`request_outcomes`, `review_outcomes`, `finding_details`): table 3 and table 4 with Chinese "
    "labels and the province, the corrected share (纠错率), every finding with its organ and source key.",
)


@dataclass(frozen=True)
class View:
    name: str
    description: str
    grain: str
    columns: tuple[Column, ...]
    sql: str  # a SELECT whose columns are `columns`, in order


def _c(name: str, dtype, description: str, source: str = "derived", nullable: bool = True) -> Column:
    return Column(name, dtype, nullable, description, source)


def _case(expr: str, labels: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in labels.items())
    return f"CASE {expr} {whens} END"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"




def _deadline(year: str, kind: str | None, level: str) -> str:
    gov = f"make_date({year} + 1, {DEADLINE_GOVERNMENTS[0]}, {DEADLINE_GOVERNMENTS[1]})"
    dept = f"make_date({year} + 1, {DEADLINE_DEPARTMENTS[0]}, {DEADLINE_DEPARTMENTS[1]})"
    if kind is None:  # known to be a government
        return gov
    return f"CASE WHEN {kind} = 'government' AND {level} IN {_in(GOVERNMENT_LEVELS)} THEN {gov} ELSE {dept} END"


_DEADLINE = _deadline("r.year", "r.organ_kind", "r.admin_level")
_YEAR = _c("year", pl.Int32, "Report year.", "reports.year", nullable=False)
_LEVEL = _c("admin_level", pl.String, "Administrative level.", "reports.admin_level", nullable=False)
_LEVEL_LABEL = _c("level_label", pl.String, "The level in Chinese (省级, 地市级, 县级 …).", "admin_level")
_PROVINCE = _c("province", pl.String, "Province-level division (null: central organs, unresolved).", "reports.province")
_ORGAN = _c("organ", pl.String, "Issuing organ.", "reports.organ")
_CODE = _c("division_code", pl.String, "6-digit division code.", "reports.division_code")
_SOURCE = _c("source", pl.String, "Object key the report was read from.", "reports.source")


def _share(part: str, whole: str) -> str:
    return f"CAST({part} AS DOUBLE) / NULLIF({whole}, 0)"


REPORT_TIMELINESS = View(
    "report_timeliness",
    "One row per report with a year (unsupported files aside): its published date against its deadline in the next "
    "year: 31 March for a county-or-higher government, 31 January for every other organ (条例, 国务院令第711号). "
    "on_time: published on or before it; late: after; undated: no date was read.",
    "report_id",
    (
        _c("report_id", pl.String, "Report.", "reports.report_id", nullable=False), _YEAR, _LEVEL, _LEVEL_LABEL,
        _ORGAN, _c("organ_kind", pl.String, "government, department, zone or other.", "reports.organ_kind"),
        _PROVINCE, _c("prefecture", pl.String, "Prefecture-level division.", "reports.prefecture"), _CODE, _SOURCE,
        _c("published_date", pl.Date, "Publish date as read.", "reports.published_date"),
        _c("deadline", pl.Date, "31 March (county-or-higher governments) or 31 January of the year after the report year.",
           "条例 (国务院令第711号)", nullable=False),
        _c("days_late", pl.Int32, "Days after the deadline (0 when on time; null when undated).", "published_date − deadline"),
        _c("timeliness", pl.String, "on_time, late or undated.", "published_date", nullable=False),
        _c("timeliness_label", pl.String, "按时, 逾期, 未注明日期.", "timeliness", nullable=False),
    ),
    f"""SELECT
    r.report_id, r.year, r.admin_level, {_case('r.admin_level', LEVEL_LABELS)} AS level_label,
    r.organ, r.organ_kind, r.province, r.prefecture, r.division_code, r.source, r.published_date,
    {_DEADLINE} AS deadline,
    CAST(CASE WHEN r.published_date > {_DEADLINE} THEN r.published_date - {_DEADLINE} WHEN r.published_date IS NOT NULL THEN 0 END AS INTEGER) AS days_late,
    CASE WHEN r.published_date IS NULL THEN 'undated' WHEN r.published_date <= {_DEADLINE} THEN 'on_time' ELSE 'late' END AS timeliness,
    CASE WHEN r.published_date IS NULL THEN '{TIMELINESS_LABELS["undated"]}' WHEN r.published_date <= {_DEADLINE} THEN '{TIMELINESS_LABELS["on_time"]}' ELSE '{TIMELINESS_LABELS["late"]}' END AS timeliness_label
FROM reports AS r
WHERE r.year > 0 AND r.parse_status <> 'unsupported'""",
)

PUBLISHER_COVERAGE = View(
    "publisher_coverage",
    "One row per expected publisher (a government of the division table) and report year the lake holds: whether "
    "it published (a report whose organ resolved to that government: organ_kind government, same code and level).",
    "division_code, admin_level, year",
    (
        _c("division_code", pl.String, "6-digit division code.", "expected_publishers", nullable=False),
        _c("admin_level", pl.String, "provincial, prefectural or county.", "expected_publishers", nullable=False),
        _LEVEL_LABEL,
        _c("name", pl.String, "Division name.", "expected_publishers", nullable=False),
        _c("government", pl.String, "The government's name.", "expected_publishers", nullable=False),
        _c("province", pl.String, "Province-level division.", "expected_publishers", nullable=False),
        _c("prefecture", pl.String, "Prefecture-level division.", "expected_publishers"),
        _YEAR,
        _c("published", pl.Boolean, "At least one report of the government for the year is in the lake.", "reports", nullable=False),
        _c("reports", pl.Int64, "Its reports for the year (a corrected re-publication makes two).", "reports", nullable=False),
        _c("first_published_date", pl.Date, "Earliest publish date read among them.", "reports.published_date"),
        _c("on_time", pl.Boolean, "Published by 31 March of the next year (null: not published or undated).", "published_date"),
    ),
    f"""WITH years AS (
    SELECT DISTINCT year FROM reports WHERE year > 0 AND parse_status <> 'unsupported'
), published AS (
    SELECT division_code, admin_level, year, count(*) AS reports, min(published_date) AS first_published_date
    FROM reports
    WHERE organ_kind = 'government' AND year > 0 AND parse_status <> 'unsupported' AND division_code IS NOT NULL
    GROUP BY division_code, admin_level, year
)
SELECT
    e.division_code, e.level AS admin_level, {_case('e.level', LEVEL_LABELS)} AS level_label, e.name, e.government,
    e.province, e.prefecture, r.year,
    p.reports IS NOT NULL AS published, coalesce(p.reports, 0) AS reports, p.first_published_date,
    p.first_published_date <= {_deadline("r.year", None, "")} AS on_time
FROM expected_publishers AS e
CROSS JOIN years AS r
LEFT JOIN published AS p ON p.division_code = e.division_code AND p.admin_level = e.level AND p.year = r.year
WHERE (e.valid_from IS NULL OR r.year >= e.valid_from) AND (e.valid_to IS NULL OR r.year <= e.valid_to)""",
)

COVERAGE_BY_PROVINCE = View(
    "coverage_by_province",
    "Coverage per report year, province and level: governments expected, those that published, the share.",
    "year, province, admin_level",
    (
        _YEAR, _c("province", pl.String, "Province-level division.", "expected_publishers", nullable=False),
        _c("admin_level", pl.String, "provincial, prefectural or county.", "expected_publishers", nullable=False),
        _LEVEL_LABEL,
        _c("expected", pl.Int64, "Governments that must publish.", "expected_publishers", nullable=False),
        _c("published", pl.Int64, "Of them, those with a report in the lake.", "reports", nullable=False),
        _c("on_time", pl.Int64, "Of them, those that published by 31 March.", "reports.published_date", nullable=False),
        _c("coverage", pl.Float64, "published / expected.", "derived"),
    ),
    f"""SELECT
    year, province, admin_level, any_value(level_label) AS level_label, count(*) AS expected,
    count(*) FILTER (WHERE published) AS published, count(*) FILTER (WHERE on_time) AS on_time,
    {_share('count(*) FILTER (WHERE published)', 'count(*)')} AS coverage
FROM publisher_coverage
GROUP BY year, province, admin_level""",
)

REPORT_QUALITY = View(
    "report_quality",
    "One row per report with a year (unsupported files aside): complete (all three tables read) and consistent "
    "(complete, and none of its own sum rules fails: " + ", ".join(SUM_RULES) + ").",
    "report_id",
    (
        _c("report_id", pl.String, "Report.", "reports.report_id", nullable=False), _YEAR, _LEVEL, _LEVEL_LABEL,
        _ORGAN, _PROVINCE, _CODE, _SOURCE,
        _c("parse_status", pl.String, "ok, flagged, incomplete.", "reports.parse_status", nullable=False),
        _c("complete", pl.Boolean, "All three tables were read (parse_status ok or flagged).", "findings *_incomplete", nullable=False),
        _c("sum_rule_failures", pl.Int64, "Findings of the sum rules.", "findings", nullable=False),
        _c("consistent", pl.Boolean, "Complete and no sum rule failed.", "findings", nullable=False),
    ),
    f"""WITH failures AS (
    SELECT report_id, count(*) AS n FROM findings WHERE rule IN {_in(SUM_RULES)} GROUP BY report_id
)
SELECT
    r.report_id, r.year, r.admin_level, {_case('r.admin_level', LEVEL_LABELS)} AS level_label, r.organ, r.province,
    r.division_code, r.source, r.parse_status,
    r.parse_status IN ('ok', 'flagged') AS complete,
    coalesce(f.n, 0) AS sum_rule_failures,
    r.parse_status IN ('ok', 'flagged') AND f.n IS NULL AS consistent
FROM reports AS r
LEFT JOIN failures AS f ON f.report_id = r.report_id
WHERE r.year > 0 AND r.parse_status <> 'unsupported'""",
)

INDICATORS_BY_PROVINCE = View(
    "indicators_by_province",
    "Per report year, province and level: reports, and the shares that are complete, consistent, on time, late.",
    "year, province, admin_level",
    (
        _YEAR, _PROVINCE, _LEVEL, _LEVEL_LABEL,
        _c("reports", pl.Int64, "Reports (with a year, unsupported aside).", "reports", nullable=False),
        _c("complete", pl.Int64, "All three tables read.", "report_quality", nullable=False),
        _c("consistent", pl.Int64, "Complete and passing its sum rules.", "report_quality", nullable=False),
        _c("on_time", pl.Int64, "Published by the deadline.", "report_timeliness", nullable=False),
        _c("late", pl.Int64, "Published after the deadline.", "report_timeliness", nullable=False),
        _c("undated", pl.Int64, "No publish date read.", "report_timeliness", nullable=False),
        _c("complete_share", pl.Float64, "complete / reports.", "derived"),
        _c("consistent_share", pl.Float64, "consistent / reports.", "derived"),
        _c("late_share", pl.Float64, "late / (on_time + late): of the dated reports.", "derived"),
    ),
    f"""SELECT
    q.year, q.province, q.admin_level, any_value(q.level_label) AS level_label, count(*) AS reports,
    count(*) FILTER (WHERE q.complete) AS complete, count(*) FILTER (WHERE q.consistent) AS consistent,
    count(*) FILTER (WHERE t.timeliness = 'on_time') AS on_time, count(*) FILTER (WHERE t.timeliness = 'late') AS late,
    count(*) FILTER (WHERE t.timeliness = 'undated') AS undated,
    {_share('count(*) FILTER (WHERE q.complete)', 'count(*)')} AS complete_share,
    {_share('count(*) FILTER (WHERE q.consistent)', 'count(*)')} AS consistent_share,
    {_share("count(*) FILTER (WHERE t.timeliness = 'late')", "count(*) FILTER (WHERE t.timeliness <> 'undated')")} AS late_share
FROM report_quality AS q
JOIN report_timeliness AS t ON t.report_id = q.report_id
GROUP BY q.year, q.province, q.admin_level""",
)

REQUEST_OUTCOMES = View(
    "request_outcomes",
    "Table 3 for charts: one row per report and table row, with the report's province and the row's outcome "
    "category, reason and printed label (Chinese).",
    "report_id, row_key",
    (
        _c("report_id", pl.String, "Report.", "applications.report_id", nullable=False), _YEAR, _LEVEL, _LEVEL_LABEL,
        _PROVINCE, _ORGAN,
        _c("row_key", pl.String, "Table-3 row key.", "applications.row_key", nullable=False),
        _c("row_group", pl.String, "received, outcome, total, carried_forward.", "applications.row_group", nullable=False),
        _c("category", pl.String, "granted, partially_granted, denied, unavailable, not_processed, other, or the row itself.", "application_rows"),
        _c("category_label", pl.String, "The category in Chinese (予以公开, 不予公开 …).", "schemas/indicators.py"),
        _c("reason", pl.String, "The numbered sub-row's key (state_secret …).", "application_rows"),
        _c("label", pl.String, "The row as printed on the form.", "application_rows"),
        _c("requests", pl.Int64, "总计 column: requests of every applicant type, as printed.", "applications.total"),
    ),
    f"""SELECT
    a.report_id, a.year, a.admin_level, {_case('a.admin_level', LEVEL_LABELS)} AS level_label, r.province, r.organ,
    a.row_key, a.row_group, d.category, {_case('d.category', CATEGORY_LABELS)} AS category_label, d.reason, d.label,
    a.total AS requests
FROM applications AS a
JOIN reports AS r ON r.report_id = a.report_id
LEFT JOIN application_rows AS d ON d.format_version = a.format_version AND d.row_key = a.row_key""",
)

REVIEW_OUTCOMES = View(
    "review_outcomes",
    "Table 4 for charts: one row per report and group, labelled, with the corrected share (纠错率 = corrected / "
    "(upheld + corrected + other), null when nothing concluded).",
    "report_id, group",
    (
        _c("report_id", pl.String, "Report.", "review_litigation.report_id", nullable=False), _YEAR, _LEVEL, _LEVEL_LABEL,
        _PROVINCE,
        _c("group", pl.String, "review, suit_direct, suit_after_review.", "review_litigation.group", nullable=False),
        _c("group_label", pl.String, "行政复议, 未经复议直接起诉, 复议后起诉.", "review_groups"),
        *(_c(k, pl.Int64, f"{label}.", f"review_litigation.{k}") for k, label in
          zip(form.REVIEW_OUTCOMES, form.REVIEW_OUTCOME_LABELS, strict=True)),
        _c("corrected_share", pl.Float64, "纠错率 of the report's group.", "derived"),
    ),
    f"""SELECT
    l.report_id, l.year, l.admin_level, {_case('l.admin_level', LEVEL_LABELS)} AS level_label, r.province,
    l."group", g.label AS group_label, {", ".join(f'l."{k}"' for k in form.REVIEW_OUTCOMES)},
    {_share('l.corrected', 'l.upheld + l.corrected + l."other"')} AS corrected_share
FROM review_litigation AS l
JOIN reports AS r ON r.report_id = l.report_id
LEFT JOIN review_groups AS g ON g."group" = l."group"
""",
)

FINDING_DETAILS = View(
    "finding_details",
    "Every finding, a report's own and the cross-year ones, with the report's organ, province and source key (the "
    "object to open).",
    "report_id, rule, field",
    (
        _c("report_id", pl.String, "Report.", "findings.report_id", nullable=False), _YEAR, _LEVEL, _LEVEL_LABEL,
        _c("scope", pl.String, "report (its own findings) or cross_year.", "findings / cross_year_findings", nullable=False),
        _c("scope_label", pl.String, "本报告 or 跨年度.", "scope", nullable=False),
        _c("rule", pl.String, "Rule name.", "findings.rule", nullable=False),
        _c("severity", pl.String, "error or warning.", "findings.severity", nullable=False),
        _ORGAN, _PROVINCE, _CODE,
        _c("source", pl.String, "Object key of the report.", "findings.source", nullable=False),
        _c("url", pl.String, "Page address, when the crawler's sidecar gave one.", "reports.url"),
        _c("field", pl.String, "Dotted path of the value.", "findings.field"),
        _c("expected", pl.String, "What the rule expected.", "findings.expected"),
        _c("actual", pl.String, "What the report printed.", "findings.actual"),
        _c("message", pl.String, "Explanation.", "findings.message", nullable=False),
    ),
    f"""WITH f AS (
    SELECT *, 'report' AS scope FROM findings
    UNION ALL BY NAME
    SELECT *, 'cross_year' AS scope FROM cross_year_findings
)
SELECT
    f.report_id, f.year, f.admin_level, {_case('f.admin_level', LEVEL_LABELS)} AS level_label, f.scope,
    {_case('f.scope', SCOPE_LABELS)} AS scope_label, f.rule, f.severity, r.organ, r.province, r.division_code,
    f.source, r.url, f.field, f.expected, f.actual, f.message
FROM f
LEFT JOIN reports AS r ON r.report_id = f.report_id""",
)

VIEWS: tuple[View, ...] = (REPORT_TIMELINESS, PUBLISHER_COVERAGE, COVERAGE_BY_PROVINCE, REPORT_QUALITY,
                           INDICATORS_BY_PROVINCE, REQUEST_OUTCOMES, REVIEW_OUTCOMES, FINDING_DETAILS)
