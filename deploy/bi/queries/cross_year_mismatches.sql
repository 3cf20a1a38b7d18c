-- Reports that disagree with the same organ's report of the year before (warnings): carried_over_mismatch (二 of
-- year t ≠ 四 of year t−1, per column) and active_disclosure_in_force_mismatch (现行有效件数 continuity).
SELECT
    c.year,
    c.admin_level,
    r.organ,
    r.division_code,
    c.source,
    c.rule,
    c.field,
    c.expected,
    c.actual,
    c.message
FROM cross_year_findings AS c
JOIN reports AS r USING (report_id)
ORDER BY c.year, c.admin_level, c.source, c.rule, c.field;
