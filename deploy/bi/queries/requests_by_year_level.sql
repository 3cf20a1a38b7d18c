-- Requests by report year and administrative level (table 3, column 总计, as printed): new this year (一),
-- carried over from the year before (二), handled this year (三(七)总计), carried forward (四); reports = reports
-- with a table 3. Files whose year is unknown (year = 0) are left out.
SELECT
    a.year,
    a.admin_level,
    count(DISTINCT a.report_id) AS reports,
    sum(a.total) FILTER (WHERE a.row_key = 'new_received')::BIGINT AS new_requests,
    sum(a.total) FILTER (WHERE a.row_key = 'carried_over')::BIGINT AS carried_over,
    sum(a.total) FILTER (WHERE a.row_key = 'total')::BIGINT AS handled,
    sum(a.total) FILTER (WHERE a.row_key = 'carried_forward')::BIGINT AS carried_forward
FROM applications AS a
JOIN admin_levels AS l USING (admin_level)
WHERE a.year > 0
GROUP BY a.year, a.admin_level, l.level_order
ORDER BY a.year, l.level_order;
