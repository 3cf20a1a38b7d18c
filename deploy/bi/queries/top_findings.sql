-- Findings by rule: a report's own findings (scope report) and the cross-year ones (scope cross_year), with the
-- number of findings and of reports concerned.
SELECT rule, severity, scope, count(*) AS findings, count(DISTINCT report_id) AS reports
FROM (
    SELECT rule, severity, 'report' AS scope, report_id FROM findings
    UNION ALL
    SELECT rule, severity, 'cross_year' AS scope, report_id FROM cross_year_findings
)
GROUP BY rule, severity, scope
ORDER BY findings DESC, rule;
