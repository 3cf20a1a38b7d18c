-- DuckDB views over the govreports lake: one view per table, plus lookup views from the national form.
-- Generated from schemas/ by `python -m tasks.report.bi --write-views` (make docs); do not edit by hand.
--
-- DuckDB CLI (the lake root is read when a view is queried, so set it in every session):
--   SET VARIABLE lake = '/srv/govreports/lake';      -- a local folder, no trailing slash
--   SET VARIABLE lake = 's3://bucket/lake';          -- S3: LOAD httpfs; CREATE SECRET (TYPE s3, …) first
--   .read deploy/bi/views.sql
--   .read deploy/bi/queries/requests_by_year_level.sql
-- A table with no object yet (no failures, say) reads as empty. tasks/report/bi.py `connect` creates the same views
-- with a literal root instead of the variable (for a database file Superset opens).

CREATE OR REPLACE VIEW "reports" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "source",
    "content_hash",
    "byte_size",
    "encoding",
    "format_version",
    "layout",
    "title",
    "organ",
    "organ_kind",
    "province",
    "prefecture",
    "county",
    "division_code",
    "published_date",
    "index_number",
    "url",
    "parse_status",
    "error_count",
    "warning_count",
    "duplicate_sources",
    "parser_version",
    "reader",
    "ocr_confidence_min"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "source",
        CAST(NULL AS VARCHAR) AS "content_hash",
        CAST(NULL AS BIGINT) AS "byte_size",
        CAST(NULL AS VARCHAR) AS "encoding",
        CAST(NULL AS VARCHAR) AS "format_version",
        CAST(NULL AS VARCHAR) AS "layout",
        CAST(NULL AS VARCHAR) AS "title",
        CAST(NULL AS VARCHAR) AS "organ",
        CAST(NULL AS VARCHAR) AS "organ_kind",
        CAST(NULL AS VARCHAR) AS "province",
        CAST(NULL AS VARCHAR) AS "prefecture",
        CAST(NULL AS VARCHAR) AS "county",
        CAST(NULL AS VARCHAR) AS "division_code",
        CAST(NULL AS DATE) AS "published_date",
        CAST(NULL AS VARCHAR) AS "index_number",
        CAST(NULL AS VARCHAR) AS "url",
        CAST(NULL AS VARCHAR) AS "parse_status",
        CAST(NULL AS INTEGER) AS "error_count",
        CAST(NULL AS INTEGER) AS "warning_count",
        CAST(NULL AS VARCHAR[]) AS "duplicate_sources",
        CAST(NULL AS VARCHAR) AS "parser_version",
        CAST(NULL AS VARCHAR) AS "reader",
        CAST(NULL AS DOUBLE) AS "ocr_confidence_min"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/reports/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "active_disclosure" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "format_version",
    "item",
    "measure",
    "value",
    "raw"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "format_version",
        CAST(NULL AS VARCHAR) AS "item",
        CAST(NULL AS VARCHAR) AS "measure",
        CAST(NULL AS DOUBLE) AS "value",
        CAST(NULL AS VARCHAR) AS "raw"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/active_disclosure/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "applications" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "format_version",
    "row_key",
    "row_order",
    "row_group",
    "natural_person",
    "commercial",
    "research",
    "nonprofit",
    "legal_service",
    "other",
    "total"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "format_version",
        CAST(NULL AS VARCHAR) AS "row_key",
        CAST(NULL AS SMALLINT) AS "row_order",
        CAST(NULL AS VARCHAR) AS "row_group",
        CAST(NULL AS BIGINT) AS "natural_person",
        CAST(NULL AS BIGINT) AS "commercial",
        CAST(NULL AS BIGINT) AS "research",
        CAST(NULL AS BIGINT) AS "nonprofit",
        CAST(NULL AS BIGINT) AS "legal_service",
        CAST(NULL AS BIGINT) AS "other",
        CAST(NULL AS BIGINT) AS "total"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/applications/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "review_litigation" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "group",
    "upheld",
    "corrected",
    "other",
    "pending",
    "total"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "group",
        CAST(NULL AS BIGINT) AS "upheld",
        CAST(NULL AS BIGINT) AS "corrected",
        CAST(NULL AS BIGINT) AS "other",
        CAST(NULL AS BIGINT) AS "pending",
        CAST(NULL AS BIGINT) AS "total"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/review_litigation/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "findings" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "source",
    "rule",
    "severity",
    "table",
    "row",
    "column",
    "field",
    "expected",
    "actual",
    "message"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "source",
        CAST(NULL AS VARCHAR) AS "rule",
        CAST(NULL AS VARCHAR) AS "severity",
        CAST(NULL AS VARCHAR) AS "table",
        CAST(NULL AS VARCHAR) AS "row",
        CAST(NULL AS VARCHAR) AS "column",
        CAST(NULL AS VARCHAR) AS "field",
        CAST(NULL AS VARCHAR) AS "expected",
        CAST(NULL AS VARCHAR) AS "actual",
        CAST(NULL AS VARCHAR) AS "message"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/findings/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "cross_year_findings" AS
SELECT
    "report_id",
    "year",
    "admin_level",
    "source",
    "rule",
    "severity",
    "table",
    "row",
    "column",
    "field",
    "expected",
    "actual",
    "message"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "report_id",
        CAST(NULL AS INTEGER) AS "year",
        CAST(NULL AS VARCHAR) AS "admin_level",
        CAST(NULL AS VARCHAR) AS "source",
        CAST(NULL AS VARCHAR) AS "rule",
        CAST(NULL AS VARCHAR) AS "severity",
        CAST(NULL AS VARCHAR) AS "table",
        CAST(NULL AS VARCHAR) AS "row",
        CAST(NULL AS VARCHAR) AS "column",
        CAST(NULL AS VARCHAR) AS "field",
        CAST(NULL AS VARCHAR) AS "expected",
        CAST(NULL AS VARCHAR) AS "actual",
        CAST(NULL AS VARCHAR) AS "message"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/cross_year_findings/*/*/*.parquet', allow_empty = true, hive_partitioning = true, hive_types = {'year': 'INTEGER', 'admin_level': 'VARCHAR'})
);

CREATE OR REPLACE VIEW "failures" AS
SELECT
    "source",
    "run_id",
    "stage",
    "error",
    "recorded_at"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "source",
        CAST(NULL AS VARCHAR) AS "run_id",
        CAST(NULL AS VARCHAR) AS "stage",
        CAST(NULL AS VARCHAR) AS "error",
        CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS "recorded_at"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/failures/*.parquet', allow_empty = true)
);

CREATE OR REPLACE VIEW "expected_publishers" AS
SELECT
    "division_code",
    "level",
    "name",
    "government",
    "province",
    "prefecture",
    "valid_from",
    "valid_to",
    "vintage"
FROM (
    SELECT
        CAST(NULL AS VARCHAR) AS "division_code",
        CAST(NULL AS VARCHAR) AS "level",
        CAST(NULL AS VARCHAR) AS "name",
        CAST(NULL AS VARCHAR) AS "government",
        CAST(NULL AS VARCHAR) AS "province",
        CAST(NULL AS VARCHAR) AS "prefecture",
        CAST(NULL AS INTEGER) AS "valid_from",
        CAST(NULL AS INTEGER) AS "valid_to",
        CAST(NULL AS VARCHAR) AS "vintage"
    WHERE false
    UNION ALL BY NAME
    SELECT * FROM read_parquet(getvariable('lake') || '/expected_publishers/*.parquet', allow_empty = true)
);

-- Table 3 rows: join on (format_version, row_key). category: granted, partially_granted, denied, unavailable, not_processed, other (outcomes) or the row itself; reason: the numbered sub-row.
CREATE OR REPLACE VIEW "application_rows" AS
SELECT * FROM (VALUES
    ('2019', 'new_received', 1, 'received', 'new_received', 1, NULL, '一、本年新收政府信息公开申请数量'),
    ('2019', 'carried_over', 2, 'received', 'carried_over', 2, NULL, '二、上年结转政府信息公开申请数量'),
    ('2019', 'granted', 3, 'outcome', 'granted', 3, NULL, '(一)予以公开'),
    ('2019', 'partially_granted', 4, 'outcome', 'partially_granted', 4, NULL, '(二)部分公开(区分处理的,只计这一情形,不计其他情形)'),
    ('2019', 'denied_state_secret', 5, 'outcome', 'denied', 5, 'state_secret', '1.属于国家秘密'),
    ('2019', 'denied_prohibited_by_law', 6, 'outcome', 'denied', 5, 'prohibited_by_law', '2.其他法律行政法规禁止公开'),
    ('2019', 'denied_three_security_one_stability', 7, 'outcome', 'denied', 5, 'three_security_one_stability', '3.危及“三安全一稳定”'),
    ('2019', 'denied_third_party_rights', 8, 'outcome', 'denied', 5, 'third_party_rights', '4.保护第三方合法权益'),
    ('2019', 'denied_internal_affairs', 9, 'outcome', 'denied', 5, 'internal_affairs', '5.属于三类内部事务信息'),
    ('2019', 'denied_process_information', 10, 'outcome', 'denied', 5, 'process_information', '6.属于四类过程性信息'),
    ('2019', 'denied_law_enforcement_file', 11, 'outcome', 'denied', 5, 'law_enforcement_file', '7.属于行政执法案卷'),
    ('2019', 'denied_administrative_query', 12, 'outcome', 'denied', 5, 'administrative_query', '8.属于行政查询事项'),
    ('2019', 'unavailable_not_held', 13, 'outcome', 'unavailable', 6, 'not_held', '1.本机关不掌握相关政府信息'),
    ('2019', 'unavailable_needs_creation', 14, 'outcome', 'unavailable', 6, 'needs_creation', '2.没有现成信息需要另行制作'),
    ('2019', 'unavailable_unclear_after_correction', 15, 'outcome', 'unavailable', 6, 'unclear_after_correction', '3.补正后申请内容仍不明确'),
    ('2019', 'not_processed_petition', 16, 'outcome', 'not_processed', 7, 'petition', '1.信访举报投诉类申请'),
    ('2019', 'not_processed_duplicate', 17, 'outcome', 'not_processed', 7, 'duplicate', '2.重复申请'),
    ('2019', 'not_processed_publication', 18, 'outcome', 'not_processed', 7, 'publication', '3.要求提供公开出版物'),
    ('2019', 'not_processed_excessive', 19, 'outcome', 'not_processed', 7, 'excessive', '4.无正当理由大量反复申请'),
    ('2019', 'not_processed_confirmation', 20, 'outcome', 'not_processed', 7, 'confirmation', '5.要求行政机关确认或重新出具已获取信息'),
    ('2019', 'other', 21, 'outcome', 'other', 8, NULL, '(六)其他处理'),
    ('2019', 'total', 22, 'total', 'total', 9, NULL, '(七)总计'),
    ('2019', 'carried_forward', 23, 'carried_forward', 'carried_forward', 10, NULL, '四、结转下年度继续办理'),
    ('2021', 'new_received', 1, 'received', 'new_received', 1, NULL, '一、本年新收政府信息公开申请数量'),
    ('2021', 'carried_over', 2, 'received', 'carried_over', 2, NULL, '二、上年结转政府信息公开申请数量'),
    ('2021', 'granted', 3, 'outcome', 'granted', 3, NULL, '(一)予以公开'),
    ('2021', 'partially_granted', 4, 'outcome', 'partially_granted', 4, NULL, '(二)部分公开(区分处理的,只计这一情形,不计其他情形)'),
    ('2021', 'denied_state_secret', 5, 'outcome', 'denied', 5, 'state_secret', '1.属于国家秘密'),
    ('2021', 'denied_prohibited_by_law', 6, 'outcome', 'denied', 5, 'prohibited_by_law', '2.其他法律行政法规禁止公开'),
    ('2021', 'denied_three_security_one_stability', 7, 'outcome', 'denied', 5, 'three_security_one_stability', '3.危及“三安全一稳定”'),
    ('2021', 'denied_third_party_rights', 8, 'outcome', 'denied', 5, 'third_party_rights', '4.保护第三方合法权益'),
    ('2021', 'denied_internal_affairs', 9, 'outcome', 'denied', 5, 'internal_affairs', '5.属于三类内部事务信息'),
    ('2021', 'denied_process_information', 10, 'outcome', 'denied', 5, 'process_information', '6.属于四类过程性信息'),
    ('2021', 'denied_law_enforcement_file', 11, 'outcome', 'denied', 5, 'law_enforcement_file', '7.属于行政执法案卷'),
    ('2021', 'denied_administrative_query', 12, 'outcome', 'denied', 5, 'administrative_query', '8.属于行政查询事项'),
    ('2021', 'unavailable_not_held', 13, 'outcome', 'unavailable', 6, 'not_held', '1.本机关不掌握相关政府信息'),
    ('2021', 'unavailable_needs_creation', 14, 'outcome', 'unavailable', 6, 'needs_creation', '2.没有现成信息需要另行制作'),
    ('2021', 'unavailable_unclear_after_correction', 15, 'outcome', 'unavailable', 6, 'unclear_after_correction', '3.补正后申请内容仍不明确'),
    ('2021', 'not_processed_petition', 16, 'outcome', 'not_processed', 7, 'petition', '1.信访举报投诉类申请'),
    ('2021', 'not_processed_duplicate', 17, 'outcome', 'not_processed', 7, 'duplicate', '2.重复申请'),
    ('2021', 'not_processed_publication', 18, 'outcome', 'not_processed', 7, 'publication', '3.要求提供公开出版物'),
    ('2021', 'not_processed_excessive', 19, 'outcome', 'not_processed', 7, 'excessive', '4.无正当理由大量反复申请'),
    ('2021', 'not_processed_confirmation', 20, 'outcome', 'not_processed', 7, 'confirmation', '5.要求行政机关确认或重新出具已获取信息'),
    ('2021', 'other_no_correction', 21, 'outcome', 'other', 8, 'no_correction', '1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请'),
    ('2021', 'other_unpaid_fee', 22, 'outcome', 'other', 8, 'unpaid_fee', '2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请'),
    ('2021', 'other_misc', 23, 'outcome', 'other', 8, 'misc', '3.其他'),
    ('2021', 'total', 24, 'total', 'total', 9, NULL, '(七)总计'),
    ('2021', 'carried_forward', 25, 'carried_forward', 'carried_forward', 10, NULL, '四、结转下年度继续办理')
) AS t("format_version", "row_key", "row_order", "row_group", "category", "category_order", "reason", "label");

-- Table 2 items and measures with their printed labels: join on (format_version, item, measure).
CREATE OR REPLACE VIEW "disclosure_measures" AS
SELECT * FROM (VALUES
    ('2019', 'regulations', 1, '规章', 'new_made', 1, '本年新制作数量'),
    ('2019', 'regulations', 1, '规章', 'new_published', 2, '本年新公开数量'),
    ('2019', 'regulations', 1, '规章', 'total_published', 3, '对外公开总数量'),
    ('2019', 'normative_documents', 2, '规范性文件', 'new_made', 1, '本年新制作数量'),
    ('2019', 'normative_documents', 2, '规范性文件', 'new_published', 2, '本年新公开数量'),
    ('2019', 'normative_documents', 2, '规范性文件', 'total_published', 3, '对外公开总数量'),
    ('2019', 'licensing', 3, '行政许可', 'previous_count', 1, '上一年项目数量'),
    ('2019', 'licensing', 3, '行政许可', 'change', 2, '本年增/减'),
    ('2019', 'licensing', 3, '行政许可', 'decisions', 3, '本年处理决定数量'),
    ('2019', 'other_services', 4, '其他对外管理服务事项', 'previous_count', 1, '上一年项目数量'),
    ('2019', 'other_services', 4, '其他对外管理服务事项', 'change', 2, '本年增/减'),
    ('2019', 'other_services', 4, '其他对外管理服务事项', 'decisions', 3, '本年处理决定数量'),
    ('2019', 'penalty', 5, '行政处罚', 'previous_count', 1, '上一年项目数量'),
    ('2019', 'penalty', 5, '行政处罚', 'change', 2, '本年增/减'),
    ('2019', 'penalty', 5, '行政处罚', 'decisions', 3, '本年处理决定数量'),
    ('2019', 'enforcement', 6, '行政强制', 'previous_count', 1, '上一年项目数量'),
    ('2019', 'enforcement', 6, '行政强制', 'change', 2, '本年增/减'),
    ('2019', 'enforcement', 6, '行政强制', 'decisions', 3, '本年处理决定数量'),
    ('2019', 'administrative_fees', 7, '行政事业性收费', 'previous_count', 1, '上一年项目数量'),
    ('2019', 'administrative_fees', 7, '行政事业性收费', 'change', 2, '本年增/减'),
    ('2019', 'government_procurement', 8, '政府集中采购', 'projects', 1, '采购项目数量'),
    ('2019', 'government_procurement', 8, '政府集中采购', 'amount', 2, '采购总金额'),
    ('2021', 'regulations', 1, '规章', 'issued', 1, '本年制发件数'),
    ('2021', 'regulations', 1, '规章', 'repealed', 2, '本年废止件数'),
    ('2021', 'regulations', 1, '规章', 'in_force', 3, '现行有效件数'),
    ('2021', 'normative_documents', 2, '行政规范性文件', 'issued', 1, '本年制发件数'),
    ('2021', 'normative_documents', 2, '行政规范性文件', 'repealed', 2, '本年废止件数'),
    ('2021', 'normative_documents', 2, '行政规范性文件', 'in_force', 3, '现行有效件数'),
    ('2021', 'licensing', 3, '行政许可', 'decisions', 1, '本年处理决定数量'),
    ('2021', 'penalty', 4, '行政处罚', 'decisions', 1, '本年处理决定数量'),
    ('2021', 'enforcement', 5, '行政强制', 'decisions', 1, '本年处理决定数量'),
    ('2021', 'administrative_fees', 6, '行政事业性收费', 'amount_10k_yuan', 1, '本年收费金额(单位:万元)')
) AS t("format_version", "item", "item_order", "item_label", "measure", "measure_order", "measure_label");

-- Table 4 groups in printed order.
CREATE OR REPLACE VIEW "review_groups" AS
SELECT * FROM (VALUES
    ('review', 1, '行政复议'),
    ('suit_direct', 2, '未经复议直接起诉'),
    ('suit_after_review', 3, '复议后起诉')
) AS t("group", "group_order", "label");

-- Administrative levels, top down.
CREATE OR REPLACE VIEW "admin_levels" AS
SELECT * FROM (VALUES
    ('central', 1),
    ('provincial', 2),
    ('prefectural', 3),
    ('county', 4),
    ('township', 5),
    ('unknown', 6)
) AS t("admin_level", "level_order");

-- report_timeliness: One row per report with a year (unsupported files aside): its published date against its deadline
-- in the next year: 31 March for a county-or-higher government, 31 January for every other organ (条例, 国务院令第711号).
-- on_time: published on or before it; late: after; undated: no date was read.
CREATE OR REPLACE VIEW "report_timeliness" AS
SELECT
    r.report_id, r.year, r.admin_level, CASE r.admin_level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label,
    r.organ, r.organ_kind, r.province, r.prefecture, r.division_code, r.source, r.published_date,
    CASE WHEN r.organ_kind = 'government' AND r.admin_level IN ('provincial', 'prefectural', 'county') THEN make_date(r.year + 1, 3, 31) ELSE make_date(r.year + 1, 1, 31) END AS deadline,
    CAST(CASE WHEN r.published_date > CASE WHEN r.organ_kind = 'government' AND r.admin_level IN ('provincial', 'prefectural', 'county') THEN make_date(r.year + 1, 3, 31) ELSE make_date(r.year + 1, 1, 31) END THEN r.published_date - CASE WHEN r.organ_kind = 'government' AND r.admin_level IN ('provincial', 'prefectural', 'county') THEN make_date(r.year + 1, 3, 31) ELSE make_date(r.year + 1, 1, 31) END WHEN r.published_date IS NOT NULL THEN 0 END AS INTEGER) AS days_late,
    CASE WHEN r.published_date IS NULL THEN 'undated' WHEN r.published_date <= CASE WHEN r.organ_kind = 'government' AND r.admin_level IN ('provincial', 'prefectural', 'county') THEN make_date(r.year + 1, 3, 31) ELSE make_date(r.year + 1, 1, 31) END THEN 'on_time' ELSE 'late' END AS timeliness,
    CASE WHEN r.published_date IS NULL THEN '未注明日期' WHEN r.published_date <= CASE WHEN r.organ_kind = 'government' AND r.admin_level IN ('provincial', 'prefectural', 'county') THEN make_date(r.year + 1, 3, 31) ELSE make_date(r.year + 1, 1, 31) END THEN '按时' ELSE '逾期' END AS timeliness_label
FROM reports AS r
WHERE r.year > 0 AND r.parse_status <> 'unsupported';

-- publisher_coverage: One row per expected publisher (a government of the division table) and report year the lake
-- holds: whether it published (a report whose organ resolved to that government: organ_kind government, same code and
-- level).
CREATE OR REPLACE VIEW "publisher_coverage" AS
WITH years AS (
    SELECT DISTINCT year FROM reports WHERE year > 0 AND parse_status <> 'unsupported'
), published AS (
    SELECT division_code, admin_level, year, count(*) AS reports, min(published_date) AS first_published_date
    FROM reports
    WHERE organ_kind = 'government' AND year > 0 AND parse_status <> 'unsupported' AND division_code IS NOT NULL
    GROUP BY division_code, admin_level, year
)
SELECT
    e.division_code, e.level AS admin_level, CASE e.level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label, e.name, e.government,
    e.province, e.prefecture, r.year,
    p.reports IS NOT NULL AS published, coalesce(p.reports, 0) AS reports, p.first_published_date,
    p.first_published_date <= make_date(r.year + 1, 3, 31) AS on_time
FROM expected_publishers AS e
CROSS JOIN years AS r
LEFT JOIN published AS p ON p.division_code = e.division_code AND p.admin_level = e.level AND p.year = r.year
WHERE (e.valid_from IS NULL OR r.year >= e.valid_from) AND (e.valid_to IS NULL OR r.year <= e.valid_to);

-- coverage_by_province: Coverage per report year, province and level: governments expected, those that published, the
-- share.
CREATE OR REPLACE VIEW "coverage_by_province" AS
SELECT
    year, province, admin_level, any_value(level_label) AS level_label, count(*) AS expected,
    count(*) FILTER (WHERE published) AS published, count(*) FILTER (WHERE on_time) AS on_time,
    CAST(count(*) FILTER (WHERE published) AS DOUBLE) / NULLIF(count(*), 0) AS coverage
FROM publisher_coverage
GROUP BY year, province, admin_level;

-- report_quality: One row per report with a year (unsupported files aside): complete (all three tables read) and
-- consistent (complete, and none of its own sum rules fails: applications_row_total_mismatch,
-- applications_column_identity_mismatch, applications_detail_sum_mismatch, review_litigation_total_mismatch).
CREATE OR REPLACE VIEW "report_quality" AS
WITH failures AS (
    SELECT report_id, count(*) AS n FROM findings WHERE rule IN ('applications_row_total_mismatch', 'applications_column_identity_mismatch', 'applications_detail_sum_mismatch', 'review_litigation_total_mismatch') GROUP BY report_id
)
SELECT
    r.report_id, r.year, r.admin_level, CASE r.admin_level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label, r.organ, r.province,
    r.division_code, r.source, r.parse_status,
    r.parse_status IN ('ok', 'flagged') AS complete,
    coalesce(f.n, 0) AS sum_rule_failures,
    r.parse_status IN ('ok', 'flagged') AND f.n IS NULL AS consistent
FROM reports AS r
LEFT JOIN failures AS f ON f.report_id = r.report_id
WHERE r.year > 0 AND r.parse_status <> 'unsupported';

-- indicators_by_province: Per report year, province and level: reports, and the shares that are complete, consistent,
-- on time, late.
CREATE OR REPLACE VIEW "indicators_by_province" AS
SELECT
    q.year, q.province, q.admin_level, any_value(q.level_label) AS level_label, count(*) AS reports,
    count(*) FILTER (WHERE q.complete) AS complete, count(*) FILTER (WHERE q.consistent) AS consistent,
    count(*) FILTER (WHERE t.timeliness = 'on_time') AS on_time, count(*) FILTER (WHERE t.timeliness = 'late') AS late,
    count(*) FILTER (WHERE t.timeliness = 'undated') AS undated,
    CAST(count(*) FILTER (WHERE q.complete) AS DOUBLE) / NULLIF(count(*), 0) AS complete_share,
    CAST(count(*) FILTER (WHERE q.consistent) AS DOUBLE) / NULLIF(count(*), 0) AS consistent_share,
    CAST(count(*) FILTER (WHERE t.timeliness = 'late') AS DOUBLE) / NULLIF(count(*) FILTER (WHERE t.timeliness <> 'undated'), 0) AS late_share
FROM report_quality AS q
JOIN report_timeliness AS t ON t.report_id = q.report_id
GROUP BY q.year, q.province, q.admin_level;

-- request_outcomes: Table 3 for charts: one row per report and table row, with the report's province and the row's
-- outcome category, reason and printed label (Chinese).
CREATE OR REPLACE VIEW "request_outcomes" AS
SELECT
    a.report_id, a.year, a.admin_level, CASE a.admin_level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label, r.province, r.organ,
    a.row_key, a.row_group, d.category, CASE d.category WHEN 'new_received' THEN '本年新收' WHEN 'carried_over' THEN '上年结转' WHEN 'granted' THEN '予以公开' WHEN 'partially_granted' THEN '部分公开' WHEN 'denied' THEN '不予公开' WHEN 'unavailable' THEN '无法提供' WHEN 'not_processed' THEN '不予处理' WHEN 'other' THEN '其他处理' WHEN 'total' THEN '总计' WHEN 'carried_forward' THEN '结转下年度' END AS category_label, d.reason, d.label,
    a.total AS requests
FROM applications AS a
JOIN reports AS r ON r.report_id = a.report_id
LEFT JOIN application_rows AS d ON d.format_version = a.format_version AND d.row_key = a.row_key;

-- review_outcomes: Table 4 for charts: one row per report and group, labelled, with the corrected share (纠错率 =
-- corrected / (upheld + corrected + other), null when nothing concluded).
CREATE OR REPLACE VIEW "review_outcomes" AS
SELECT
    l.report_id, l.year, l.admin_level, CASE l.admin_level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label, r.province,
    l."group", g.label AS group_label, l."upheld", l."corrected", l."other", l."pending", l."total",
    CAST(l.corrected AS DOUBLE) / NULLIF(l.upheld + l.corrected + l."other", 0) AS corrected_share
FROM review_litigation AS l
JOIN reports AS r ON r.report_id = l.report_id
LEFT JOIN review_groups AS g ON g."group" = l."group"
;

-- finding_details: Every finding, a report's own and the cross-year ones, with the report's organ, province and source
-- key (the object to open).
CREATE OR REPLACE VIEW "finding_details" AS
WITH f AS (
    SELECT *, 'report' AS scope FROM findings
    UNION ALL BY NAME
    SELECT *, 'cross_year' AS scope FROM cross_year_findings
)
SELECT
    f.report_id, f.year, f.admin_level, CASE f.admin_level WHEN 'central' THEN '中央' WHEN 'provincial' THEN '省级' WHEN 'prefectural' THEN '地市级' WHEN 'county' THEN '县级' WHEN 'township' THEN '乡镇级' WHEN 'unknown' THEN '未识别' END AS level_label, f.scope,
    CASE f.scope WHEN 'report' THEN '本报告' WHEN 'cross_year' THEN '跨年度' END AS scope_label, f.rule, f.severity, r.organ, r.province, r.division_code,
    f.source, r.url, f.field, f.expected, f.actual, f.message
FROM f
LEFT JOIN reports AS r ON r.report_id = f.report_id;
