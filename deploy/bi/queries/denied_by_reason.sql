-- Why requests were denied (三(三) 不予公开), all years together: requests per reason with the printed label, and
-- the share of all denied requests.
SELECT
    r.reason,
    any_value(r.label) AS label,
    sum(a.total)::BIGINT AS requests,
    sum(a.total) / nullif(sum(sum(a.total)) OVER (), 0) AS share
FROM applications AS a
JOIN application_rows AS r USING (format_version, row_key)
WHERE r.category = 'denied' AND a.year > 0
GROUP BY r.reason
ORDER BY requests DESC, r.reason;
