-- Administrative review and litigation (table 4) per report year and group: outcomes as printed, and the share of
-- concluded cases in which the organ was corrected (纠错率 = 纠正 / (维持 + 纠正 + 其他)).
SELECT
    t.year,
    t."group",
    count(DISTINCT t.report_id) AS reports,
    sum(t.upheld)::BIGINT AS upheld,
    sum(t.corrected)::BIGINT AS corrected,
    sum(t.other)::BIGINT AS other,
    sum(t.pending)::BIGINT AS pending,
    sum(t.total)::BIGINT AS total,
    sum(t.corrected) / nullif(sum(t.upheld) + sum(t.corrected) + sum(t.other), 0) AS corrected_share
FROM review_litigation AS t
JOIN review_groups AS g USING ("group")
WHERE t.year > 0
GROUP BY t.year, t."group", g.group_order
ORDER BY t.year, g.group_order;
