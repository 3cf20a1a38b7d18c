-- How requests were answered, per report year: requests handled in each outcome category (granted, partially
-- granted, denied, unavailable, not processed, other) and reason (the numbered sub-row: denied → state_secret, …),
-- with the share of the year's handled requests. Sum of the detail rows' 总计 column; blank cells count as nothing.
SELECT
    a.year,
    r.category,
    r.reason,
    sum(a.total)::BIGINT AS requests,
    sum(a.total) / nullif(sum(sum(a.total)) OVER (PARTITION BY a.year), 0) AS share
FROM applications AS a
JOIN application_rows AS r USING (format_version, row_key)
WHERE r.row_group = 'outcome' AND a.year > 0
GROUP BY a.year, r.category, r.category_order, r.reason
ORDER BY a.year, r.category_order, r.reason NULLS FIRST;
