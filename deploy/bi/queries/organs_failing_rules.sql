-- Organs whose reports fail the rules: per organ (division code + name as printed), the reports with at least one
-- finding of severity error, how many such findings, which rules, and in which years.
WITH failing AS (
    SELECT report_id, count(*) AS errors, list(DISTINCT rule) AS rules
    FROM findings
    WHERE severity = 'error'
    GROUP BY report_id
)
SELECT
    r.organ,
    r.division_code,
    any_value(r.admin_level) AS admin_level,
    count(*) AS failing_reports,
    sum(f.errors)::BIGINT AS errors,
    list_sort(list_distinct(flatten(list(f.rules)))) AS rules,
    list_sort(list(DISTINCT r.year)) AS years
FROM failing AS f
JOIN reports AS r USING (report_id)
GROUP BY r.organ, r.division_code
ORDER BY errors DESC, r.organ NULLS LAST, r.division_code NULLS LAST;
