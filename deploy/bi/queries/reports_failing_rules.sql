-- Every report with at least one finding of severity error: where it is, who published it, and the rules it fails.
SELECT
    r.year,
    r.admin_level,
    r.organ,
    r.source,
    r.parse_status,
    count(*) AS errors,
    list_sort(list(DISTINCT f.rule)) AS rules
FROM findings AS f
JOIN reports AS r USING (report_id)
WHERE f.severity = 'error'
GROUP BY r.year, r.admin_level, r.organ, r.source, r.parse_status
ORDER BY r.year, r.admin_level, r.source;
