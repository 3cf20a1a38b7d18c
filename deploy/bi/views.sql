-- DuckDB views over the govreports lake: one view per table, plus lookup views from the national form.
-- Generated from schemas/ by `python -m tasks.bi --write-views` (make docs); do not edit by hand.
--
-- DuckDB CLI (the lake root is read when a view is queried, so set it in every session):
--   SET VARIABLE lake = '/srv/govreports/lake';      -- a local folder, no trailing slash
--   SET VARIABLE lake = 's3://bucket/lake';          -- S3: LOAD httpfs; CREATE SECRET (TYPE s3, …) first
--   .read deploy/bi/views.sql
--   .read deploy/bi/queries/requests_by_year_level.sql
-- A table with no object yet (no failures, say) reads as empty. tasks/bi.py `connect` creates the same views
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
